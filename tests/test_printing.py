"""debugprint and pp."""

import io

import numpy as np

import symgraph as sg
import symgraph.tensor as T
from symgraph.printing import Print, debugprint, pp


def test_debugprint_tree_and_ids():
    x = T.dvector("x")
    y = T.exp(x) + T.exp(x) * 2
    text = debugprint(y, file="str")
    assert "Elemwise{add}" in text and "Elemwise{exp}" in text and "x [id" in text
    f = sg.function([x], y)
    buf = io.StringIO()
    debugprint(f, file=buf)
    assert "Elemwise" in buf.getvalue() or "Composite" in buf.getvalue()


def test_pp_formula():
    x, y = T.dscalars("x", "y")
    assert pp(x + y * 2) == "(x + (y * 2))"


def test_print_op_prints_and_passes_value(capsys):
    x = T.dvector("x")
    f = sg.function([x], Print("value of x")(x) * 2)
    np.testing.assert_array_equal(f(np.ones(2)), [2, 2])
    assert "value of x" in capsys.readouterr().out
