#!/usr/bin/env bash
# Installs the Debian packages Osprey needs when they are missing. Sourced by run.sh and test.sh.
#   ensure_packages ffmpeg chromium ...
set -euo pipefail

ensure_packages() {
  local missing=()
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing missing packages: ${missing[*]}" >&2
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "Need root or sudo to install: ${missing[*]}" >&2; return 1; }
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# Lets apt install packages of another architecture (multiarch), e.g. arm64 libraries to link and run a Raspberry Pi
# build on an x64 machine.   ensure_architecture arm64
ensure_architecture() {
  local arch=$1
  [ "$(dpkg --print-architecture)" = "$arch" ] && return 0
  dpkg --print-foreign-architectures | grep -qx "$arch" && return 0
  echo "Adding the Debian architecture $arch (multiarch)" >&2
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "Need root or sudo to add the architecture $arch" >&2; return 1; }
    sudo=(sudo)
  fi
  "${sudo[@]}" dpkg --add-architecture "$arch"
  # ensure_packages runs apt-get update before it installs anything, which fetches the new architecture's lists.
}
