#!/usr/bin/env bash
# Installs the Debian 12 packages cartpk needs, skipping what is already there (make deps).
set -euo pipefail
packages=(
  cmake make g++ clang libclang-rt-14-dev
  libsundials-dev libeigen3-dev libnlopt-cxx-dev libhdf5-dev hdf5-tools
  libopenmpi-dev openmpi-bin libboost-dev
  doctest-dev libcli11-dev libtomlplusplus-dev nlohmann-json3-dev libfmt-dev
  python3 python3-numpy python3-scipy python3-h5py python3-matplotlib
)
# `install-deps.sh test`: also R with nlme, the independent reference of the population-fit tests (make test only).
[ "${1:-}" = "test" ] && packages+=(r-base-core r-cran-nlme)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
