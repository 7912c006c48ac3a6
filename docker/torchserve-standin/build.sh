#!/usr/bin/env bash
# Builds a LOCAL stand-in for the official TorchServe CPU base image (pytorch/torchserve),
# for machines where no image registry is reachable (offline or mirrored networks, CI here).
#
# What it holds, like the official image: Java 17, Python 3.11, a venv at /home/venv on
# PATH with the lock's torchserve / torch-model-archiver / torch (CPU), the non-root user
# model-server (uid 1000) with home /home/model-server and model-store/ + tmp/ under it.
# Unlike the official image it ships the lock's torch, so the served TorchScript file and
# the server's runtime are the same version (issue 17, item 5).
#
# How: debootstrap a Debian root file system from the host's package mirror, pip-install
# wheels the HOST downloads (from its own index / find-links) into a venv inside it via
# chroot, then `docker import` it. No RUN step and no container needs network access.
#
# Content-addressed: the tag is a hash of this script and the pinned versions it installs,
# so a second run finds the image and does nothing. Prints the tag on its last line.
#   usage: build.sh [--print-tag]     (env: DEBIAN_MIRROR, DEBIAN_SUITE, BASE_REPO)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
lock="$root/requirements.lock"
suite="${DEBIAN_SUITE:-bookworm}"   # bookworm's python3 is 3.11, like the lock's wheels
mirror="${DEBIAN_MIRROR:-}"
repo="${BASE_REPO:-deploy-compare/torchserve-base}"

# Python packages for the server's venv: the lock's pins (torch's closure + TorchServe's).
# onnxruntime and its own (flatbuffers, protobuf; numpy, packaging, sympy above): the handler
# serves the ONNX files through it (`[run] serve` pairs torchserve with onnx). The official
# image has no onnxruntime: a Dockerfile on it would need `pip install onnxruntime==<lock pin>`.
names=(torch torchserve torch-model-archiver numpy filelock typing_extensions sympy mpmath networkx
       Jinja2 MarkupSafe fsspec psutil packaging pillow PyYAML enum-compat onnxruntime flatbuffers protobuf)
pins=()
for n in "${names[@]}"; do
  line="$(grep -i -E "^${n}==" "$lock" || true)"
  [ -n "$line" ] || { echo "build.sh: $n is not pinned in $lock" >&2; exit 2; }
  pins+=("${line%%[[:space:]]*}")
done
pins+=("wheel==0.45.1" "setuptools==75.8.0")  # torchserve needs both at run time; not in the lock

tag="$repo:standin-$( (cat "$0"; printf '%s\n' "$suite" "${pins[@]}") | sha256sum | cut -c1-12)"
if [ "${1:-}" = "--print-tag" ]; then echo "$tag"; exit 0; fi
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "stand-in base exists: $tag"; echo "$tag"; exit 0
fi
[ "$(id -u)" = 0 ] || { echo "build.sh: debootstrap and chroot need root" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "build.sh: install debootstrap (apt-get install debootstrap)" >&2; exit 2; }

if [ -z "$mirror" ]; then  # the host's own Debian mirror (deb822 or one-line sources)
  mirror="$(grep -h -o -E 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | head -1 | tr -d ' ' || true)"
  mirror="${mirror:-http://deb.debian.org/debian}"
fi

work="$(mktemp -d /tmp/deploy-compare-standin.XXXXXX)"
rootfs="$work/rootfs"
cleanup() {
  for m in proc dev; do mountpoint -q "$rootfs/$m" 2>/dev/null && umount -l "$rootfs/$m" || true; done
  rm -rf "$work"
}
trap cleanup EXIT

t0=$(date +%s)
echo "stand-in: debootstrap $suite from $mirror"
debootstrap --variant=minbase \
  --include=python3,python3-venv,openjdk-17-jre-headless,ca-certificates \
  "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -30 "$work/debootstrap.log" >&2; exit 1; }
echo "stand-in: debootstrap took $(( $(date +%s) - t0 ))s"

echo "stand-in: downloading wheels on the host: ${pins[*]}"
mkdir -p "$rootfs/tmp/wheels"
python3 -m pip download --quiet --no-deps --only-binary :all: -d "$rootfs/tmp/wheels" "${pins[@]}" \
  >"$work/pip.log" 2>&1 || { tail -30 "$work/pip.log" >&2; exit 1; }

mount -t proc proc "$rootfs/proc"
chroot "$rootfs" /bin/sh -e -c '
  useradd --create-home --home-dir /home/model-server --uid 1000 --shell /bin/bash model-server
  python3 -m venv /home/venv
  /home/venv/bin/pip install --quiet --no-index --no-deps --no-compile /tmp/wheels/*.whl
  /home/venv/bin/python -c "import torch, ts, model_archiver, onnxruntime; print(\"torch\", torch.__version__)"
  mkdir -p /home/model-server/model-store /home/model-server/tmp
  chown -R model-server:model-server /home/model-server /home/venv
  rm -rf /tmp/wheels /var/cache/apt/archives/*.deb /var/lib/apt/lists/* /root/.cache
'
umount -l "$rootfs/proc"

echo "stand-in: docker import $tag"
tar -C "$rootfs" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/home/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV TEMP=/home/model-server/tmp' \
  --change 'ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64' \
  --change 'USER model-server' \
  --change 'WORKDIR /home/model-server' \
  --change 'LABEL org.deploy-compare.kind=torchserve-base org.deploy-compare.standin=true' \
  --change 'EXPOSE 8080 8081 8082' \
  - "$tag" >/dev/null
echo "stand-in: built in $(( $(date +%s) - t0 ))s"
echo "$tag"
