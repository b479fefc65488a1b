"""as_op: a numpy function wrapped as an Op, on every backend."""

import pickle

import numpy as np
import pytest
from helpers import check_op

import symgraph as sg
import symgraph.tensor as T
from symgraph.compile.ops import FromFunctionOp, as_op


def _infer_shape_numpy_dot(node, input_shapes):
    ashp, bshp = input_shapes
    return [ashp[:-1] + bshp[-1:]]


@as_op(itypes=[T.dmatrix, T.dmatrix], otypes=[T.dmatrix], infer_shape=_infer_shape_numpy_dot)
def numpy_dot(a, b):
    return np.dot(a, b)


@as_op(itypes=[T.fvector], otypes=[T.fvector, T.lscalar])
def scaled_and_count(v):
    return v * 2, len(v)


def test_as_op_runs_everywhere_with_infer_shape():
    a, b = np.arange(6.0).reshape(2, 3), np.ones((3, 4))
    check_op(numpy_dot, [a, b], np.dot, broadcastable=False)
    x, y = T.dmatrix("x"), T.dmatrix("y")
    shape = sg.function([x, y], numpy_dot(x, y).shape)(a, b)
    np.testing.assert_array_equal(shape, (2, 4))


def test_multiple_outputs_are_cast_to_otypes():
    v = T.fvector("v")
    out, n = sg.function([v], scaled_and_count(v))(np.ones(3, "float32"))
    assert out.dtype == np.float32 and n.dtype == np.int64 and int(n) == 3


def test_op_identity_and_pickle():
    assert isinstance(numpy_dot, FromFunctionOp)
    assert numpy_dot == pickle.loads(pickle.dumps(numpy_dot))
    assert "numpy_dot" in str(numpy_dot)


def test_errors():
    with pytest.raises(TypeError, match="input 0 .*expected TensorType\\(float64, matrix\\)"):
        numpy_dot(T.fmatrix("f"), T.dmatrix())
    with pytest.raises(TypeError, match="takes 2 inputs"):
        numpy_dot(T.dmatrix())
    x = T.dmatrix("x")
    with pytest.raises(NotImplementedError, match="as_op and has no gradient"):
        sg.grad(numpy_dot(x, x).sum(), x)
    with pytest.raises(TypeError, match="lists of types"):
        as_op(T.dmatrix, [T.dmatrix])

    @as_op(itypes=[T.dvector], otypes=[T.dvector, T.dvector])
    def one_output(v):
        return v

    with pytest.raises(ValueError, match="returned 1 values, but otypes declares 2"):
        sg.function([v := T.dvector()], one_output(v))(np.ones(2))


def test_compile_namespace():
    import symgraph.compile as compile_

    assert compile_.function is sg.function
    assert compile_.ops.as_op is as_op
