"""`import symgraph` in a fresh process: what it pulls in counts in every program's start-up."""

from __future__ import annotations

import subprocess
import sys


def test_import_leaves_heavy_optional_libraries_unimported():
    # scipy.special alone took ~0.25 s, more than the rest of `import symgraph`
    script = (
        "import sys, symgraph\n"
        "heavy = ('scipy', 'sympy', 'networkx', 'llvmlite')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
