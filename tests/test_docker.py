"""The Dockerfile, built with buildah and smoke-tested inside the image (tests/docker/build_and_smoke.sh).
Takes minutes and needs root and the network: opt in with GPUNET_DOCKER_TEST=1."""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_dockerfile_declares_what_the_readme_promises():
    text = open(os.path.join(ROOT, "Dockerfile")).read()
    import re
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.M).group(1)
    # fully qualified: a registry host (with a dot), the repository and a tag, as buildah and podman demand
    assert re.fullmatch(r"[a-z0-9.-]+\.[a-z]+/nvidia/cuda:12[\w.-]*-runtime-[\w.-]+", base), base
    assert "COPY pyproject.toml README.md LICENSE /src/" in text  # pyproject's license-files names LICENSE
    assert 'pip install /src "cupy-cuda12x>=14"' in text and 'ENTRYPOINT ["gpunet"]' in text and 'CMD ["train", "mnist"]' in text
    assert "USER gpunet" in text and 'VOLUME ["/data"]' in text and "CUPY_CACHE_DIR=/data" in text
    ignore = open(os.path.join(ROOT, ".dockerignore")).read().split()
    assert ".git" in ignore and "tests" in ignore


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("GPUNET_DOCKER_TEST") != "1", reason="set GPUNET_DOCKER_TEST=1 (root, network, minutes)")
def test_build_and_smoke(tmp_path):
    log = tmp_path / "docker.log"
    r = subprocess.run(["bash", os.path.join(ROOT, "tests", "docker", "build_and_smoke.sh"), str(log)],
                       capture_output=True, text=True, timeout=1800, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    text = log.read_text()
    assert "backend:" in text and "test accuracy:" in text and "smoke passed" in text
