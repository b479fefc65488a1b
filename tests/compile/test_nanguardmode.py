"""NanGuardMode: the first node producing NaN / inf / a big value is named, with its line."""

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.compile.nanguardmode import NanGuardError, NanGuardMode


def test_a_nan_names_the_node_and_the_users_line():
    x = T.dvector("x")
    bad = T.log(x)
    f = sg.function(
        [x],
        bad * 2,
        mode=NanGuardMode(nan_is_error=True, inf_is_error=True, big_is_error=True, optimizer=None),
    )
    np.testing.assert_allclose(f(np.array([1.0])), [0.0])
    with pytest.raises(AssertionError) as info:
        f(np.array([-1.0]))
    assert isinstance(info.value, NanGuardError)
    assert "NaN" in str(info.value) and "log" in str(info.value) and bad.trace in str(info.value)


def test_inside_a_fused_node_the_inner_expression_is_named():
    x, y = T.dvectors("x", "y")
    culprit = T.log(y)
    out = T.exp(x) * culprit + 1
    f = sg.function([x, y], out, mode=NanGuardMode(True, True, True))
    (node,) = f.maker.fgraph.toposort()
    assert "Composite" in str(node.op)
    with pytest.raises(NanGuardError) as info:
        f(np.zeros(2), np.array([1.0, -1.0]))
    text = str(info.value)
    assert "log(i1)" in text and culprit.trace in text and out.trace in text


def test_inf_and_big_values_and_switching_checks_off():
    x = T.dvector("x")
    with pytest.raises(NanGuardError, match="inf"):
        sg.function([x], T.exp(x), mode=NanGuardMode())(np.array([1000.0]))
    with pytest.raises(NanGuardError, match="big value"):
        sg.function([x], x * 1e12, mode=NanGuardMode())(np.array([1.0]))
    quiet = NanGuardMode(nan_is_error=False, inf_is_error=False, big_is_error=False)
    assert np.isinf(sg.function([x], T.exp(x), mode=quiet)(np.array([1000.0]))[0])


def test_a_nan_given_as_input_is_reported_as_the_input():
    x = T.dvector("x")
    f = sg.function([x], x + 1, mode="NanGuardMode")
    with pytest.raises(NanGuardError, match="NaN in the input x"):
        f(np.array([np.nan]))
