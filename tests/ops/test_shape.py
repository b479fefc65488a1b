"""Tests for symgraph/ops/shape.py: reshape, flatten, squeeze, expand_dims, rebroadcast, swaps."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symgraph as sg
import symgraph.tensor as T
from symgraph.ops.shape import (
    Rebroadcast,
    Reshape,
    addbroadcast,
    expand_dims,
    flatten,
    moveaxis,
    patternbroadcast,
    reshape,
    shape_padaxis,
    shape_padleft,
    shape_padright,
    squeeze,
    stack,
    swapaxes,
    unbroadcast,
)
from symgraph.types import TensorType
from tests.helpers import check_op


def _vals(shape, rng):
    return rng.standard_normal(shape)


# --- reshape -------------------------------------------------------------------------------------

RESHAPES = [
    ((2, 3), (3, 2)),
    ((2, 3), (-1,)),
    ((2, 3, 4), (4, -1)),
    ((0, 3), (-1, 3)),
    ((0, 3), (3, 0)),
    ((6,), (1, 2, 3)),
    ((1,), ()),
    ((2, 3), (6, 1)),
]


@pytest.mark.parametrize("shape, new", RESHAPES)
def test_reshape_constant_shape(shape, new, rng):
    check_op(lambda x: reshape(x, new), [_vals(shape, rng)], lambda x: x.reshape(new), grad=True)


def test_reshape_symbolic_entries(rng):
    x = _vals((4, 3), rng)
    check_op(lambda x, n: reshape(x, (n, -1)), [x, np.int64(2)], lambda x, n: x.reshape(n, -1),
             grad=True, grad_inputs=[0])
    check_op(lambda x, n: x.reshape((x.shape[1], n)), [x, np.int64(4)],
             lambda x, n: x.reshape(3, 4))


@pytest.mark.parametrize("new", [(6, 2), (-1, 3), (2, -1)])
def test_reshape_symbolic_vector(new, rng):
    # a vector of unknown length needs ndim; infer_shape must handle a runtime -1
    x = _vals((3, 4), rng)
    check_op(lambda x, s: reshape(x, s, ndim=2), [x, np.array(new, dtype="int64")],
             lambda x, s: x.reshape(tuple(s)), grad=True, grad_inputs=[0])


def test_reshape_to_other_shape(rng):
    check_op(lambda x, y: reshape(x, y.shape), [_vals((6,), rng), _vals((2, 3), rng)],
             lambda x, y: x.reshape(y.shape), grad=True, grad_inputs=[0])


def test_reshape_static_shapes():
    t = TensorType("float64", (2, 3, 4))("t")
    assert reshape(t, (4, -1)).type.shape == (4, 6)
    assert reshape(t, (-1,)).type.shape == (24,)
    m = T.matrix("m")
    assert reshape(m, (m.shape[0], 1, -1)).type.shape == (None, 1, None)
    assert reshape(m, (T.lscalar("n"), 3)).type.shape == (None, 3)
    assert isinstance(m.reshape(2, 3).owner.op, Reshape)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.randoms(use_true_random=False))
def test_reshape_hypothesis(dims, rnd):
    """Any regrouping of the factors of the size, with or without one -1."""
    shape = tuple(dims)
    factors = list(dims)
    rnd.shuffle(factors)
    new = [int(np.prod(factors[: len(factors) // 2])), int(np.prod(factors[len(factors) // 2:]))]
    if rnd.random() < 0.5:
        new[rnd.randrange(2)] = -1
    x = np.arange(np.prod(shape), dtype="float64").reshape(shape)
    v = TensorType("float64", (None,) * len(shape))("x")
    f = sg.function([v], reshape(v, tuple(new)))
    np.testing.assert_array_equal(f(x), x.reshape(new))


def test_reshape_second_derivative():
    x = T.dmatrix("x")
    g = sg.grad((reshape(x, (-1,)) ** 3).sum(), x)
    h = sg.grad(g.sum(), x)
    val = np.array([[1.0, 2.0], [3.0, -1.0]])
    np.testing.assert_allclose(sg.function([x], h)(val), 6 * val)


def test_reshape_errors():
    m = TensorType("float64", (3, 4))("m")
    with pytest.raises(ValueError, match=r"cannot reshape m .*\(3, 4\).*into shape \(5, 2\)"):
        reshape(m, (5, 2))
    with pytest.raises(ValueError, match="more than one -1"):
        reshape(m, (-1, -1))
    with pytest.raises(ValueError, match="invalid size -2"):
        reshape(m, (-2, 6))
    with pytest.raises(ValueError, match=r"into shape \(5, -1\)"):
        reshape(m, (5, -1))
    with pytest.raises(TypeError, match="shape entries must be integer"):
        reshape(m, (2.0, 6))
    with pytest.raises(TypeError, match="shape entries must be integer"):
        reshape(m, (T.dscalar("d"), 6))
    with pytest.raises(TypeError, match="integer vector"):
        reshape(m, T.dvector("s"))
    with pytest.raises(ValueError, match="pass ndim="):
        reshape(m, T.lvector("s"))
    with pytest.raises(ValueError, match="has 2 entries, but ndim=3"):
        reshape(m, (2, 6), ndim=3)


def test_reshape_runtime_error():
    x, n = T.matrix("x"), T.lscalar("n")
    f = sg.function([x, n], reshape(x, (n, 5)))
    with pytest.raises(ValueError, match=r"reshape x .*of shape \(2, 3\).*into shape \(4, 5\)"):
        f(np.zeros((2, 3)), 4)


# --- flatten -------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, ndim", [((2, 3, 4), 1), ((2, 3, 4), 2), ((2, 0, 4), 2),
                                         ((2, 3, 4), 3), ((), 1), ((5,), 1)])
def test_flatten(shape, ndim, rng):
    def ref(x):
        return x.reshape(x.shape[: ndim - 1] + (-1,))

    check_op(lambda x: flatten(x, ndim), [_vals(shape, rng)], ref, grad=True)


def test_flatten_static_and_errors():
    t = TensorType("float64", (None, 3, 4))("t")
    assert flatten(t, 2).type.shape == (None, 12)
    assert t.flatten().type.shape == (None,)
    assert t.ravel().ndim == 1
    with pytest.raises(ValueError, match=r"flatten: ndim=4 for t .*3 dimensions"):
        flatten(t, 4)
    with pytest.raises(ValueError, match="ndim=0"):
        flatten(t, 0)


# --- adding and removing broadcastable dimensions ------------------------------------------------


def test_squeeze(rng):
    x = _vals((1, 3, 1), rng)
    check_op(lambda x: squeeze(x), [x], np.squeeze, grad=True)
    check_op(lambda x: squeeze(x, 0), [x], lambda x: np.squeeze(x, 0))
    check_op(lambda x: x.squeeze(axis=(-1,)), [x], lambda x: np.squeeze(x, -1))
    assert squeeze(T.matrix("m")).ndim == 2


def test_squeeze_error():
    with pytest.raises(ValueError, match=r"squeeze: axis 1 of m .*not known to have size 1"):
        squeeze(T.matrix("m"), 1)


@pytest.mark.parametrize("axis", [0, -1, 1, (0, 2)])
def test_expand_dims(axis, rng):
    check_op(lambda x: expand_dims(x, axis), [_vals((2, 3), rng)],
             lambda x: np.expand_dims(x, axis), grad=True)


def test_padding(rng):
    x = _vals((2, 3), rng)
    check_op(lambda x: shape_padleft(x, 2), [x], lambda x: x[None, None])
    check_op(lambda x: shape_padright(x), [x], lambda x: x[..., None], grad=True)
    check_op(lambda x: shape_padaxis(x, 1), [x], lambda x: x[:, None])
    check_op(lambda x: shape_padaxis(x, -1), [x], lambda x: x[..., None])
    assert shape_padleft(T.vector()).broadcastable == (True, False)
    with pytest.raises(ValueError, match="out of range"):
        shape_padaxis(T.matrix(), 4)


def test_swapaxes_moveaxis(rng):
    x = _vals((2, 3, 4), rng)
    check_op(lambda x: swapaxes(x, 0, -1), [x], lambda x: np.swapaxes(x, 0, -1), grad=True)
    for src, dst in [(0, 2), (-1, 0), ((0, 1), (2, 0))]:
        check_op(lambda x, s=src, d=dst: moveaxis(x, s, d), [x],
                 lambda x, s=src, d=dst: np.moveaxis(x, s, d))
    check_op(lambda x: moveaxis(x, 0, 1), [x], lambda x: np.moveaxis(x, 0, 1), grad=True)
    with pytest.raises(ValueError, match="differ in length"):
        moveaxis(T.tensor3(), (0, 1), 2)
    with pytest.raises(ValueError, match="repeated axis"):
        moveaxis(T.tensor3(), (0, 0), (1, 2))


# --- rebroadcast ---------------------------------------------------------------------------------


def test_rebroadcast_types():
    m = T.matrix("m")
    assert addbroadcast(m, 0).broadcastable == (True, False)
    assert addbroadcast(m, -1).broadcastable == (False, True)
    assert unbroadcast(T.row("r"), 0).broadcastable == (False, False)
    assert patternbroadcast(m, (True, True)).type.shape == (1, 1)
    assert patternbroadcast(m, (False, False)) is m
    assert unbroadcast(m, 0) is m


def test_rebroadcast_values_and_grad(rng):
    x = _vals((1, 3), rng)
    check_op(lambda x: addbroadcast(x, 0), [x], lambda x: x, grad=True, broadcastable=False)
    check_op(lambda x: unbroadcast(x, 0) * 2, [x], lambda x: x * 2, grad=True)
    check_op(lambda x: patternbroadcast(x, (False, False)), [x], lambda x: x, grad=True)
    out = addbroadcast(T.matrix(), 0)
    assert isinstance(out.owner.op, Rebroadcast)
    # a broadcast that needs the static flag: row + matrix
    a, b = T.matrix("a"), T.matrix("b")
    f = sg.function([a, b], addbroadcast(a, 0) + b)
    np.testing.assert_allclose(f(np.ones((1, 3)), np.ones((4, 3))), 2 * np.ones((4, 3)))


def test_rebroadcast_errors():
    m = T.matrix("m")
    with pytest.raises(ValueError, match=r"addbroadcast: axis 0 of s .*static size 3"):
        addbroadcast(TensorType("float64", (3, None))("s"), 0)
    with pytest.raises(ValueError, match="has 1 entries; m"):
        patternbroadcast(m, (True,))
    with pytest.raises(ValueError, match="out of range"):
        addbroadcast(m, 2)
    f = sg.function([m], addbroadcast(m, 0))
    with pytest.raises(ValueError, match=r"axis 0 of m .*declared broadcastable.*\(2, 3\)"):
        f(np.zeros((2, 3)))


# --- stack through shape, and lists of variables -------------------------------------------------


def test_stack_from_shape_and_lists(rng):
    a, b = T.dscalar("a"), T.dscalar("b")
    v = T.as_tensor_variable([a, b, 1.5])
    assert v.type.shape == (3,)
    np.testing.assert_allclose(sg.function([a, b], v)(1.0, 2.0), [1.0, 2.0, 1.5])
    check_op(lambda x, y: stack([x, y], 1), [_vals((2,), rng), _vals((2,), rng)],
             lambda x, y: np.stack([x, y], 1), grad=True)
