#!/usr/bin/env bash
# Create (or bring up to date) .venv-bench: the peer libraries symgraph is benchmarked against,
# plus symgraph itself, editable. Safe to run again: pip skips what is already installed.
#
#   bash benchmarks/setup_peers.sh && .venv-bench/bin/python benchmarks/run.py
#
# Environment: PYTHON (interpreter for the venv, default python3), VENV (default .venv-bench).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv-bench}"
PYTHON="${PYTHON:-python3}"

# The versions the recorded figures were measured with. torch must be pinned exactly: on the
# project's machines torch==2.13.0 resolves to a local CPU wheel, while an unpinned "torch"
# pulls the multi-GB CUDA build. (Elsewhere, install PyTorch's CPU build as its docs describe.)
PEERS=(numpy==2.4.6 scipy==1.17.1 pytensor==3.0.7 jax==0.10.2 jaxlib==0.10.2 torch==2.13.0)

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
[ -f "$VENV/.gitignore" ] || echo '*' > "$VENV/.gitignore"  # keep the venv out of git

"$VENV/bin/python" -m pip install --quiet "${PEERS[@]}"

# symgraph from this checkout. run.py also puts the checkout on PYTHONPATH, so a failure here
# (the package mid-rewrite) only costs its dependencies; its cells then say why they fail.
if ! "$VENV/bin/python" -m pip install --quiet -e "$ROOT"; then
    echo "setup_peers: could not install symgraph (editable); continuing with the peers" >&2
fi

"$VENV/bin/python" - <<'PY'
import importlib

for name in ("numpy", "scipy", "pytensor", "jax", "torch", "symgraph"):
    try:
        module = importlib.import_module(name)
        print(f"{name:9s} {getattr(module, '__version__', '?')}")
    except Exception as exc:  # report, do not fail: run.py shows "n/a (reason)" cells
        print(f"{name:9s} not importable: {type(exc).__name__}: {exc}")
PY
