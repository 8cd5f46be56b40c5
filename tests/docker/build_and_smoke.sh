#!/usr/bin/env bash
# Builds the real Dockerfile without a Docker engine (buildah, chroot isolation) on a locally made
# Debian base with Python 3 instead of the CUDA base, then runs `gpunet info` and a 1-epoch CPU
# training inside the built image. It proves the Dockerfile's steps, the package install, the
# non-root user, the entrypoint and the CPU fallback; it cannot prove the CUDA base image itself
# or a GPU run (no GPU or NVIDIA container runtime here).
#   usage: tests/docker/build_and_smoke.sh [LOG]     (needs root; installs buildah/podman/debootstrap)
set -euo pipefail
cd "$(dirname "$0")/../.."
LOG=${1:-bench/results/docker_smoke.log}
DATA=${GPUNET_DATA_DIR:-../shared/datasets}
DATA=$(cd "$DATA" && pwd)
mkdir -p "$(dirname "$LOG")"
exec > >(tee "$LOG") 2>&1
echo "# docker smoke $(date -u +%FT%TZ) on $(uname -m), commit $(git rev-parse --short HEAD 2>/dev/null || echo none)"

need=""
for t in buildah podman debootstrap; do command -v $t >/dev/null || need="$need $t"; done
if [ -n "$need" ]; then apt-get update -qq && apt-get install -y -qq $need >/dev/null; fi

work=$(mktemp -d)
trap 'buildah rm gpunet-smoke >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
mirror=$( (grep -rh '^URIs:' /etc/apt/sources.list.d 2>/dev/null | awk '{print $2}';
           grep -rhE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d 2>/dev/null | awk '{print $2}') |
         grep -E '/debian/?$' | head -1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
if ! podman image exists localhost/gpunet-testbase; then
  echo "+ debootstrap bookworm (minbase + python3) from $mirror"
  debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates \
    bookworm "$work/rootfs" "$mirror" >/dev/null
  tar -C "$work/rootfs" -c . | podman import - localhost/gpunet-testbase >/dev/null
fi

echo "+ buildah bud (Dockerfile, BASE_IMAGE=localhost/gpunet-testbase)"
t0=$(date +%s)
buildah bud --isolation chroot -v /etc/ssl/certs:/etc/ssl/certs:ro \
  --build-arg BASE_IMAGE=localhost/gpunet-testbase -t gpunet:test . 2>&1 | tail -5
echo "build seconds: $(( $(date +%s) - t0 ))"
echo "image size: $(buildah images --format '{{.Size}}' localhost/gpunet:test | head -1)"
echo "base size:  $(buildah images --format '{{.Size}}' localhost/gpunet-testbase | head -1)"

buildah from --name gpunet-smoke localhost/gpunet:test >/dev/null
echo "+ entrypoint/cmd: $(buildah inspect --format '{{.OCIv1.Config.Entrypoint}} {{.OCIv1.Config.Cmd}} user={{.OCIv1.Config.User}}' gpunet:test)"
echo "+ gpunet info (inside the image)"
buildah run --isolation chroot gpunet-smoke -- gpunet info
echo "+ gpunet train fashion_mnist --epochs 1 (inside the image, CPU fallback)"
buildah run --isolation chroot -v "$DATA:/data/gpunet/datasets:ro" gpunet-smoke -- \
  gpunet train fashion_mnist --epochs 1 --verbose 2
echo "+ smoke passed"
