# Sourced by the other scripts: create or refresh .venv with the given extras, from the pins in
# constraints.txt, only when pyproject.toml, the pins or the extras changed.
# Usage: source scripts/_venv.sh EXTRAS
set -euo pipefail
AAF_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AAF_VENV="$AAF_ROOT/.venv"
aaf_extras="$1"
aaf_pins="$(cat "$AAF_ROOT/pyproject.toml" "$AAF_ROOT/constraints.txt" | sha256sum | cut -c1-16)"
aaf_want="$aaf_pins-$aaf_extras"
aaf_stamp="$AAF_VENV/.aaf-stamp"
aaf_have="$(cat "$aaf_stamp" 2>/dev/null || true)"
# The "dev" extra includes every other one (tests/test_repository.py checks), so an environment
# built by ./scripts/test serves ./scripts/demo as it is, without reinstalling anything.
if [ ! -x "$AAF_VENV/bin/python" ] || { [ "$aaf_have" != "$aaf_want" ] && [ "$aaf_have" != "$aaf_pins-dev" ]; }; then
  echo "Setting up $AAF_VENV ($aaf_extras)..." >&2
  "${PYTHON:-python3}" -m venv "$AAF_VENV"
  # PIP_CONSTRAINT also reaches pip's isolated build environment (the setuptools pin).
  PIP_CONSTRAINT="$AAF_ROOT/constraints.txt" "$AAF_VENV/bin/python" -m pip install --quiet \
    --disable-pip-version-check -c "$AAF_ROOT/constraints.txt" -e "$AAF_ROOT[$aaf_extras]"
  echo "$aaf_want" > "$aaf_stamp"
fi
export PATH="$AAF_VENV/bin:$PATH"
