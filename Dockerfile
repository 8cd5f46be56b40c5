# gpunet on a CUDA 12 runtime: `docker run --gpus all gpunet` trains MNIST on the GPU; without a GPU
# the same image falls back to NumPy on the CPU. Datasets and kernel caches live under /data.
# fully qualified (registry/name:tag): buildah and podman refuse a short name unless a registry search list is set
ARG BASE_IMAGE=docker.io/nvidia/cuda:12.6.3-runtime-ubuntu24.04
FROM ${BASE_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1

# Python from the distribution, only when the base image lacks it; no compiler stays behind.
RUN if ! python3 -m venv --help >/dev/null 2>&1; then \
        apt-get update && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi

COPY pyproject.toml README.md LICENSE /src/
COPY gpunet /src/gpunet
COPY kernels /src/kernels
# CuPy without its `ctk` extra: the CUDA runtime base image already holds the toolkit's libraries (NVRTC, cuBLAS,
# ...), and the extra would add about 2 GB of the same libraries as wheels
RUN python3 -m venv /opt/gpunet \
    && /opt/gpunet/bin/pip install /src "cupy-cuda12x>=14" \
    && rm -rf /src /root/.cache

RUN (getent passwd gpunet >/dev/null || useradd --create-home --uid 10001 gpunet) \
    && mkdir -p /data && chown gpunet /data

# /data/gpunet/datasets: downloaded datasets; /data/cupy: CuPy's compiled-kernel cache;
# /data/gpunet/cache: the CPU optimizer kernel (built only where a C compiler exists).
ENV PATH=/opt/gpunet/bin:$PATH \
    GPUNET_HOME=/data/gpunet \
    KERAS_HOME=/data/keras \
    CUPY_CACHE_DIR=/data/cupy
VOLUME ["/data"]
USER gpunet
WORKDIR /home/gpunet
ENTRYPOINT ["gpunet"]
CMD ["train", "mnist"]
