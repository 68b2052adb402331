#!/usr/bin/env bash
# Installs the Debian packages cosmos-ar needs, only those missing (README set-up commands call it).
# Usage: tools/install_deps.sh [build|test]   (test adds the Python packages of tools/ and its tests, and Slurm for tests/slurm)
set -euo pipefail
mode=${1:-build}
pkgs=(build-essential cmake pkg-config libhdf5-dev libopenblas-dev libjansson-dev libcriterion-dev)
pkgs+=(libsentencepiece-dev)  # T5 tokenizer (core/text_tokenizer.cc)
pkgs+=(openmpi-bin libopenmpi-dev hdf5-tools)
pkgs+=(libavformat-dev libavcodec-dev libswscale-dev libavutil-dev)  # video in and out (core/media*.c)
if [ "$mode" = test ]; then
  pkgs+=(python3 python3-numpy python3-h5py python3-torch)
  pkgs+=(slurm-wlm munge jq)  # tests/slurm: a one-node Slurm cluster on localhost runs slurm/
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install_deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install_deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
