"""Bad scans fail with errors that say what is wrong, where, and what to do."""

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.scan import until

HERE = __file__.rsplit("/", 1)[-1]


def test_float32_state_with_float64_output_suggests_a_cast():
    h0 = T.fvector("h0")
    w = T.dvector("w")
    with pytest.raises(TypeError) as err:
        sg.scan(lambda h: h * w, outputs_info=h0, n_steps=3)
    msg = str(err.value)
    assert "output 0" in msg and "float64" in msg and "float32" in msg
    assert "astype('float32')" in msg and HERE in msg


def test_state_changing_rank_is_refused():
    with pytest.raises(TypeError, match="number of dimensions"):
        sg.scan(lambda h: h.sum(), outputs_info=T.dvector("h0"), n_steps=2)


def test_state_changing_shape_at_run_time():
    h0 = T.dvector("h0")
    out, _ = sg.scan(lambda h: T.concatenate([h, h]), outputs_info=h0, n_steps=2)
    f = sg.function([h0], out)
    with pytest.raises(ValueError, match="shape"):
        f(np.ones(2))


def test_sequence_too_short_for_n_steps_names_both_lengths():
    x, y = T.dvector("x"), T.dvector("y")
    out, _ = sg.scan(lambda a, b: a + b, sequences=[x, y], n_steps=4)
    f = sg.function([x, y], out)
    np.testing.assert_allclose(f(np.ones(4), np.ones(6)), 2 * np.ones(4))
    with pytest.raises(ValueError) as err:
        f(np.ones(4), np.ones(3))
    msg = str(err.value)
    assert "'y'" in msg or "y " in msg
    assert "3 elements" in msg and "need 4" in msg


def test_shortest_sequence_decides_without_n_steps():
    # Theano semantics (its polynomial tutorial relies on it)
    x, y = T.dvector("x"), T.dvector("y")
    out, _ = sg.scan(lambda a, b: a * b, sequences=[x, y])
    np.testing.assert_allclose(sg.function([x, y], out)(np.ones(3), np.arange(5.0)), [0, 1, 2])


def test_negative_n_steps():
    with pytest.raises(ValueError, match=">= 0"):
        sg.scan(lambda h: h, outputs_info=T.dscalar("h"), n_steps=-2)
    n = T.iscalar("n")
    h = T.dscalar("h")
    out, _ = sg.scan(lambda h: h + 1, outputs_info=h, n_steps=n)
    with pytest.raises(ValueError, match="n_steps must be >= 0"):
        sg.function([h, n], out)(0.0, -1)


def test_n_steps_contradicting_a_static_length():
    x = T.tensor("float64", shape=(3,), name="x")
    with pytest.raises(ValueError, match="contradicts sequence 0"):
        sg.scan(lambda a: a, sequences=x, n_steps=5)


def test_n_steps_must_be_an_integer():
    with pytest.raises(TypeError, match="integer"):
        sg.scan(lambda h: h, outputs_info=T.dscalar("h"), n_steps=T.dscalar("n"))


def test_no_number_of_steps():
    with pytest.raises(ValueError, match="number of steps"):
        sg.scan(lambda h: h, outputs_info=T.dscalar("h"))


def test_until_needs_a_scalar_boolean():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="scalar boolean"):
        sg.scan(lambda h: (h * 2, until(h > 1)), outputs_info=x, n_steps=4)
    with pytest.raises(TypeError, match="comparison"):
        sg.scan(lambda h: (h * 2, until(h.sum())), outputs_info=x, n_steps=4)


def test_wrong_number_of_outputs():
    with pytest.raises(ValueError) as err:
        sg.scan(lambda h: [h, h * 2], outputs_info=[T.dscalar("h")], n_steps=2)
    assert "returned 2 output(s)" in str(err.value) and "1 entries" in str(err.value)


def test_unparseable_return_value():
    with pytest.raises(ValueError, match="cannot understand"):
        sg.scan(lambda h: (h, "oops"), outputs_info=T.dscalar("h"), n_steps=2)


def test_positive_output_taps_are_refused():
    with pytest.raises(ValueError, match="negative taps"):
        sg.scan(lambda h: h, outputs_info=dict(initial=T.dvector("h"), taps=[1]), n_steps=2)


def test_initial_state_too_short_for_taps():
    h0 = T.dmatrix("h0")
    out, _ = sg.scan(lambda a, b: a + b, outputs_info=dict(initial=h0, taps=[-3, -1]), n_steps=2)
    f = sg.function([h0], out)
    with pytest.raises(ValueError, match="2 rows, but taps"):
        f(np.ones((2, 2)))


def test_shared_update_of_the_wrong_dtype():
    s = sg.shared(np.zeros(2, dtype="float32"), name="s")
    with pytest.raises(TypeError, match="same type"):
        sg.scan(lambda x: {s: s + x}, sequences=T.dmatrix("x"))


def test_strict_refuses_free_variables():
    w = T.dvector("w_free")
    with pytest.raises(ValueError, match="w_free"):
        sg.scan(lambda x: x * w, sequences=T.dmatrix("x"), strict=True)


def test_scalar_sequence():
    with pytest.raises(TypeError, match="scalar"):
        sg.scan(lambda a: a, sequences=T.dscalar("s"))


def test_error_inside_a_step_names_the_step():
    x = T.dmatrix("x")
    out, _ = sg.scan(lambda a: T.specify_shape(a, (2,)), sequences=x)
    f = sg.function([x], out)
    with pytest.raises(AssertionError, match="at step 0"):
        f(np.ones((3, 4)))


def test_default_update_of_a_shared_variable_joins_the_updates():
    counter = sg.shared(np.int64(0), name="counter")
    counter.default_update = counter + 1
    x = T.dvector("x")
    out, updates = sg.scan(lambda a: a * T.cast(counter, "float64"), sequences=x)
    assert counter in updates
    f = sg.function([x], out, updates=updates)
    np.testing.assert_allclose(f(np.ones(3)), [0.0, 1.0, 2.0])
    assert counter.get_value() == 3


def test_state_of_a_static_shape_changing_at_run_time_names_the_initial_state():
    # scan() checks such a state with SpecifyShape; the loop runs the step without it and
    # compares each step's state with the initial one
    x = T.dmatrix("x")
    h0 = T.specify_shape(x, (2, None))
    out, _ = sg.scan(lambda h: h[:, ::2], outputs_info=h0, n_steps=2)
    f = sg.function([x], out)
    with pytest.raises(ValueError, match="initial state"):
        f(np.ones((2, 4)))
