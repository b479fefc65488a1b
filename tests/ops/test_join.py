"""Tests for symgraph/ops/join.py: join / concatenate, split, stack, MakeVector, h/vstack."""

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.ops.join import (
    Join,
    MakeVector,
    Split,
    concatenate,
    horizontal_stack,
    join,
    split,
    stack,
    vertical_stack,
)
from symgraph.types import TensorType
from tests.helpers import check_op


def _vals(shape, rng):
    return rng.standard_normal(shape)


# --- join / concatenate --------------------------------------------------------------------------

JOINS = [
    ([(2, 3), (4, 3)], 0),
    ([(2, 3), (2, 1), (2, 0)], 1),
    ([(2, 3), (2, 2)], -1),
    ([(0, 3), (2, 3)], 0),
    ([(2, 3, 4), (2, 1, 4)], 1),
    ([(5,), (1,), (3,)], 0),
]


@pytest.mark.parametrize("shapes, axis", JOINS)
def test_concatenate(shapes, axis, rng):
    values = [_vals(s, rng) for s in shapes]
    check_op(lambda *xs: concatenate(list(xs), axis=axis), values,
             lambda *xs: np.concatenate(xs, axis=axis), grad=True, broadcastable=False)


def test_join_theano_order_and_broadcastable(rng):
    a, b = _vals((1, 3), rng), _vals((1, 2), rng)
    # static size-1 dims: the other axis keeps its static size
    check_op(lambda a, b: join(1, a, b), [a, b], lambda a, b: np.concatenate([a, b], 1), grad=True)
    out = join(1, T.row("r"), T.row("s"))
    assert out.type.shape == (1, None)
    assert isinstance(out.owner.op, Join)
    x = T.matrix("x")
    assert join(0, x) is x


def test_join_static_shape():
    a = TensorType("float64", (3, 4))("a")
    b = TensorType("float64", (None, 4))("b")
    assert join(0, a, b).type.shape == (None, 4)
    assert join(0, a, a).type.shape == (6, 4)
    assert join(1, a, T.matrix()).type.shape == (3, None)


def test_join_dtype_upcast(rng):
    i = rng.integers(0, 5, (2, 3)).astype("int32")
    f = rng.standard_normal((1, 3)).astype("float32")
    assert join(0, T.imatrix(), T.fmatrix()).dtype == "float64"
    check_op(lambda i, f: join(0, i, f), [i, f], lambda i, f: np.concatenate([i, f]), grad=True,
             grad_inputs=[1], broadcastable=False)


def test_join_second_derivative():
    a, b = T.dvector("a"), T.dvector("b")
    g = sg.grad((join(0, a, b) ** 3).sum(), a)
    h = sg.grad(g.sum(), a)
    np.testing.assert_allclose(sg.function([a, b], h)(np.array([1.0, 2.0]), np.ones(1)), [6, 12])


def test_join_errors():
    a = TensorType("float64", (3, 4))("a")
    b = TensorType("float64", (5, 6))("b")
    with pytest.raises(ValueError, match=r"cannot join a .*\(3, 4\) and b .*\(5, 6\) along axis 0"):
        join(0, a, b)
    with pytest.raises(ValueError, match=r"concatenate|cannot join"):
        concatenate([a, b], axis=0)
    with pytest.raises(TypeError, match=r"same number of dimensions.*a .*2 and v .*1"):
        join(0, a, T.vector("v"))
    with pytest.raises(TypeError, match="list or tuple"):
        concatenate(a, axis=0)
    with pytest.raises(TypeError, match="first argument is the axis"):
        join([a, a], 0)
    with pytest.raises(NotImplementedError, match="symbolic axis"):
        join(T.lscalar("k"), a, a)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        join(2, a, a)
    with pytest.raises(TypeError, match="cannot join scalars"):
        Join(0)(T.scalar(), T.scalar())
    with pytest.raises(ValueError, match="at least one"):
        join(0)


def test_join_runtime_error():
    x, y = T.matrix("x"), T.matrix("y")
    f = sg.function([x, y], join(0, x, y))
    with pytest.raises(ValueError, match=r"cannot join x .*\(2, 3\) and y .*\(2, 4\) along axis 0"):
        f(np.zeros((2, 3)), np.zeros((2, 4)))


# --- split ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, sizes, axis", [((5,), [2, 3], 0), ((4, 3), [1, 0, 2], 1),
                                                ((4, 3), [4], 0), ((0, 2), [0, 0], 0),
                                                ((2, 6), [3, 3], -1)])
def test_split(shape, sizes, axis, rng):
    def ref(x):
        return np.split(x, np.cumsum(sizes)[:-1], axis=axis)

    def build(x):
        out = split(x, sizes, len(sizes), axis)
        return out if len(sizes) > 1 else [out]

    check_op(build, [_vals(shape, rng)], ref, grad=True, broadcastable=False)


def test_split_symbolic_sizes(rng):
    x = _vals((6, 2), rng)
    check_op(lambda x, s: split(x, s, 3), [x, np.array([1, 2, 3], dtype="int64")],
             lambda x, s: np.split(x, [1, 3]), grad=True, grad_inputs=[0])
    check_op(lambda x, n: split(x, [n, 6 - n], 2), [x, np.int64(4)],
             lambda x, n: np.split(x, [4]), grad=True, grad_inputs=[0])


def test_split_static_and_partial_grad():
    x = TensorType("float64", (5, None))("x")
    a, b = split(x, [2, 3], 2)
    assert a.type.shape == (2, None) and b.type.shape == (3, None)
    assert isinstance(a.owner.op, Split)
    single = split(x, [5], 1)
    assert single.type.shape == (5, None)  # n_splits=1 gives the tensor itself, as Theano
    g = sg.grad((b ** 2).sum(), x)  # a gets no gradient: zeros go into its slot
    val = np.arange(10.0).reshape(5, 2)
    np.testing.assert_allclose(sg.function([x], g)(val), np.r_[np.zeros((2, 2)), 2 * val[2:]])


def test_split_errors():
    x = TensorType("float64", (5, 2))("x")
    with pytest.raises(ValueError, match=r"sizes \(2, 2\) add up to 4, but axis 0 of x .*size 5"):
        split(x, [2, 2], 2)
    with pytest.raises(ValueError, match="n_splits=3, but 2 sizes"):
        split(x, [2, 3], 3)
    with pytest.raises(ValueError, match="negative size"):
        split(x, [-1, 6], 2)
    with pytest.raises(TypeError, match="cannot split the scalar"):
        split(T.scalar("s"), [1], 1)
    with pytest.raises(TypeError, match="integer"):
        split(x, [2.0, 3.0], 2)
    v, s = T.vector("v"), T.lvector("s")
    f = sg.function([v, s], split(v, s, 2))
    with pytest.raises(ValueError, match=r"cannot cut axis 0 of v .*\(4,\).*sizes \(1, 2\)"):
        f(np.zeros(4), np.array([1, 2]))


# --- stack ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, axis", [((3,), 0), ((3,), 1), ((2, 3), -1), ((0, 2), 1)])
def test_stack(shape, axis, rng):
    values = [_vals(shape, rng) for _ in range(3)]
    check_op(lambda *xs: stack(list(xs), axis=axis), values, lambda *xs: np.stack(xs, axis),
             grad=True, broadcastable=False)


def test_stack_scalars_make_vector(rng):
    a, b = T.dscalar("a"), T.fscalar("b")
    v = stack([a, b, 2])
    assert isinstance(v.owner.op, MakeVector) and v.dtype == "float64"
    assert v.type.shape == (3,)
    check_op(lambda a, b: stack([a, b]), [np.float64(1.5), np.float64(-2.0)],
             lambda a, b: np.array([a, b]), grad=True)
    check_op(lambda a, b: stack(a, b), [np.float64(1.5), np.float64(-2.0)],
             lambda a, b: np.array([a, b]))
    assert stack([T.lscalar(), T.iscalar()]).dtype == "int64"


def test_make_vector_second_derivative():
    a = T.dscalar("a")
    g = sg.grad((stack([a, 2 * a]) ** 3).sum(), a)  # 9 a^3 -> 27 a^2 -> 54 a
    h = sg.grad(g, a)
    assert float(sg.function([a], h)(2.0)) == pytest.approx(108.0)


def test_stack_errors():
    with pytest.raises(TypeError, match="same number of dimensions"):
        stack([T.vector("v"), T.matrix("m")])
    with pytest.raises(ValueError, match="at least one"):
        stack([])
    with pytest.raises(ValueError, match="out of range"):
        stack([T.vector(), T.vector()], axis=2)
    with pytest.raises(TypeError, match="MakeVector.*expected a int64 scalar"):
        MakeVector("int64")(T.dscalar("d"))


def test_horizontal_vertical_stack(rng):
    a, b = _vals((2, 3), rng), _vals((2, 1), rng)
    check_op(horizontal_stack, [a, b], lambda a, b: np.hstack([a, b]), grad=True,
             broadcastable=False)
    check_op(vertical_stack, [a, _vals((1, 3), rng)], lambda a, b: np.vstack([a, b]),
             broadcastable=False)
    u, v = _vals((3,), rng), _vals((3,), rng)
    check_op(horizontal_stack, [u, v], lambda u, v: np.hstack([u, v]))
    check_op(vertical_stack, [u, v], lambda u, v: np.vstack([u, v]), grad=True)
