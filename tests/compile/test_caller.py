"""The generated call path of a Function (symgraph/compile/caller.py): inputs by position or
keyword, the LLVM driver's body run in place, updates and returned arrays."""

from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.compile.mode import Mode


def test_an_input_named_like_a_parameter_binds_by_its_own_name():
    # the call's parameters are positional-only: a keyword v0 is the input named v0
    a, v0 = T.dvector("a"), T.dvector("v0")
    f = sg.function([a, v0], a - v0)
    ones, twos = np.ones(2), np.full(2, 2.0)
    np.testing.assert_array_equal(f(ones, twos), [-1, -1])
    np.testing.assert_array_equal(f(ones, v0=twos), [-1, -1])
    np.testing.assert_array_equal(f(v0=twos, a=ones), [-1, -1])
    with pytest.raises(TypeError, match="both by position and by keyword"):
        f(ones, twos, a=ones)
    with pytest.raises(TypeError, match="takes 2 inputs, got 3"):
        f(ones, twos, twos)
    with pytest.raises(TypeError, match="missing required input"):
        f(ones)


def test_defaults_fill_the_inputs_not_passed():
    x, y = T.dvector("x"), T.dvector("y")
    f = sg.function([x, sg.In(y, value=np.array([10.0]))], x + y)
    np.testing.assert_array_equal(f(np.array([1.0])), [11])
    np.testing.assert_array_equal(f(np.array([1.0]), np.array([2.0])), [3])
    np.testing.assert_array_equal(f(x=np.array([1.0])), [11])


@pytest.mark.parametrize("backend", ["llvm", "python"])
def test_the_inlined_driver_reads_shared_values_and_swaps_updates(backend):
    w = sg.shared(np.zeros(3), name="w")
    x = T.dvector("x")
    f = sg.function([x], [(w * x).sum(), w * 2], updates=[(w, w + x)],
                    mode=Mode(backend=backend))
    if backend == "llvm":
        assert "run(" not in f.__call__.source  # the body runs in the call itself
    first = f(np.ones(3))
    second = f(np.ones(3))
    assert float(first[0]) == 0 and float(second[0]) == 3
    np.testing.assert_array_equal(first[1], [0, 0, 0])  # not overwritten by the second call
    np.testing.assert_array_equal(second[1], [2, 2, 2])
    np.testing.assert_array_equal(w.get_value(), [2, 2, 2])


def test_a_function_of_no_inputs_refuses_arguments():
    w = sg.shared(np.float64(3.0))
    f = sg.function([], w * 2)
    assert float(f()) == 6
    with pytest.raises(TypeError):
        f(1.0)
