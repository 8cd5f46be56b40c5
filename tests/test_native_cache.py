"""A planted native library is never loaded (issue 29, item 3). Compiled kernels are cached under names anyone
can compute; a library is loaded only from a folder that is this user's alone and only when the file is the
user's with the same modes. Here another user (or a group-writable folder) plants a library whose constructor
writes a marker file: the next process must rebuild instead of running it."""
import os
import shutil
import stat
import subprocess
import sys
import textwrap

import pytest

from gpunet.kernels import native

PLANT = r"""
#include <stdio.h>
#include <stdlib.h>
__attribute__((constructor)) static void planted(void) {
    FILE *f = fopen(getenv("PWN_MARKER"), "w");
    if (f) { fputs("pwned", f); fclose(f); }
}
"""

LOAD = textwrap.dedent("""
    import logging, sys
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    from gpunet.kernels import build, cpu as cpu_kernels
    lib = cpu_kernels.library()
    print("LIB", lib._name if lib is not None else None)
""")


def _cc():
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    return cc


def _load(home, marker):
    env = dict(os.environ, GPUNET_HOME=str(home), PWN_MARKER=str(marker), GPUNET_CPU_KERNELS="1")
    r = subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout.split("LIB ", 1)[1].strip(), r.stderr


def _plant(path, marker_dir):
    src = marker_dir / "plant.c"
    src.write_text(PLANT)
    tmp = marker_dir / "plant.so"
    subprocess.run([_cc(), "-shared", "-fPIC", "-o", str(tmp), str(src)], check=True)
    if os.path.lexists(path):
        os.remove(path)
    shutil.copyfile(tmp, path)


@pytest.fixture
def cached(tmp_path):
    """A cache holding the real CPU kernel library, built by a first process."""
    _cc()
    home = tmp_path / "home"
    path, _ = _load(home, tmp_path / "unused")
    if path == "None":
        pytest.skip("the CPU kernel library does not build here")
    return home, path


def _how(kind, path, tmp_path):
    if kind == "group-writable folder":
        _plant(path, tmp_path)
        os.chmod(os.path.dirname(path), 0o777)
    elif kind == "writable library":
        _plant(path, tmp_path)
        os.chmod(path, 0o666)
    elif kind == "symlink":
        target = tmp_path / "elsewhere.so"
        _plant(str(target), tmp_path)
        os.remove(path)
        os.symlink(target, path)
    elif kind == "another user's library":
        if os.geteuid() != 0:
            pytest.skip("needs root to make a file another user's")
        _plant(path, tmp_path)
        os.chown(path, 65534, 65534)
        os.chmod(path, 0o755)
    elif kind == "writable cache root's parent":
        _plant(path, tmp_path)
        os.chmod(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(path)))), 0o777)


@pytest.mark.parametrize("kind", ["group-writable folder", "writable library", "symlink", "another user's library",
                                  "writable cache root's parent"])
def test_a_planted_library_is_never_loaded(cached, tmp_path, kind):
    home, path = cached
    marker = tmp_path / "PWNED"
    _how(kind, path, tmp_path)
    loaded, log = _load(home, marker)
    assert not marker.exists(), "the planted library ran (%s)" % kind
    assert loaded != "None"
    if kind in ("group-writable folder", "writable cache root's parent"):
        assert loaded != path and "not using the kernel cache" in log and "writable by others" in log
    else:  # the folder is private: the library is rebuilt over the planted one, and is the user's alone
        st = os.lstat(loaded)
        assert loaded == path and stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def test_the_cache_is_created_private_and_reused(cached):
    home, path = cached
    for d in (home, home / "cache", home / "cache" / "cpu"):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    mtime = os.stat(path).st_mtime_ns
    again, _ = _load(home, home / "unused")
    assert again == path and os.stat(path).st_mtime_ns == mtime  # a private cache is used, not rebuilt


def test_the_emulated_tier_builds_through_the_same_rule(tmp_path, monkeypatch):
    """emulated.build compiles through native.build (kind "emulated"); a planted file there is rebuilt over."""
    cc = _cc()
    monkeypatch.setenv("GPUNET_HOME", str(tmp_path / "home"))
    src = tmp_path / "k.c"
    src.write_text("int answer(void) { return 42; }\n")

    def build():
        return native.build("emulated", "k", src.read_text(), lambda out: [cc, "-shared", "-fPIC", "-o", out, str(src)])
    path = build()
    _plant(path, tmp_path)
    os.chmod(path, 0o646)
    rebuilt = build()
    import ctypes
    assert rebuilt == path and ctypes.CDLL(rebuilt).answer() == 42
    assert not (tmp_path / "PWNED").exists()
    from gpunet.kernels import build, emulated
    calls = []
    monkeypatch.setattr(native, "build", lambda kind, *a, **k: calls.append(kind) or "x.so")
    monkeypatch.setattr(emulated, "hip_cpu_dir", lambda: tmp_path)
    monkeypatch.setattr(emulated, "compiler", lambda: cc)
    from gpunet.kernels import build
    emulated.build(build.kernel_dir() / "dense.cu")
    assert calls == ["emulated"]
