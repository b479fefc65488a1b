"""constant_fold: nodes of constants become constants, with a size cap."""

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.graph import Constant
from symgraph.opt import constant_fold as cf
from tests.opt.rewrite_util import PY, compiled, ops, rewritten


def test_constant_subexpressions_are_computed_at_compile_time():
    x = T.dvector("x")
    out = x * (T.constant(2.0) * T.exp(T.constant(0.0)) + 1)
    fg = rewritten(out, ["constant_fold"])
    assert ops(fg) == ["Elemwise{mul}"]
    c = fg.outputs[0].owner.inputs[1]
    assert isinstance(c, Constant) and np.all(c.data == 3.0)
    assert compiled([x], out)(np.array([1.0, 2.0])).tolist() == [3.0, 6.0]


def test_huge_results_are_left_to_run_time():
    x = T.dvector("x")
    big = T.zeros((4000, 4000))  # 16M elements from three small constants
    fg = rewritten(x.sum() + big.sum(), ["constant_fold"])
    assert "Alloc" in ops(fg)
    assert cf.MAX_FOLD_ELEMENTS < 4000 * 4000
    small = rewritten(x.sum() + T.zeros((3, 4)).sum(), ["constant_fold"])
    assert ops(small) == ["Sum{axis=[0]}", "Elemwise{add}"]


def test_errors_of_constant_nodes_still_happen_when_the_function_runs():
    x = T.dvector("x")
    bad = T.constant(np.arange(3.0))[T.constant(np.array([5]))]  # index out of bounds
    f = compiled([x], x + bad.sum())
    assert any("AdvancedSubtensor" in o for o in ops(f))
    with pytest.raises(IndexError):
        f(np.zeros(1))


def test_fast_compile_folds_constants():
    x = T.dvector("x")
    f = sg.function([x], x + T.constant(2.0) * 3, mode="FAST_COMPILE")
    assert ops(f) == ["Elemwise{add}"]
    assert f(np.zeros(2)).tolist() == [6.0, 6.0]
    assert PY.optimizer == "fast_run"
