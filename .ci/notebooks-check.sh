#!/usr/bin/env bash
# Execution check of the notebooks, for CI: runs every notebook of code/ headless
# through the real Rust kernel (evcxr_jupyter) with `jupyter nbconvert --execute`,
# then checks the executed notebooks (.ci/check_notebook_outputs.py): no cell may
# fail (a compile error, a panic, an error returned by `?`: anything on stderr), every
# cell tagged `image` must have shown a PNG (and no other cell of the chapters' own),
# and every cell that ends with `.show();` must have shown something.
#
#   .ci/notebooks-check.sh [NOTEBOOK ...]      (default: every code/*.ipynb)
#
# It installs what it needs: Jupyter's nbconvert from PyPI in a virtual environment
# (pinned in .ci/notebooks-requirements.txt) and evcxr_jupyter from crates.io
# (`cargo install --locked`, pinned below; about 16-25 minutes on 2 cores, skipped if
# that version is installed), whose kernel it registers under target/jupyter. The
# notebooks share one evcxr build folder (target/evcxr), so the crate and candle
# are compiled once (minutes), by the first notebook. The executed notebooks are
# left in target/notebooks-executed/. Data: $DIP_DATA, else ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

EVCXR_VERSION=0.22.0
export DIP_DATA="${DIP_DATA:-$(cd .. && pwd)/shared/data}"
export CARGO_TERM_COLOR=never
venv="$root/target/notebooks-venv"
out="$root/target/notebooks-executed"
# Keep Jupyter's kernel registration inside the clone (evcxr_jupyter --install honours it).
export JUPYTER_PATH="$root/target/jupyter"
# One evcxr build folder for all the notebooks, run one after the other.
export EVCXR_TMPDIR="$root/target/evcxr"
cell_timeout="${DIP_NOTEBOOK_CELL_TIMEOUT:-2400}"

if [ "$#" -gt 0 ]; then notebooks=("$@"); else notebooks=(code/*.ipynb); fi
[ -e "${notebooks[0]}" ] || { echo "notebooks-check: no notebooks in code/ (run dip notebooks)" >&2; exit 2; }

seconds() { date +%s; }
start=$(seconds)

echo "== Jupyter's nbconvert from PyPI (.ci/notebooks-requirements.txt), in target/notebooks-venv"
t=$(seconds)
if [ ! -x "$venv/bin/python" ] && ! python3 -m venv "$venv"; then
  # Debian/Ubuntu keep venv (and pip) out of python3 itself.
  (apt-get update && apt-get install -y python3 python3-venv python3-pip) >/dev/null 2>&1 \
    || sudo apt-get install -y python3 python3-venv python3-pip >/dev/null 2>&1 || true
  rm -rf "$venv"
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r .ci/notebooks-requirements.txt
echo "   $(( $(seconds) - t )) s"

echo "== evcxr_jupyter $EVCXR_VERSION from crates.io (cargo install --locked)"
t=$(seconds)
cargo install evcxr_jupyter --locked --version "$EVCXR_VERSION"
evcxr="$(command -v evcxr_jupyter || echo "${CARGO_HOME:-$HOME/.cargo}/bin/evcxr_jupyter")"
"$evcxr" --install
echo "   evcxr_jupyter installed and registered in $(( $(seconds) - t )) s"
"$venv/bin/jupyter" kernelspec list

mkdir -p "$EVCXR_TMPDIR" "$out"
# The kernel resolves the crate's dependencies itself: start from our lock file, so
# that it compiles the versions the tests ran with.
[ -f "$EVCXR_TMPDIR/Cargo.lock" ] || cp Cargo.lock "$EVCXR_TMPDIR/Cargo.lock"

status=0
for nb in "${notebooks[@]}"; do
  name="$(basename "$nb")"
  echo "== $name: executing (the kernel's working folder is $(dirname "$nb")/)"
  t=$(seconds)
  if ! "$venv/bin/jupyter" nbconvert --to notebook --execute \
      --ExecutePreprocessor.kernel_name=rust \
      --ExecutePreprocessor.timeout="$cell_timeout" \
      --ExecutePreprocessor.startup_timeout=300 \
      --output-dir "$out" --output "$name" "$nb"; then
    echo "notebooks-check: $name: a cell failed to run (above)" >&2
    status=1
    continue
  fi
  echo "   executed in $(( $(seconds) - t )) s"
  "$venv/bin/python" .ci/check_notebook_outputs.py "$out/$name" || status=1
done
echo "== notebooks-check: $(( $(seconds) - start )) s in all"
if [ "$status" -ne 0 ]; then
  echo "notebooks-check: FAILED" >&2
else
  echo "notebooks-check: every notebook ran without an error"
fi
exit "$status"
