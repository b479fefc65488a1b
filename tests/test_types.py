"""Constructors, TensorType, constants and dtype promotion."""

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.types import TensorType


@pytest.mark.parametrize(
    "prefix,dtype",
    [
        ("b", "int8"),
        ("w", "int16"),
        ("i", "int32"),
        ("l", "int64"),
        ("f", "float32"),
        ("d", "float64"),
        ("c", "complex64"),
        ("z", "complex128"),
    ],
)
def test_prefixed_constructors(prefix, dtype):
    for kind, ndim in [
        ("scalar", 0),
        ("vector", 1),
        ("matrix", 2),
        ("row", 2),
        ("col", 2),
        ("tensor3", 3),
        ("tensor4", 4),
        ("tensor5", 5),
        ("tensor6", 6),
        ("tensor7", 7),
    ]:
        v = getattr(T, prefix + kind)("v")
        assert v.dtype == dtype and v.ndim == ndim and v.name == "v"
    assert T.row().broadcastable == (True, False)
    assert T.col().broadcastable == (False, True)
    a, b = getattr(T, prefix + "scalars")("a", "b")
    assert (a.name, b.name, a.dtype) == ("a", "b", dtype)
    assert len(getattr(T, prefix + "matrices")(3)) == 3


def test_unprefixed_constructors_use_floatx():
    assert T.matrix().dtype == sg.config.floatX
    assert T.vector(dtype="int32").dtype == "int32"
    t = T.tensor("float32", shape=(None, 1, 3), name="t")
    assert t.type.shape == (None, 1, 3) and t.broadcastable == (False, True, False)
    assert T.tensor(dtype="float64", broadcastable=(True, False)).type.shape == (1, None)


def test_tensortype_equality_and_theano_spelling():
    assert TensorType("float64", (False, True)) == TensorType("float64", shape=(None, 1))
    assert hash(TensorType("float32", (None,))) == hash(TensorType("float32", (None,)))
    x = TensorType("float64", (False, False))("x")
    assert x.type == T.dmatrix().type
    assert str(T.fmatrix().type) == "TensorType(float32, matrix)"


def test_constants_and_python_autocast():
    assert T.constant(1).dtype == "int8"
    assert T.constant(1000).dtype == "int16"
    assert T.constant(2.0).dtype == "float32"
    assert T.constant(0.1).dtype == "float64"
    c = T.as_tensor_variable(np.arange(6).reshape(2, 3))
    assert c.type.shape == (2, 3)
    np.testing.assert_array_equal(c.eval(), np.arange(6).reshape(2, 3))


def test_filter_errors():
    t = T.dvector("vec").type
    with pytest.raises(TypeError, match="2 dimensions"):
        t.filter(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="lose precision"):
        T.ivector().type.filter(np.array([1.5, 2.0]))
    np.testing.assert_array_equal(T.ivector().type.filter([1, 2]), [1, 2])
    with pytest.raises(ValueError, match="static shape"):
        TensorType("float64", (3,)).filter(np.zeros(4))


def test_symbolic_truth_value_and_iteration_are_refused():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="truth value"):
        bool(x > 0)
    with pytest.raises(TypeError, match="not iterable"):
        list(x)
