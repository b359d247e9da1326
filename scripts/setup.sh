#!/usr/bin/env bash
# Installs what poolscope needs to build and test on Debian 12, as root. Installs only what is missing.
set -euo pipefail

# What the poolscope binary needs to build and run (POOLSCOPE_SETUP=minimal, scripts/run.sh).
packages=(
  cmake ninja-build g++ pkg-config ccache
  linux-libc-dev                    # linux/bpf.h: the trace BPF backend's bpf(2) structures
  libbpf-dev bpftool libelf-dev zlib1g-dev  # trace's BPF programs: libbpf (static), skeleton, CO-RE
  clang                             # compiles the BPF programs (without it trace uses tracefs)
  libfmt-dev libcli11-dev nlohmann-json3-dev libsqlite3-dev libzydis-dev libzycore-dev libncurses-dev
)
if [[ "${POOLSCOPE_SETUP:-full}" != minimal ]]; then
  # Tests, benchmarks, fuzzers and packaging (scripts/test.sh).
  packages+=(
    googletest libgtest-dev libbenchmark-dev
    libclang-rt-14-dev                # libFuzzer and sanitizers (with clang above)
    bpftrace                          # the side-by-side trace benchmarks
    tmux util-linux                   # terminal UI tests; setpriv for the not-root test
    hyperfine                         # benchmarks of whole commands
    prometheus                        # promtool and a real Prometheus for the fleet tests
    chromium                          # headless browser for the HTML report test and benchmark
    dpkg-dev                          # dpkg-shlibdeps: the .deb's dependencies (cpack)
  )
  if [[ "${POOLSCOPE_WINDOWS:-1}" == 1 ]]; then
    # Windows cross build and its tests under Wine; tcl builds the SQLite amalgamation from source.
    packages+=(mingw-w64 g++-mingw-w64-x86-64-posix wine64 tcl)
  fi
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) != 0 ]]; then
    echo "poolscope setup: missing packages: ${missing[*]}; run as root (sudo $0)" >&2
    exit 3
  fi
  echo "poolscope setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The prometheus package starts a system-wide Prometheus on :9090 where systemd runs; the tests
# start their own on loopback, so the service installed for them is stopped and disabled.
if [[ " ${missing[*]:-} " == *" prometheus "* ]] && command -v systemctl >/dev/null &&
  [[ -d /run/systemd/system ]]; then
  systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
