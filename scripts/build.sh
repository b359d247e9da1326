#!/usr/bin/env bash
# Configures and builds one flavour of poolscope: build.sh [release|asan] (default release).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
flavour=${1:-release}
case "$flavour" in
  release) dir="$root/build"; extra=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan) dir="$root/build-asan"; extra=(-DCMAKE_BUILD_TYPE=Debug -DPOOLSCOPE_SANITIZE=ON -DPOOLSCOPE_BUILD_BENCH=OFF) ;;
  *) echo "usage: $0 [release|asan]" >&2; exit 2 ;;
esac
cmake -S "$root" -B "$dir" -G Ninja "${extra[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)"
