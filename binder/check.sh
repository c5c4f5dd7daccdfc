#!/usr/bin/env bash
# Repeat Binder's set-up here: build a fresh virtual environment from binder/ alone, then run every lesson
# in it (with the reference solutions, so every check cell must print ✅). Downloads packages, so it is not
# part of the default test run. Usage, from anywhere:
#
#     binder/check.sh                 # a temporary venv, removed afterwards
#     binder/check.sh /tmp/binder-venv  # keep (and reuse) this venv
#     PYTHON=python3.12 binder/check.sh
#
# Prints how long the installation and each lesson took. Exit status 0 means Binder's configuration works.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
if [[ $# -ge 1 ]]; then
    venv="$1"
    keep=1
else
    venv="$(mktemp -d)/binder-venv"
    keep=0
fi
scratch="$(mktemp -d)"
cleanup() {
    rm -rf "$scratch"
    if [[ $keep == 0 ]]; then rm -rf "$(dirname "$venv")"; fi
}
trap cleanup EXIT

cd "$repo"
echo "== building $venv with $("$python" --version) from binder/requirements.txt (Binder wants $(cat binder/runtime.txt))"
start=$(date +%s)
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r binder/requirements.txt
echo "== postBuild"
PATH="$venv/bin:$PATH" binder/postBuild
installed=$(date +%s)
echo "== installed in $((installed - start)) s"

# Only the venv's kernel may run the lessons: an empty Jupyter data directory hides kernels installed for
# the user, and the runner prints which interpreter the kernel uses.
export JUPYTER_DATA_DIR="$scratch/jupyter-data"
export JUPYTER_CONFIG_DIR="$scratch/jupyter-config"
PATH="$venv/bin:$PATH" "$venv/bin/python" -m jmesos.teaching.notebooks --solutions lessons/[0-9][0-9]-*.ipynb
finished=$(date +%s)
echo "== Binder check passed: install $((installed - start)) s, lessons $((finished - installed)) s"
