"""canonicalize: algebraic normal form; NaN / inf semantics are kept."""

import numpy as np
import pytest

import symgraph.tensor as T
from symgraph.opt.canonicalize import RULES
from tests.opt.rewrite_util import PY, PY_NONE, compiled, ops, rewritten

CANON = ["merge", "constant_fold", "canonicalize"]


def _same_values(inputs, out, *values):
    """The rewritten function gives the unrewritten one's values (NaN and inf included)."""
    got = compiled(inputs, out, mode=PY)(*values)
    ref = compiled(inputs, out, mode=PY_NONE)(*values)
    np.testing.assert_allclose(got, ref, rtol=1e-12, equal_nan=True)
    return got


@pytest.mark.parametrize(
    "build",
    [
        lambda x: x * 1,
        lambda x: 1 * x * 1,
        lambda x: x + 0,
        lambda x: x - 0,
        lambda x: x / 1,
        lambda x: T.neg(T.neg(x)),
        lambda x: x.T.T,
        lambda x: T.identity(x),
        lambda x: T.cast(x, "float64"),
        lambda x: (x * 1).sum(axis=()),
        lambda x: T.specify_shape(x, (None, None)),
    ],
)
def test_useless_work_disappears(build):
    x = T.dmatrix("x")
    fg = rewritten(build(x), CANON)
    assert ops(fg) == [] and fg.outputs[0] is fg.inputs[0]


def test_neutral_elements_respect_the_output_dtype():
    x = T.fvector("x")
    out = x * T.constant(1.0, dtype="float64")  # a float64 one makes the product float64
    fg = rewritten(out, CANON)
    assert ops(fg) == ["Elemwise{cast_float64}"] and fg.outputs[0].dtype == "float64"


def test_x_minus_x_is_zero_only_where_x_is_finite():
    x, i = T.dvector("x"), T.lvector("i")
    assert ops(rewritten(x - x, CANON)) == ["Elemwise{sub}"]  # inf - inf is NaN
    _same_values([x], x - x, np.array([1.0, np.inf, np.nan]))
    assert "Elemwise{sub}" not in ops(rewritten(i - i, CANON))
    assert ops(rewritten(T.tanh(i) - T.tanh(i), CANON)) == ["Shape_i{0}", "Alloc"]
    _same_values([i], i - i, np.array([1, -4]))


def test_mul_by_zero_only_where_nan_and_inf_cannot_appear():
    x, i = T.dvector("x"), T.lvector("i")
    assert "Elemwise{mul}" in ops(rewritten(x * 0, CANON))  # inf * 0 is NaN
    _same_values([x], x * 0, np.array([1.0, np.inf, np.nan]))
    assert "Elemwise{mul}" not in ops(rewritten(i * 0, CANON))
    _same_values([i], i * 0, np.array([3, -2]))


def test_x_over_x_is_one_only_for_known_nonzero_finite_values():
    x = T.dvector("x")
    assert ops(rewritten(x / x, CANON)) == ["Elemwise{true_div}"]
    _same_values([x], x / x, np.array([0.0, 2.0, np.inf]))


def test_double_dimshuffles_compose():
    x = T.tensor3("x")
    out = x.dimshuffle(2, 0, 1).dimshuffle(1, 2, 0)  # the identity
    assert ops(rewritten(out, CANON)) == []
    out = x.dimshuffle(2, 0, 1).dimshuffle(0, "x", 2, 1)
    assert ops(rewritten(out, CANON)) == ["DimShuffle{2,x,1,0}"]
    v = np.arange(24.0).reshape(2, 3, 4)
    _same_values([x], out, v)


def test_lossless_cast_round_trips_disappear_but_lossy_ones_stay():
    i = T.ivector("i")
    assert ops(rewritten(T.cast(T.cast(i, "float64"), "int32"), CANON)) == []
    f = T.dvector("f")
    assert len(ops(rewritten(T.cast(T.cast(f, "int32"), "float64"), CANON))) == 2


def test_sums_of_products_are_collected():
    x, y = T.dvectors("x", "y")
    fg = rewritten(x + x + x, CANON)
    assert ops(fg) == ["Elemwise{mul}"]
    fg = rewritten(2 * x + 3 * x + y, CANON)
    assert sorted(ops(fg)) == ["Elemwise{add}", "Elemwise{mul}"]
    _same_values([x, y], 2 * x + 3 * x + y, np.array([1.0, -2.0]), np.array([0.5, 4.0]))


def test_sum_of_sums_and_of_broadcast_axes():
    x = T.tensor3("x")
    fg = rewritten(x.sum(axis=0).sum(axis=1), CANON)
    assert ops(fg) == ["Sum{axis=[0, 2]}"]
    v = T.dvector("v")
    fg = rewritten(v.dimshuffle("x", 0).sum(axis=0), CANON)
    assert ops(fg) == [] and fg.outputs[0] is fg.inputs[0]
    _same_values([x], x.sum(axis=0).sum(axis=1), np.arange(24.0).reshape(2, 3, 4))


def test_nested_sums_flatten_and_constants_combine():
    x, y = T.dvectors("x", "y")
    fg = rewritten((x + 1.0) + (y + 2.0), CANON)
    (node,) = fg.toposort()
    assert len(node.inputs) == 3
    assert float(node.inputs[2].data.item()) == 3.0


def test_fill_of_a_value_that_already_has_the_shape_is_the_value():
    x, y = T.dmatrices("x", "y")
    fg = rewritten(T.zeros_like(x) * y + T.ones_like(y) * x, CANON)
    assert "Elemwise{second}" not in ops(fg)
    _same_values([x, y], T.zeros_like(x) * y + T.ones_like(y) * x, np.ones((2, 2)), np.eye(2))


def test_shapes_become_static_constants_or_input_shapes():
    x = T.TensorType("float64", (None, 3))("x")
    y = T.dmatrix("y")
    fg = rewritten([x.shape[1], T.tanh(x * 2).shape[0], (y.T + 1).shape[1]], CANON)
    static, through_tanh, through_t = fg.outputs
    fx, fy = fg.inputs
    assert static.owner is None and int(static.data) == 3
    assert str(through_tanh.owner.op) == "Shape_i{0}" and through_tanh.owner.inputs[0] is fx
    assert str(through_t.owner.op) == "Shape_i{0}" and through_t.owner.inputs[0] is fy
    assert ops(rewritten(x.shape, CANON)) == ["Shape"]
    z = T.TensorType("float64", (2, 3))("z")
    assert ops(rewritten(z.shape, CANON)) == []


def test_useless_reshape_and_reshape_of_reshape():
    z = T.TensorType("float64", (2, 3))("z")
    assert ops(rewritten(z.reshape((2, 3)), CANON)) == []
    x = T.dmatrix("x")
    out = x.reshape((-1,)).reshape((x.shape[1], x.shape[0]))
    assert ops(rewritten(out, CANON)).count("Reshape{2}") == 1
    _same_values([x], out, np.arange(6.0).reshape(2, 3))


def test_every_rule_has_a_readable_name():
    names = RULES.names()
    assert len(names) == len(set(names)) == len(RULES)
    assert all("->" in n for n in names)
