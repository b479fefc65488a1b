"""Tests for symgraph/ops/alloc.py: alloc, zeros/ones, eye/tri/tril/triu, arange, tile, repeat."""

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.config import config
from symgraph.ops.alloc import (
    Alloc,
    ARange,
    Repeat,
    alloc,
    arange,
    eye,
    full,
    identity_like,
    ones,
    repeat,
    tile,
    tri,
    tril,
    triu,
    zeros,
)
from symgraph.types import TensorType
from tests.helpers import check_op


def _vals(shape, rng):
    return rng.standard_normal(shape)


# --- alloc ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("vshape, shape", [((3,), (2, 3)), ((1, 3), (4, 3)), ((), (2, 3)),
                                           ((3,), (0, 3)), ((2, 1), (2, 2, 5)), ((2,), (2,))])
def test_alloc(vshape, shape, rng):
    check_op(lambda v: alloc(v, *shape), [_vals(vshape, rng)],
             lambda v: np.broadcast_to(v, shape), grad=True)


def test_alloc_symbolic_shape(rng):
    v = _vals((1, 3), rng)
    check_op(lambda v, n: alloc(v, n, 2, 3), [v, np.int64(4)],
             lambda v, n: np.broadcast_to(v, (4, 2, 3)), grad=True, grad_inputs=[0])
    s = TensorType("int64", (2,))("s")  # a shape vector needs a static length
    out = sg.function([s], alloc(np.float32(2), s))(np.array([5, 3]))
    np.testing.assert_array_equal(out, np.full((5, 3), 2, dtype="float32"))
    with pytest.raises(TypeError, match="alloc: the length of the shape vector u .*not known"):
        alloc(1.0, T.lvector("u"))
    x = T.vector("x")
    assert alloc(x, 3, x.shape[0]).type.shape == (3, None)
    assert alloc(TensorType("float64", (4,))("y"), T.lscalar("n"), T.lscalar("m")).type.shape == (
        None, 4)


def test_alloc_errors():
    v = TensorType("float64", (3,))("v")
    with pytest.raises(ValueError, match=r"cannot broadcast v .*\(3,\) to shape \(2, 4\)"):
        alloc(v, 2, 4)
    with pytest.raises(ValueError, match=r"has 2 dimensions, more than the 1"):
        alloc(T.matrix("m"), 3)
    with pytest.raises(TypeError, match="shape entries must be integer"):
        alloc(v, 2.5, 3)
    with pytest.raises(ValueError, match="negative size -1"):
        alloc(v, -1, 3)
    x, n = T.vector("x"), T.lscalar("n")
    f = sg.function([x, n], alloc(x, 2, n))
    with pytest.raises(ValueError, match=r"cannot broadcast x .*\(1,\).*not broadcastable"):
        f(np.ones(1), 3)  # x is not broadcastable: its size must match (else the grad is wrong)
    assert isinstance(alloc(x, 2, n).owner.op, Alloc)


@pytest.mark.parametrize("fn, value", [(zeros, 0), (ones, 1)])
def test_zeros_ones(fn, value):
    n, x = T.lscalar("n"), T.matrix("x")
    assert fn(3).dtype == config.floatX and fn(3).type.shape == (3,)
    assert fn((2, 3), dtype="int32").dtype == "int32"
    assert fn((n, 3)).type.shape == (None, 3)
    f = sg.function([n, x], [fn((n, 2)), fn(x.shape, dtype="int8"), fn(n), fn(())])
    a, b, c, d = f(3, np.zeros((2, 5)))
    np.testing.assert_array_equal(a, np.full((3, 2), value))
    assert b.shape == (2, 5) and b.dtype == np.int8 and np.all(b == value)
    assert c.shape == (3,) and d.shape == ()


def test_full(rng):
    check_op(lambda v: full((2, 3), v), [_vals((3,), rng)], lambda v: np.full((2, 3), v),
             grad=True)
    assert full(3, 7).dtype == "int8" and full(3, 7, dtype="float32").dtype == "float32"
    assert full(3, 2.5).dtype == T.as_tensor_variable(2.5).dtype  # Theano's autocast


# --- eye, tri, tril, triu ------------------------------------------------------------------------


@pytest.mark.parametrize("n, m, k", [(3, None, 0), (3, 4, 1), (4, 2, -1), (0, 3, 0), (3, 3, 5)])
def test_eye_tri(n, m, k):
    for fn, ref in [(eye, np.eye), (tri, np.tri)]:
        check_op(lambda n_, fn=fn: fn(n_, m, k), [np.int64(n)], lambda n_, ref=ref: ref(n, m, k))
        assert fn(n, m, k).type.shape == (n, n if m is None else m)
    assert eye(3, dtype="int32").dtype == "int32" and eye(3).dtype == config.floatX


def test_eye_errors():
    with pytest.raises(TypeError, match="eye: shape entries must be integer"):
        eye(2.5)
    with pytest.raises(ValueError, match="negative size"):
        eye(-2)
    n = T.lscalar("n")
    with pytest.raises(ValueError, match="negative size"):
        sg.function([n], tri(n))(-1)


def test_identity_like(rng):
    check_op(identity_like, [_vals((2, 3), rng)], lambda x: np.eye(2, 3))
    with pytest.raises(ValueError, match="identity_like: expected a matrix, got v"):
        identity_like(T.vector("v"))


@pytest.mark.parametrize("shape, k", [((3, 4), 0), ((4, 3), 1), ((4, 3), -2), ((2, 3, 3), 0),
                                      ((0, 3), 0)])
def test_tril_triu(shape, k, rng):
    x = _vals(shape, rng)
    check_op(lambda x: tril(x, k), [x], lambda x: np.tril(x, k), grad=True)
    check_op(lambda x: triu(x, k), [x], lambda x: np.triu(x, k), grad=True)


def test_tril_symbolic_k_and_nan(rng):
    x = _vals((3, 3), rng)
    check_op(lambda x, k: triu(x, k), [x, np.int64(1)], lambda x, k: np.triu(x, 1))
    m = T.matrix("m")
    out = sg.function([m], tril(m))(np.full((2, 2), np.nan))
    assert out[0, 1] == 0  # masked entries are exact zeros, not NaN * 0
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        tril(T.vector("v"))


# --- arange --------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [(5,), (2, 10, 3), (10, 2, -3), (3, 3), (5, 1), (-4, 4, 2)])
def test_arange_ints(args):
    sym = [T.lscalar(f"a{i}") for i in range(len(args))]
    out = arange(*sym)
    assert out.dtype == "int64"
    np.testing.assert_array_equal(sg.function(sym, out)(*args), np.arange(*args))
    check_op(lambda *a: arange(*a), [np.int64(a) for a in args], lambda *a: np.arange(*a))
    const = arange(*args)
    assert const.type.shape == (len(np.arange(*args)),)


@pytest.mark.parametrize("args", [(0.0, 1.0, 0.1), (2.5,), (1.0, -1.0, -0.3), (0.5, 0.5, 1.0)])
def test_arange_floats(args):
    check_op(lambda *a: arange(*a), [np.float64(a) for a in args], lambda *a: np.arange(*a))
    assert arange(*args).type.shape == (len(np.arange(*args)),)


def test_arange_dtypes():
    assert arange(T.iscalar()).dtype == "int64"
    assert arange(T.bscalar(), T.wscalar()).dtype == "int64"
    assert arange(T.fscalar()).dtype == "float32"
    assert arange(T.fscalar(), T.dscalar()).dtype == "float64"
    assert arange(2.5).dtype == T.as_tensor_variable(2.5).dtype
    assert arange(0.1).dtype == T.as_tensor_variable(0.1).dtype
    assert arange(5, dtype="float32").dtype == "float32"
    assert isinstance(arange(3).owner.op, ARange)


def test_arange_grad():
    # start shifts every value; step scales the index; stop only sets the length
    check_op(lambda a, s: arange(a, 2.95, s), [np.float64(0.3), np.float64(0.5)],
             lambda a, s: np.arange(a, 2.95, s), grad=True)
    a = T.dscalar("a")
    assert sg.grad(arange(a, 10.0).sum(), a, disconnected_inputs="ignore") is not None


def test_arange_errors():
    with pytest.raises(ValueError, match="step must not be 0"):
        arange(0, 5, 0)
    with pytest.raises(TypeError, match="arange: stop must be a real scalar, got v"):
        arange(T.vector("v"))
    s = T.lscalar("s")
    with pytest.raises(ValueError, match="step is 0"):
        sg.function([s], arange(0, 5, s))(0)


# --- tile ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, reps", [((3,), (2,)), ((2, 3), (2, 1)), ((3,), (2, 2)),
                                         ((2, 3), (3,)), ((2, 3), 2), ((0, 2), (2, 3)),
                                         ((1, 2), (3, 0))])
def test_tile(shape, reps, rng):
    check_op(lambda x: tile(x, reps), [_vals(shape, rng)], lambda x: np.tile(x, reps), grad=True)


def test_tile_symbolic_and_ndim(rng):
    x = _vals((2, 3), rng)
    check_op(lambda x, r: tile(x, (r, 2)), [x, np.int64(3)], lambda x, r: np.tile(x, (3, 2)),
             grad=True, grad_inputs=[0])
    check_op(lambda x: tile(x, (2,), ndim=3), [x], lambda x: np.tile(x, (1, 1, 2)))
    assert tile(TensorType("float64", (2, 3))("t"), (2, 2)).type.shape == (4, 6)
    with pytest.raises(ValueError, match=r"tile: ndim=1 must be at least x.ndim \(2\)"):
        tile(T.matrix("m"), (2,), ndim=1)


# --- repeat --------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, repeats, axis", [
    ((3,), 2, 0), ((2, 3), 3, None), ((2, 3), [1, 0, 2], 1), ((2, 3), 2, -2), ((2, 3), 0, 1),
    ((0, 3), 2, 0), ((3, 2), [2], 0),
])
def test_repeat(shape, repeats, axis, rng):
    check_op(lambda x: repeat(x, repeats, axis), [_vals(shape, rng)],
             lambda x: np.repeat(x, repeats, axis), grad=True)


def test_repeat_symbolic(rng):
    x = _vals((3, 2), rng)
    r = np.array([2, 0, 1], dtype="int64")
    check_op(lambda x, r: repeat(x, r, 0), [x, r], lambda x, r: np.repeat(x, r, 0), grad=True,
             grad_inputs=[0])
    check_op(lambda x, r: repeat(x, r, 1), [x, np.int64(3)], lambda x, r: np.repeat(x, 3, 1),
             grad=True, grad_inputs=[0])
    t = TensorType("float64", (3, None))("t")
    assert repeat(t, 2, 0).type.shape == (6, None)
    assert repeat(t, [1, 2, 3], 0).type.shape == (6, None)
    assert isinstance(repeat(t, 2, 0).owner.op, Repeat)


def test_repeat_second_derivative():
    x, r = T.dvector("x"), np.array([1, 3])
    g = sg.grad((repeat(x, r) ** 3).sum(), x)  # r_i x_i^3 -> 3 r_i x_i^2 -> 6 r_i x_i
    h = sg.grad(g.sum(), x)
    np.testing.assert_allclose(sg.function([x], h)(np.array([1.0, 2.0])), [6.0, 36.0])


def test_repeat_errors():
    t = TensorType("float64", (3, None))("t")
    with pytest.raises(ValueError, match=r"repeat: 2 repeats for the 3 slices of axis 0 of t"):
        repeat(t, [1, 2], 0)
    with pytest.raises(ValueError, match="negative repeats"):
        repeat(t, -1, 0)
    with pytest.raises(TypeError, match="integer scalar or vector"):
        repeat(t, 1.5, 0)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        repeat(t, 2, 2)
    x, r = T.vector("x"), T.lvector("r")
    f = sg.function([x, r], repeat(x, r))
    with pytest.raises(ValueError, match=r"cannot repeat the 3 slices of axis 0 of x"):
        f(np.zeros(3), np.array([1, 2]))
