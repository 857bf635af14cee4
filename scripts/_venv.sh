# Sourced by the other scripts: create or refresh .venv with the given extras, from the pins in
# constraints.txt, only when pyproject.toml, the pins or the extras changed.
# Usage: source scripts/_venv.sh EXTRAS
set -euo pipefail
AAF_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AAF_VENV="$AAF_ROOT/.venv"
aaf_extras="$1"
aaf_want="$(cat "$AAF_ROOT/pyproject.toml" "$AAF_ROOT/constraints.txt" | sha256sum | cut -c1-16)-$aaf_extras"
aaf_stamp="$AAF_VENV/.aaf-stamp"
if [ ! -x "$AAF_VENV/bin/python" ] || [ "$(cat "$aaf_stamp" 2>/dev/null)" != "$aaf_want" ]; then
  echo "Setting up $AAF_VENV ($aaf_extras)..." >&2
  "${PYTHON:-python3}" -m venv "$AAF_VENV"
  "$AAF_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -c "$AAF_ROOT/constraints.txt" -e "$AAF_ROOT[$aaf_extras]"
  echo "$aaf_want" > "$aaf_stamp"
fi
export PATH="$AAF_VENV/bin:$PATH"
