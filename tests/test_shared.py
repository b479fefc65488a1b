"""Shared variables: values, borrowing, types and pickling."""

import pickle

import numpy as np
import pytest

import symgraph as sg


def test_get_and_set_value_copy_unless_borrowed():
    value = np.arange(3.0)
    s = sg.shared(value, name="s")
    value[0] = 100
    assert s.get_value()[0] == 0  # shared() copied
    s.get_value()[1] = 50
    assert s.get_value()[1] == 1  # get_value() copies
    s.get_value(borrow=True)[1] = 50
    assert s.get_value()[1] == 50
    new = np.ones(3)
    s.set_value(new)
    new[0] = 7
    assert s.get_value()[0] == 1
    s.set_value(new, borrow=True)
    assert s.get_value(borrow=True) is new
    b = sg.shared(value, borrow=True)
    assert b.get_value(borrow=True) is value


def test_set_value_checks_type_and_allows_new_shape():
    s = sg.shared(np.zeros((2, 2), dtype="float32"), name="W")
    s.set_value(np.ones((3, 5), dtype="float32"))
    assert s.get_value().shape == (3, 5)
    with pytest.raises(TypeError, match=r"(?s)'W'.*float32"):
        s.set_value(np.ones((2, 2)))  # float64 -> float32 would lose precision
    with pytest.raises(TypeError, match="dimensions"):
        s.set_value(np.ones(3, dtype="float32"))


def test_shared_scalars_and_types():
    assert sg.shared(0).dtype == "int64"
    assert sg.shared(0.5).dtype == "float64"
    assert sg.shared(np.zeros((2, 1)), broadcastable=(False, True)).broadcastable == (False, True)
    with pytest.raises(TypeError, match="symbolic"):
        sg.shared(sg.tensor.dvector())


def test_shared_pickles_with_value():
    s = sg.shared(np.arange(4.0), name="s")
    t = pickle.loads(pickle.dumps(s))
    np.testing.assert_array_equal(t.get_value(), s.get_value())
    assert t.name == "s" and t.type == s.type
