#!/usr/bin/env bash
# Creates (idempotently) the project-local virtualenv <repo>/.venv and installs standins/requirements.txt
# into it, but only when the requirements (or the Python version) changed since the last install.
# Needs only python3.11 (or newer) with pip. Override the interpreter with PYTHON=/path/to/python3.x, and the
# virtualenv and requirements with VENV and REQUIREMENTS (the deployment tools use .venv-deploy).
set -euo pipefail

start_ns=$(date +%s%N)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
venv="${VENV:-$repo/.venv}"
req="${REQUIREMENTS:-$here/requirements.txt}"
stamp="$venv/.standins-requirements.sha256"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore  # quiet on CI, where we run as root

elapsed() { awk -v s="$start_ns" -v e="$(date +%s%N)" 'BEGIN { printf "%.1f", (e - s) / 1e9 }'; }

# Pick the interpreter: $PYTHON, else python3.11, else python3 (checked to be >= 3.11 below).
py="${PYTHON:-}"
if [[ -z "$py" ]]; then
  if command -v python3.11 >/dev/null 2>&1; then py=python3.11; else py=python3; fi
fi
"$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "setup.sh: $py is older than Python 3.11" >&2; exit 1; }

# Serialise concurrent runs (e.g. several test binaries calling setup.sh at once). The lock lives
# outside the repo; it is keyed by the venv path so two checkouts do not block each other.
if command -v flock >/dev/null 2>&1; then
  lock="${TMPDIR:-/tmp}/standins-setup-$(printf '%s' "$venv" | cksum | cut -d' ' -f1).lock"
  exec 9>"$lock"
  flock 9
fi

want="$( { cat "$req"; "$py" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"

# Reuse the venv only if its python still runs (a venv copied from elsewhere or a removed
# interpreter breaks it) and the stamp matches.
if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c '' 2>/dev/null \
   && [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$want" ]]; then
  echo "setup.sh: $venv up to date ($(elapsed) s)"
  exit 0
fi

if ! { [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c '' 2>/dev/null; }; then
  rm -rf "$venv"
  # Debian's python3 may lack ensurepip (package python3-venv); fall back to virtualenv, installed
  # from PyPI into a throwaway directory so nothing is written to the user's site-packages.
  if ! "$py" -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    boot="$(mktemp -d)"
    trap 'rm -rf "$boot"' EXIT
    "$py" -m pip install --quiet --target "$boot" virtualenv
    PYTHONPATH="$boot" "$py" -m virtualenv --quiet "$venv"
  fi
  # Keep git from listing the venv without touching the repo's own .gitignore.
  echo '*' > "$venv/.gitignore"
fi

rm -f "$stamp"
"$venv/bin/python" -m pip install --quiet -r "$req"
echo "$want" > "$stamp"
echo "setup.sh: installed $req into $venv ($(elapsed) s)"
