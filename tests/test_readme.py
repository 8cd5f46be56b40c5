"""Every code block of the README is run or checked here, so a README that drifts from the code fails CI. A new
block that this file does not know fails too: add how it is checked."""
import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def blocks():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    return re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)


def _cli_args(line):
    """The gpunet command line of a shell line: its arguments after `gpunet` (or after the image name)."""
    words = shlex.split(line.split("#")[0])
    if "gpunet" in words:
        return words[words.index("gpunet") + 1:]
    return None


def _parses(args):
    from gpunet import cli
    try:
        cli.parser().parse_args(args)
    except SystemExit as e:
        pytest.fail("README's `gpunet %s` does not parse (exit %s)" % (" ".join(args), e.code))


def _check_shell(code):
    for line in code.strip().splitlines():
        if line.startswith("pip install"):
            spec = re.search(r'pip install (?:-e )?"?\.(\[[\w,]+\])?"?', line)
            assert spec, line
            if spec.group(1):
                tomllib = pytest.importorskip("tomllib")  # Python 3.11+
                extras = tomllib.load(open(os.path.join(ROOT, "pyproject.toml"), "rb"))["project"][
                    "optional-dependencies"]
                for extra in spec.group(1).strip("[]").split(","):
                    assert extra in extras, "README installs the extra %r that pyproject.toml lacks" % extra
            rest = line.split("&&", 1)[1].strip() if "&&" in line else ""
            if rest.startswith("gpunet"):
                _parses(_cli_args(rest))
            elif rest:
                assert rest == "python -m pytest", rest  # the test command, run by .ci/run as written
        elif line.startswith("docker build"):
            assert os.path.isfile(os.path.join(ROOT, "Dockerfile"))
        elif line.startswith("docker run"):
            words = shlex.split(line.split("#")[0])
            after = words[words.index("gpunet") + 1:] or ["train", "mnist"]  # the image's CMD
            _parses(after)
        elif line.startswith("gpunet"):
            _parses(_cli_args(line))
        elif line.startswith(("mpirun", "torchrun")):
            assert "train.py" in line  # a user's script: the launch itself is tested in test_distribution.py
        else:
            pytest.fail("README shell line not checked by tests/test_readme.py: %r" % line)


QUICKSTART_EPOCHS = 1  # the README trains 5 epochs; one proves the script (test_train_fashion_mnist checks accuracy)


def test_every_readme_block_is_known():
    kinds = [(lang, code.splitlines()[0] if code.strip() else "") for lang, code in blocks()]
    assert all(lang in ("python", "sh") for lang, _ in kinds), kinds


@pytest.mark.parametrize("index", range(len(blocks())))
def test_readme_block(index, data_dir, tmp_path):
    lang, code = blocks()[index]
    if lang == "sh":
        return _check_shell(code)
    if "set_distribution" in code:  # a fragment: the model and data come from the user's script
        prelude = ("import numpy as np\nimport gpunet as keras\nx_train = np.random.rand(128, 4).astype('float32')\n"
                   "y_train = np.random.rand(128, 1).astype('float32')\nmodel = keras.Sequential([keras.Input((4,)), "
                   "keras.layers.Dense(1)])\nmodel.compile('sgd', 'mse')\n")
        script = prelude + code.replace("epochs=5", "epochs=1, verbose=0")
    else:
        assert "epochs=5" in code
        script = code.replace("epochs=5", "epochs=%d" % QUICKSTART_EPOCHS)
    path = tmp_path / "block.py"
    path.write_text(script)
    env = dict(os.environ, PYTHONPATH=ROOT, GPUNET_DATA_DIR=data_dir)
    r = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=600, env=env,
                       cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
