# Set up and enter tzoo's environment. Use it as: source scripts/env.sh
# First time: creates .venv and installs tzoo with its test extras (about 2 minutes; torch is
# the bulk). Afterwards it only activates, unless pyproject.toml changed.
# Exports TZOO_DATA=../shared/data when that folder exists and TZOO_DATA is unset.
_tzoo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_tzoo_py="${PYTHON:-python3}"
if [ ! -x "$_tzoo_root/.venv/bin/python" ]; then
  "$_tzoo_py" -m venv "$_tzoo_root/.venv" || return 1 2>/dev/null || exit 1
fi
if [ ! -f "$_tzoo_root/.venv/.installed" ] || [ "$_tzoo_root/pyproject.toml" -nt "$_tzoo_root/.venv/.installed" ]; then
  echo "tzoo: installing into $_tzoo_root/.venv ..." >&2
  "$_tzoo_root/.venv/bin/python" -m pip install -q --upgrade pip &&
    "$_tzoo_root/.venv/bin/python" -m pip install -q -e "$_tzoo_root[test]" &&
    touch "$_tzoo_root/.venv/.installed" || { echo "tzoo: install failed" >&2; return 1 2>/dev/null || exit 1; }
fi
. "$_tzoo_root/.venv/bin/activate"
if [ -z "${TZOO_DATA:-}" ] && [ -d "$_tzoo_root/../shared/data" ]; then
  export TZOO_DATA="$(cd "$_tzoo_root/../shared/data" && pwd)"
fi
unset _tzoo_root _tzoo_py
