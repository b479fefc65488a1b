"""Dot, BatchedDot and the products built on them (dot, matmul, outer, batched_dot) vs numpy."""

import numpy as np
import pytest
from helpers import check_op
from hypothesis import given, settings
from hypothesis import strategies as st

import symgraph as sg
import symgraph.tensor as T
from symgraph.compile.mode import Mode
from symgraph.gradient import verify_grad
from symgraph.ops.blas import BatchedDot, Dot, batched_dot, dot, matmul, outer
from symgraph.types import TensorType

rng = np.random.default_rng(0)

# shapes that np.dot accepts, for each pair of ranks (contracted size 3)
DOT_SHAPES = {0: (), 1: (3,), 2: (2, 3), 3: (4, 2, 3)}
DOT_SHAPES_B = {0: (), 1: (3,), 2: (3, 2), 3: (4, 3, 2)}


def _values(shape, dtype):
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-4, 5, size=shape).astype(dtype)
    return rng.uniform(-1, 1, size=shape).astype(dtype)


def _run(outputs, inputs, values):
    return sg.function(inputs, outputs, mode=Mode(backend="python", optimizer=None))(*values)


@pytest.mark.parametrize("nda", [0, 1, 2, 3])
@pytest.mark.parametrize("ndb", [0, 1, 2, 3])
def test_dot_matches_numpy_float64_with_grad(nda, ndb):
    a, b = _values(DOT_SHAPES[nda], "float64"), _values(DOT_SHAPES_B[ndb], "float64")
    check_op(dot, [a, b], np.dot, grad=True)


@pytest.mark.parametrize("dtype", ["float32", "int32", "int8"])
@pytest.mark.parametrize("nda,ndb", [(0, 2), (1, 1), (1, 2), (2, 1), (2, 2), (3, 2), (2, 3)])
def test_dot_dtypes_match_numpy(nda, ndb, dtype):
    a, b = _values(DOT_SHAPES[nda], dtype), _values(DOT_SHAPES_B[ndb], dtype)
    check_op(dot, [a, b], np.dot, rtol=1e-5)


@pytest.mark.parametrize("da,db,expected", [("int8", "float32", "float32"),
                                            ("float32", "float64", "float64"),
                                            ("int32", "int64", "int64"),
                                            ("float32", "float32", "float32")])
def test_dot_output_dtype_is_the_upcast(da, db, expected):
    out = dot(T.matrix(dtype=da), T.vector(dtype=db))
    assert out.dtype == expected
    a, b = _values((2, 3), da), _values((3,), db)
    check_op(dot, [a, b], np.dot, rtol=1e-5)


def test_dot_float32_gradient():
    a, b = _values((2, 3), "float32"), _values((3, 4), "float32")
    check_op(dot, [a, b], np.dot, grad=True, rtol=1e-5)


def test_dot_is_one_dot_node_for_vectors_and_matrices():
    x, y = T.matrix("x"), T.vector("y")
    assert isinstance(dot(x, y).owner.op, Dot)
    assert isinstance(x.dot(y).owner.op, Dot)
    assert dot(x, y).type == TensorType("float64", (None,))


def test_dot_static_shape_propagates():
    x = TensorType("float64", (3, 4))("x")
    y = TensorType("float64", (None, 5))("y")
    assert dot(x, y).type.shape == (3, 5)
    assert dot(x, T.vector()).type.shape == (3,)


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 5), st.integers(0, 5), st.integers(1, 5))
def test_dot_random_matrix_shapes(n, k, m):
    x, y = T.matrix("x"), T.matrix("y")
    a, b = _values((n, k), "float64"), _values((k, m), "float64")
    np.testing.assert_allclose(_run(dot(x, y), [x, y], [a, b]), a @ b)


def test_dot_second_derivative():
    def first_grad(x, y):
        return sg.grad((dot(x, y) ** 2).sum(), x)

    verify_grad(first_grad, [_values((2, 3), "float64"), _values((3, 4), "float64")])

    def vec_grad(x, y):
        return sg.grad(T.tanh(dot(x, y)).sum(), y)

    verify_grad(vec_grad, [_values((3,), "float64"), _values((3, 2), "float64")])


def test_dot_integer_input_gets_no_gradient():
    x, y = T.matrix("x"), T.imatrix("y")
    gx, gy = sg.grad(dot(x, y).sum(), [x, y])
    a, b = _values((2, 3), "float64"), _values((3, 2), "int32")
    got = _run([gx, gy], [x, y], [a, b])
    np.testing.assert_allclose(got[0], np.ones((2, 2)) @ b.T)
    assert not got[1].any()


def test_dot_r_op():
    x, y, ex, ey = T.matrix("x"), T.vector("y"), T.matrix("ex"), T.vector("ey")
    node = dot(x, y).owner
    a, b, ea, eb = (_values(s, "float64") for s in [(2, 3), (3,), (2, 3), (3,)])
    (rop,) = node.op.R_op([x, y], [ex, ey])
    np.testing.assert_allclose(_run(rop, [x, y, ex, ey], [a, b, ea, eb]), ea @ b + a @ eb)
    (half,) = node.op.R_op([x, y], [None, ey])
    np.testing.assert_allclose(_run(half, [x, ey], [a, eb]), a @ eb)
    generic = sg.Rop(dot(x, y), [x, y], [ex, ey])
    np.testing.assert_allclose(_run(generic, [x, y, ex, ey], [a, b, ea, eb]), ea @ b + a @ eb)


def test_dot_static_mismatch_names_both_variables_and_lines():
    x = TensorType("float64", (3, 4))("x_left")
    y = TensorType("float64", (5, 6))("y_right")
    with pytest.raises(ValueError) as err:
        dot(x, y)
    msg = str(err.value)
    for part in ("x_left", "y_right", "(3, 4)", "(5, 6)", "test_blas.py", "size 4", "size 5"):
        assert part in msg, msg


def test_dot_static_mismatch_for_higher_ranks():
    x = TensorType("float64", (2, 3, 4))("x3")
    y = TensorType("float64", (7, 5, 6))("y3")
    with pytest.raises(ValueError, match=r"dot: .*x3.*\(2, 3, 4\).*y3.*\(7, 5, 6\)"):
        dot(x, y)
    a, b = T.tensor3("a"), T.matrix("b")
    f = sg.function([a, b], dot(a, b))
    with pytest.raises(ValueError, match=r"dot: .*axes \[2\] .*\(4,\).*\(5,\)"):
        f(np.ones((2, 3, 4)), np.ones((5, 6)))


def test_dot_runtime_mismatch_names_both_shapes():
    x, y = T.matrix("x"), T.matrix("y")
    f = sg.function([x, y], dot(x, y))
    with pytest.raises(ValueError) as err:
        f(np.ones((3, 4)), np.ones((5, 6)))
    msg = str(err.value)
    assert "(3, 4)" in msg and "(5, 6)" in msg and "test_blas.py" in msg, msg


def test_dot_op_rejects_other_ranks():
    with pytest.raises(TypeError, match=r"t3.*3 dimensions.*use dot\(\)"):
        Dot()(T.tensor3("t3"), T.matrix())
    with pytest.raises(TypeError, match="s0"):
        Dot()(T.scalar("s0"), T.vector())


# --- matmul ----------------------------------------------------------------------------------

MATMUL_CASES = [
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)),
    ((3,), (5, 3, 4)),
    ((5, 2, 3), (3,)),
    ((5, 2, 3), (5, 3, 4)),
    ((1, 2, 3), (5, 3, 4)),  # static size 1 broadcasts
    ((4, 1, 2, 3), (5, 3, 2)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_CASES)
def test_matmul_matches_numpy(sa, sb):
    a, b = _values(sa, "float64"), _values(sb, "float64")
    check_op(matmul, [a, b], np.matmul, grad=True)


def test_matmul_operator_and_int_dtype():
    check_op(lambda x, y: x @ y, [_values((2, 2, 3), "int32"), _values((3, 2), "int32")],
             np.matmul)
    check_op(lambda x, y: y.__rmatmul__(x), [_values((2, 3), "float32"), _values((3,), "float32")],
             np.matmul, rtol=1e-5)


def test_matmul_rejects_scalars():
    with pytest.raises(ValueError, match=r"matmul: sc .*scalar"):
        matmul(T.scalar("sc"), T.matrix())


def test_matmul_runtime_batch_mismatch():
    x, y = T.tensor3("x"), T.tensor3("y")
    f = sg.function([x, y], matmul(x, y))
    with pytest.raises(ValueError, match=r"batch sizes differ.*\(2, 3, 4\).*\(5, 4, 2\)"):
        f(np.ones((2, 3, 4)), np.ones((5, 4, 2)))
    with pytest.raises(ValueError, match=r"\(2, 3, 4\) and \(2, 5, 2\) are not aligned"):
        f(np.ones((2, 3, 4)), np.ones((2, 5, 2)))


def test_matmul_static_batch_mismatch():
    x = TensorType("float64", (2, 3, 4))("xb")
    y = TensorType("float64", (5, 4, 2))("yb")
    with pytest.raises(ValueError, match=r"xb.*yb.*cannot be broadcast"):
        matmul(x, y)


def test_batched_dot_op_checks_ranks():
    with pytest.raises(TypeError, match="m2 .*has 2 dimensions"):
        BatchedDot()(T.matrix("m2"), T.tensor3())
    with pytest.raises(TypeError, match="t3 .*has 3 dimensions but t4 .*has 4"):
        BatchedDot()(T.tensor3("t3"), T.tensor4("t4"))


def test_batched_dot_second_derivative_and_r_op():
    def first_grad(x, y):
        return sg.grad((matmul(x, y) ** 2).sum(), y)

    verify_grad(first_grad, [_values((2, 2, 3), "float64"), _values((2, 3, 2), "float64")])
    x, y, ex, ey = T.tensor3("x"), T.tensor3("y"), T.tensor3("ex"), T.tensor3("ey")
    vals = [_values(s, "float64") for s in [(2, 2, 3), (2, 3, 4), (2, 2, 3), (2, 3, 4)]]
    (rop,) = matmul(x, y).owner.op.R_op([x, y], [ex, ey])
    np.testing.assert_allclose(_run(rop, [x, y, ex, ey], vals),
                               vals[2] @ vals[1] + vals[0] @ vals[3])


# --- outer, batched_dot ------------------------------------------------------------------------


def test_outer():
    check_op(outer, [_values((3,), "float64"), _values((4,), "float64")], np.outer, grad=True)
    check_op(outer, [_values((2, 2), "float64"), _values((3,), "float64")], np.outer, grad=True)


def _np_batched_dot(a, b):
    return np.stack([np.dot(x, y) for x, y in zip(a, b)])


@pytest.mark.parametrize("sa,sb", [
    ((4, 3), (4, 3)),
    ((4, 2, 3), (4, 3)),
    ((4, 3), (4, 3, 2)),
    ((4, 2, 3), (4, 3, 5)),
    ((4, 2, 3, 2), (4, 2, 5)),
    ((4, 2, 3), (4, 2, 3, 2)),
])
def test_batched_dot_matches_numpy(sa, sb):
    a, b = _values(sa, "float64"), _values(sb, "float64")
    check_op(batched_dot, [a, b], _np_batched_dot, grad=True)


def test_batched_dot_with_a_vector_scales():
    a, b = _values((4,), "float64"), _values((4, 2, 3), "float64")
    check_op(batched_dot, [a, b], lambda a, b: a[:, None, None] * b, grad=True)
    check_op(batched_dot, [b, a], lambda b, a: a[:, None, None] * b)


def test_batched_dot_errors():
    with pytest.raises(TypeError, match="batched_dot: sc .*is a scalar"):
        batched_dot(T.scalar("sc"), T.matrix())
    f = sg.function(*(lambda x, y: ([x, y], batched_dot(x, y)))(T.tensor3("x"), T.tensor3("y")))
    with pytest.raises(ValueError, match="batch sizes differ"):
        f(np.ones((2, 3, 4)), np.ones((3, 4, 2)))
