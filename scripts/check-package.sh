#!/usr/bin/env bash
# Builds the .deb from a configured build folder (default build/) with cpack and installs it into a
# scratch root with dpkg, then checks what a user gets: the binary runs, one man page per verb, the
# completions, the systemd unit, the Prometheus rules and the Grafana dashboard; and that apt can
# resolve the package's dependencies on this machine (apt-get install --simulate).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "check-package: $*" >&2; exit 1; }

cmake --build "$build" --target poolscope poolscope_docs >/dev/null
(cd "$build" && cpack -G DEB >/dev/null) || fail "cpack failed (run: cd $build && cpack -G DEB)"
deb=$(realpath "$(ls -t "$build"/packages/poolscope_*_*.deb | head -1)")
[[ -f $deb ]] || fail "no .deb in $build/packages"
echo "check-package: built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"
dpkg-deb --field "$deb" Depends | grep -q libsqlite3 || fail "Depends lacks the SQLite library"

mkdir -p "$scratch/var/lib/dpkg/updates" "$scratch/var/lib/dpkg/info"
: >"$scratch/var/lib/dpkg/status"
dpkg --instdir="$scratch" --admindir="$scratch/var/lib/dpkg" --force-depends \
  --force-script-chrootless --force-not-root -i "$deb" >"$scratch/dpkg.log" 2>&1 ||
  fail "dpkg could not install $deb into a scratch root: $(cat "$scratch/dpkg.log")"
"$scratch/usr/bin/poolscope" --version | grep -q . || fail "the installed binary does not run"
verbs=$("$scratch/usr/bin/poolscope" --help | awk '/^Subcommands:/{s=1;next} s&&NF{print $1}')
for v in $verbs; do
  [[ -f "$scratch/usr/share/man/man1/poolscope-$v.1" ]] || fail "no man page for $v"
done
for f in usr/share/man/man1/poolscope.1 usr/share/bash-completion/completions/poolscope \
  usr/share/zsh/vendor-completions/_poolscope usr/lib/systemd/system/poolscope-record.service \
  usr/share/poolscope/prometheus/poolscope-rules.yml \
  usr/share/poolscope/grafana/poolscope-dashboard.json usr/share/doc/poolscope/README.md; do
  [[ -f "$scratch/$f" ]] || fail "the package lacks /$f"
done
bash -n "$scratch/usr/share/bash-completion/completions/poolscope" || fail "bash completion: syntax"
if command -v zsh >/dev/null; then
  zsh -n "$scratch/usr/share/zsh/vendor-completions/_poolscope" || fail "zsh completion: syntax"
fi
if command -v man >/dev/null; then
  MANPATH="$scratch/usr/share/man" man -P cat poolscope-snapshot 2>/dev/null | grep -q -- --format ||
    fail "man poolscope-snapshot does not render"
fi
if [[ $(id -u) == 0 ]]; then
  apt-get install --simulate -qq "$deb" >/dev/null 2>"$scratch/apt.err" ||
    fail "apt cannot install $deb here: $(cat "$scratch/apt.err")"
fi
echo "check-package: installed into a scratch root: $(echo $verbs | wc -w) verbs with man pages, completions, unit, rules, dashboard"
