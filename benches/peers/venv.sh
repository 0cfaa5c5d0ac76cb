#!/usr/bin/env bash
# Prints the path of a Python venv holding benches/peers/requirements.txt, building it on first
# use under ${XDG_CACHE_HOME:-$HOME/.cache}/security-contact-operator/peers/<key>/, where <key>
# hashes the Python version, the requirements and this script (a cache hit installs nothing).
# Built in a temporary directory, then renamed into place; a lock keeps parallel callers from
# building twice. Needs python3 (>= 3.10) with its venv module and PyPI; fails, saying why,
# without them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() {
  echo "peers/venv.sh: $*" >&2
  exit 1
}

command -v python3 >/dev/null 2>&1 ||
  die "python3 not found: install Python >= 3.10 with its venv module (Debian: apt-get install python3 python3-venv)"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
  die "python3 is $(python3 -V 2>&1); the Azure SDK pinned here needs >= 3.10"

key=$({
  python3 -c 'import sys, platform; print(sys.version, platform.machine())'
  cat "$here/requirements.txt" "${BASH_SOURCE[0]}"
} | sha256sum | cut -c1-16)
root=${XDG_CACHE_HOME:-$HOME/.cache}/security-contact-operator/peers
out=$root/$key
if [[ -x $out/bin/python ]]; then
  echo "$out"
  exit 0
fi

mkdir -p "$root"
exec 9>"$root/.lock.$key"
flock 9
if [[ -x $out/bin/python ]]; then
  echo "$out"
  exit 0
fi
tmp=$(mktemp -d "$root/.tmp.$key.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "peers/venv.sh: installing the Azure SDK for Python into $out (once)" >&2
python3 -m venv "$tmp" ||
  die "python3 -m venv failed: install the venv module (Debian: apt-get install python3-venv)"
"$tmp/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
  --only-binary=:all: --no-deps -r "$here/requirements.txt" >&2 ||
  die "pip could not install benches/peers/requirements.txt from PyPI"
# The venv's python is a symlink to the system's, so the renamed venv works as it is.
mv "$tmp" "$out"
trap - EXIT
echo "$out"
