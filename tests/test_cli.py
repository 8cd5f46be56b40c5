import json
import os
import subprocess
import sys


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def gpunet_cmd(*args, **env):
    e = dict(os.environ, PYTHONPATH=ROOT)
    e.update(env)
    return subprocess.run([sys.executable, "-m", "gpunet", *args], capture_output=True, text=True, env=e,
                          timeout=600)


def test_info_json():
    r = gpunet_cmd("info", "--json", "--backend", "numpy")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["backend"] == "numpy" and "forced" in info["reason"]
    assert set(info["kernel_files"]) >= {"dense.cu", "softmax_xent.cu", "optim.cu"}
    if isinstance(info["kernels_compile"], dict):
        assert all(v.startswith("ok") for v in info["kernels_compile"].values())


def test_train_fashion_mnist_one_epoch(data_dir):
    r = gpunet_cmd("train", "fashion_mnist", "--epochs", "1", "--seed", "1", GPUNET_DATA_DIR=data_dir)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "1875/1875 ━━━━━━━━━━━━━━━━━━━━" in r.stdout
    acc = float(lines[-1].split("test accuracy:")[1].split()[0])
    assert acc > 0.80


def test_usage_and_data_errors(tmp_path):
    r = gpunet_cmd()
    assert r.returncode == 2
    r = gpunet_cmd("train", "cifar")
    assert r.returncode == 2 and "invalid choice" in r.stderr
    r = gpunet_cmd("train", "fashion_mnist", "--epochs", "0")
    assert r.returncode == 2
    r = gpunet_cmd("train", "mnist", "--data", str(tmp_path), GPUNET_HOME=str(tmp_path))
    assert r.returncode == 3 and "no complete mnist copy" in r.stderr
    last = r.stderr.rstrip().splitlines()[-1]  # the error ends with how to point it at local files
    assert last.startswith("gpunet train: to use local files") and "--data DIR" in last and "GPUNET_DATA_DIR" in last
    assert "MNIST's training set is missing" in r.stderr


def test_version_and_help_describe_every_option():
    from gpunet import __version__
    r = gpunet_cmd("--version")
    assert r.returncode == 0 and r.stdout.strip() == "gpunet %s" % __version__
    import argparse
    from gpunet import cli
    subparsers = [a for a in cli.parser()._actions if isinstance(a, argparse._SubParsersAction)][0]
    assert sorted(subparsers.choices) == ["bench", "info", "train"]
    for name, sub in subparsers.choices.items():
        assert sub.description, name
        text = sub.format_help()
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, "%s %s has no help" % (name, action.dest)
            if action.default not in (None, False):
                assert "(default: %s)" % action.default in " ".join(text.split()), (name, action.dest)


def test_progress_bar_decides_per_process_whether_it_draws_in_place(monkeypatch):
    from gpunet.common import progbar

    class Tty:
        def isatty(self):
            return True

    for var in ("GPUNET_PROGRESS_TTY", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"):
        monkeypatch.delenv(var, raising=False)
    assert progbar.is_terminal(Tty()) and not progbar.is_terminal(object())
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")  # a rank: its pty is Open MPI's, not the user's terminal
    assert not progbar.Progbar(10, stream=Tty()).dynamic
    monkeypatch.setenv("GPUNET_PROGRESS_TTY", "1")  # mpirun's output is a terminal (gpunet train --processes)
    assert progbar.Progbar(10, stream=Tty()).dynamic
    monkeypatch.setenv("GPUNET_PROGRESS_TTY", "0")
    monkeypatch.delenv("OMPI_COMM_WORLD_SIZE")
    assert not progbar.Progbar(10, stream=Tty()).dynamic


def test_processes_tell_the_ranks_whether_the_output_is_a_terminal(monkeypatch, capsys):
    from gpunet import cli
    got = {}
    monkeypatch.setattr(cli, "_mpirun", lambda: "/bin/true")
    monkeypatch.setattr(subprocess, "call", lambda cmd, env: got.update(env) or 0)
    monkeypatch.delenv("GPUNET_PROGRESS_TTY", raising=False)
    for var in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"):
        monkeypatch.delenv(var, raising=False)
    assert cli.main(["train", "fashion_mnist", "--processes", "2"]) == 0
    assert got["GPUNET_PROGRESS_TTY"] == "0"  # pytest's stdout is not a terminal
