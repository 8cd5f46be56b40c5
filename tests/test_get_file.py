"""keras.utils.get_file against a local HTTP server on 127.0.0.1 (issue 29, items 4-7 and 13): safe extraction,
whole downloads only, one complete folder under concurrency, no stale temp files, hashes and names checked, no
password in a message."""
import hashlib
import http.server
import io
import os
import signal
import stat
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
import zipfile

import pytest

import gpunet
from gpunet.datasets import fashion_mnist
from gpunet.datasets._files import DatasetError

get_file = gpunet.utils.get_file


class _Site(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _Short(http.server.BaseHTTPRequestHandler):
    """Announces 2 MiB, sends 1 MiB, closes."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(2 << 20))
        self.end_headers()
        self.wfile.write(b"x" * (1 << 20))
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


class Server:
    def __init__(self, directory=None, handler=None):
        h = handler or (lambda *a, **k: _Site(*a, directory=str(directory), **k))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), h)
        self.url = "http://127.0.0.1:%d/" % self.httpd.server_address[1]

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _member(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, uid=None):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size = kind, mode, len(data) if kind == tarfile.REGTYPE else 0
    if kind == tarfile.CHRTYPE:
        info.devmajor, info.devminor = 1, 3  # /dev/null's numbers
    if uid is not None:
        info.uid, info.gid, info.uname, info.gname = uid, uid, "someone", "someone"
    return info, (io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def _tar(path, members):
    with tarfile.open(path, "w:gz") as t:
        for info, data in members:
            t.addfile(info, data)


# ---- item 4: extraction ----

@pytest.mark.parametrize("special", [tarfile.CHRTYPE, tarfile.FIFOTYPE], ids=["device node", "FIFO"])
def test_tar_special_files_are_refused_and_nothing_is_extracted(tmp_path, special):
    site = tmp_path / "site"
    site.mkdir()
    _tar(site / "pack.tar.gz", [_member("pack/ok.txt", data=b"fine"), _member("pack/evil", special)])
    with Server(site) as srv:
        with pytest.raises(ValueError, match=r"pack.tar.gz: 'pack/evil' is a special file: refused \(only regular "
                                             r"files, folders and links inside the archive are extracted\); nothing "
                                             r"was extracted"):
            get_file("pack.tar.gz", srv.url + "pack.tar.gz", extract=True, cache_dir=str(tmp_path / "c"))
    datadir = tmp_path / "c" / "datasets"
    assert not (datadir / "pack_extracted").exists()
    assert [n for n in os.listdir(datadir) if "extract-" in n] == []


def test_tar_modes_are_normalised_and_owners_are_the_user(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _tar(site / "pack.tar.gz", [_member("pack/open", tarfile.DIRTYPE, mode=0o777, uid=4321),
                                _member("pack/open/setuid", data=b"#!/bin/sh\n", mode=0o4777, uid=4321)])
    with Server(site) as srv:
        d = get_file("pack.tar.gz", srv.url + "pack.tar.gz", extract=True, cache_dir=str(tmp_path / "c"))
    assert d == str(tmp_path / "c" / "datasets" / "pack_extracted")
    f = os.stat(os.path.join(d, "pack", "open", "setuid"))
    folder = os.stat(os.path.join(d, "pack", "open"))
    assert not f.st_mode & 0o7000 and not f.st_mode & 0o022  # no setuid bit, no group/other write
    assert not folder.st_mode & 0o022
    assert f.st_uid == os.geteuid() and folder.st_uid == os.geteuid()


@pytest.mark.parametrize("name,mode", [("pack/link", stat.S_IFLNK | 0o777), ("../evil.txt", stat.S_IFREG | 0o644),
                                       ("/tmp/gpunet-evil.txt", stat.S_IFREG | 0o644)],
                         ids=["symlink", "dotdot", "absolute"])
def test_zip_symlinks_and_paths_out_of_the_folder_are_refused(tmp_path, name, mode):
    site = tmp_path / "site"
    site.mkdir()
    with zipfile.ZipFile(site / "pack.zip", "w") as z:
        z.writestr("pack/ok.txt", b"fine")
        info = zipfile.ZipInfo(name)
        info.external_attr = mode << 16
        z.writestr(info, b"/etc/passwd")
    with Server(site) as srv:
        with pytest.raises(ValueError, match="refused.*; nothing was extracted"):
            get_file("pack.zip", srv.url + "pack.zip", extract=True, cache_dir=str(tmp_path / "c"))
    assert not (tmp_path / "c" / "datasets" / "pack_extracted").exists()
    assert not os.path.exists("/tmp/gpunet-evil.txt") and not (tmp_path / "c" / "evil.txt").exists()


# ---- item 5: a download cut short is never cached ----

def test_a_download_shorter_than_announced_is_refused_and_not_cached(tmp_path):
    with Server(handler=_Short) as srv:
        for _ in range(2):  # the second call tries again: nothing was cached by the first
            with pytest.raises(Exception, match=r"URL fetch failure on .*(cut short: 1048576 of the 2097152 bytes the "
                                                r"server announced arrived|IncompleteRead)"):
                get_file("big.bin", srv.url + "big.bin", cache_dir=str(tmp_path / "c"))
    assert os.listdir(tmp_path / "c" / "datasets") == []


# ---- item 6: concurrent extraction ----

CONCURRENT = textwrap.dedent("""
    import os, sys
    import gpunet
    d = gpunet.utils.get_file("pack.tar.gz", sys.argv[1], extract=True, cache_dir=sys.argv[2])
    n = sum(len(files) for _, _, files in os.walk(d))
    print("FILES", n)
""")


def test_concurrent_extractions_each_see_one_complete_folder(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _tar(site / "pack.tar.gz", [_member("pack/f%02d.bin" % i, data=os.urandom(200_000)) for i in range(40)])
    cache = str(tmp_path / "c")
    with Server(site) as srv:
        for _ in range(2):  # a cold cache, then a warm one
            procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, srv.url + "pack.tar.gz", cache],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
            outs = [p.communicate(timeout=300) for p in procs]
            assert [p.returncode for p in procs] == [0, 0, 0], [o[1][-1500:] for o in outs]
            assert [o[0].split()[-1] for o in outs] == ["40", "40", "40"]
    datadir = tmp_path / "c" / "datasets"
    assert sorted(n for n in os.listdir(datadir) if not n.startswith(".")) == ["pack.tar.gz", "pack_extracted"]
    assert [n for n in os.listdir(datadir) if "extract-" in n or "download-" in n] == []


# ---- item 7 ----

def test_a_killed_download_leaves_nothing_behind(tmp_path):
    from test_hardening_data import _Trickle as Slow  # 2 KB/s of a 1 MB file: still downloading when killed
    cache = tmp_path / "c"
    datadir = cache / "datasets"
    code = "import gpunet, sys; gpunet.utils.get_file('big.bin', sys.argv[1], cache_dir=sys.argv[2])"
    with Server(handler=Slow) as srv:
        p = subprocess.Popen([sys.executable, "-c", code, srv.url + "big.bin", str(cache)], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (datadir.exists() and any(".download-" in n for n in
                                                                              os.listdir(datadir))):
            time.sleep(0.05)
        time.sleep(0.3)
        p.send_signal(signal.SIGKILL)
        p.wait()
        assert any(".download-" in n for n in os.listdir(datadir))  # what the killed process left
    site = tmp_path / "site"
    site.mkdir()
    (site / "small.txt").write_bytes(b"ok")
    with Server(site) as srv:
        get_file("small.txt", srv.url + "small.txt", cache_dir=str(cache))
        get_file("big.bin", srv.url + "small.txt", cache_dir=str(cache))  # the same name: its stale temp goes
    assert sorted(os.listdir(datadir)) == ["big.bin", "small.txt"]


def test_a_planted_extracted_folder_is_replaced_by_the_archive(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _tar(site / "pack.tar.gz", [_member("real.txt", data=b"from the archive")])
    cache = tmp_path / "c"
    with Server(site) as srv:
        get_file("pack.tar.gz", srv.url + "pack.tar.gz", cache_dir=str(cache))  # the archive only
        planted = cache / "datasets" / "pack_extracted"
        planted.mkdir()
        (planted / "planted.txt").write_text("not from the archive")
        d = get_file("pack.tar.gz", srv.url + "pack.tar.gz", extract=True, cache_dir=str(cache))
        assert sorted(os.listdir(d)) == ["real.txt"]
        (planted / "later.txt").write_text("added by hand")
        assert get_file("pack.tar.gz", srv.url + "pack.tar.gz", extract=True, cache_dir=str(cache)) == d
        assert "later.txt" in os.listdir(d)  # a recorded extraction of this archive is reused, not redone


def test_hash_algorithms_and_lengths(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "data.txt").write_bytes(b"hello gpunet")
    sha512 = hashlib.sha512(b"hello gpunet").hexdigest()
    with Server(site) as srv:
        url = srv.url + "data.txt"
        for algo in ("sha512", "auto"):
            p = get_file("a-%s.txt" % algo, url, file_hash=sha512, hash_algorithm=algo, cache_dir=str(tmp_path / "c"))
            assert open(p, "rb").read() == b"hello gpunet"
        with pytest.raises(ValueError, match="The sha512 file hash does not match"):
            get_file("b.txt", url, file_hash="0" * 128, cache_dir=str(tmp_path / "c"))
        with pytest.raises(ValueError, match="hash_algorithm must be 'auto', 'md5', 'sha1', 'sha256', 'sha512'; "
                                             "received 'sha3'"):
            get_file("c.txt", url, file_hash=sha512, hash_algorithm="sha3", cache_dir=str(tmp_path / "c"))
        with pytest.raises(ValueError, match=r"file_hash has 32 hex digits, but a sha256 digest has 64"):
            get_file("d.txt", url, file_hash=hashlib.md5(b"x").hexdigest(), hash_algorithm="sha256",
                     cache_dir=str(tmp_path / "c"))
        with pytest.raises(ValueError, match="file_hash has 50 hex digits, which is no known digest"):
            get_file("e.txt", url, file_hash="a" * 50, cache_dir=str(tmp_path / "c"))


@pytest.mark.parametrize("origin", ["http://127.0.0.1:9/files/..", "http://127.0.0.1:9/."])
def test_an_origin_ending_in_dot_dot_is_not_a_file_name(tmp_path, origin):
    with pytest.raises(ValueError, match="is not a file name .*pass fname= explicitly"):
        get_file(origin=origin, cache_dir=str(tmp_path / "c"))


# ---- item 13: the stall window and passwords ----

def test_an_infinite_stall_window_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUNET_DOWNLOAD_STALL_S", "inf")
    with pytest.raises(Exception, match=r"GPUNET_DOWNLOAD_STALL_S must be a positive number of seconds, received "
                                        r"'inf' \(a finite number up to 1000000\)"):
        get_file("x.txt", "http://127.0.0.1:9/x.txt", cache_dir=str(tmp_path / "c"))
    monkeypatch.setenv("GPUNET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GPUNET_DATA_DIR", str(tmp_path / "nothing"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("GPUNET_DATASETS_URL", "http://127.0.0.1:9/")
    with pytest.raises(DatasetError, match="GPUNET_DOWNLOAD_STALL_S must be a positive number of seconds"):
        fashion_mnist.load_data(split="test")


def test_a_password_in_a_url_is_never_printed(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("GPUNET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GPUNET_DATA_DIR", str(tmp_path / "nothing"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr("gpunet.datasets._files.search_dirs", lambda folder: [])
    monkeypatch.setenv("GPUNET_DATASETS_URL", "http://mirror-user:s3cret-pw@127.0.0.1:9/data/")
    with pytest.raises(DatasetError) as e:
        fashion_mnist.load_data(split="test")
    with pytest.raises(Exception) as e2:
        get_file("x.txt", "http://me:s3cret-pw@127.0.0.1:9/x.txt", cache_dir=str(tmp_path / "c"))
    monkeypatch.setenv("GPUNET_DATASETS_URL", "gopher://u:s3cret-pw@host/")
    with pytest.raises(DatasetError) as e3:
        fashion_mnist.load_data(split="test")
    printed = str(e.value) + str(e2.value) + str(e3.value) + "".join(capfd.readouterr())
    assert "s3cret-pw" not in printed
    assert "mirror-user:***@127.0.0.1:9" in str(e.value) and "me:***@127.0.0.1:9" in str(e2.value)
