#!/usr/bin/env bash
# Installs the PyPI reference MCP servers (requirements.txt) into .venv beside this script, for
# the gateway tests that run them as real upstreams. Idempotent: a venv already installed from
# the same requirements.txt is kept, so tests and CI can both call it; a lock keeps two callers
# from building the venv at once. PYTHON names another interpreter than python3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv="$here/.venv"
requirements="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
python=${PYTHON:-python3}

fail() { echo "error: $*" >&2; exit 1; }

command -v "$python" >/dev/null 2>&1 \
  || fail "$python is not installed; the Python upstream tests need Python 3.11 or later (apt-get install python3 python3-venv)"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || fail "Python 3.11 or later is needed (the pinned starlette, uvicorn and httpx2 need it), found $("$python" --version 2>&1); set PYTHON to a newer interpreter"
"$python" -c 'import venv, ensurepip' 2>/dev/null \
  || fail "$python has no working venv module (Debian and Ubuntu ship it apart: apt-get install python3-venv)"

exec 9>"$here/.venv.lock"
flock 9

want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
  && "$venv/bin/python" -c '' 2>/dev/null; then
  exit 0
fi

# A venv left half-built by a failed run, or built from other requirements, is made anew.
"$python" -m venv --clear "$venv" \
  || fail "could not create $venv with $python -m venv (on Debian and Ubuntu: apt-get install python3-venv)"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet -r "$requirements" \
  || fail "pip could not install $requirements into $venv; is PyPI reachable (pip's proxy settings)?"
for bin in mcp-server-time mcp-server-git; do
  [ -x "$venv/bin/$bin" ] || fail "$venv/bin/$bin is missing after the install; check $requirements"
done
echo "$want" > "$stamp"
echo "installed mcp-server-time and mcp-server-git into $venv"
