"""function(): inputs, outputs, defaults, updates, givens, copies, pickling and bad input."""

import pickle

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.compile.mode import Mode
from symgraph.fgraph import MissingInputError
from symgraph.function import UnusedInputError


def test_adding_two_scalars_and_matrices():
    x, y = T.dscalars("x", "y")
    f = sg.function([x, y], x + y)
    assert f(2, 3) == 5.0
    assert isinstance(f(2, 3), np.ndarray)
    a, b = T.dmatrices("a", "b")
    g = sg.function([a, b], a + b)
    np.testing.assert_array_equal(g([[1, 2], [3, 4]], [[10, 20], [30, 40]]), [[11, 22], [33, 44]])


def test_several_outputs_and_no_outputs():
    a, b = T.dmatrices("a", "b")
    diff = a - b
    f = sg.function([a, b], [diff, abs(diff), diff**2])
    out = f([[1, 1], [1, 1]], [[0, 1], [2, 3]])
    assert isinstance(out, list) and len(out) == 3
    np.testing.assert_array_equal(out[2], [[1, 0], [1, 4]])
    assert sg.function([a], [], on_unused_input="ignore")(np.zeros((1, 1))) == []


def test_default_values_and_keywords():
    x, y, w = T.dscalars("x", "y", "w")
    z = (x + y) * w
    f = sg.function([x, sg.In(y, value=1), sg.In(w, value=2, name="w_by_name")], z)
    assert f(33) == 68
    assert f(33, 2) == 70
    assert f(33, 0, 1) == 33
    assert f(33, w_by_name=1) == 34
    assert f(33, w_by_name=1, y=0) == 33
    with pytest.raises(TypeError, match="missing required input 'x'"):
        f()
    with pytest.raises(TypeError, match="unknown keyword"):
        f(1, nope=3)


def test_shared_accumulator_with_updates():
    state = sg.shared(0)
    inc = T.iscalar("inc")
    accumulator = sg.function([inc], state, updates=[(state, state + inc)])
    assert accumulator(1) == 0
    assert state.get_value() == 1
    accumulator(300)
    assert state.get_value() == 301
    state.set_value(-1)
    accumulator(3)
    assert state.get_value() == 2
    decrementor = sg.function([inc], state, updates=[(state, state - inc)])
    decrementor(2)
    assert state.get_value() == 0


def test_updates_are_simultaneous():
    a = sg.shared(1.0, name="a")
    b = sg.shared(2.0, name="b")
    f = sg.function([], [a, b], updates={a: b, b: a})
    f()
    assert (a.get_value(), b.get_value()) == (2.0, 1.0)


def test_givens_replace_a_shared_variable():
    state = sg.shared(0)
    inc = T.iscalar("inc")
    fn_of_state = state * 2 + inc
    foo = T.scalar(dtype=state.dtype)
    skip_shared = sg.function([inc, foo], fn_of_state, givens=[(state, foo)])
    assert skip_shared(1, 3) == 7
    assert state.get_value() == 0


def test_copy_swaps_shared_state():
    state = sg.shared(0, name="state")
    inc = T.iscalar("inc")
    acc = sg.function([inc], state, updates=[(state, state + inc)])
    acc(10)
    new_state = sg.shared(0, name="new_state")
    acc2 = acc.copy(swap={state: new_state})
    acc2(100)
    assert new_state.get_value() == 100 and state.get_value() == 10
    acc3 = acc.copy(delete_updates=True)
    acc3(5)
    assert state.get_value() == 10


def test_function_pickles_with_its_shared_state():
    x = T.dvector("x")
    w = sg.shared(np.arange(3.0), name="w")
    f = sg.function([x], (x * w).sum(), updates=[(w, w + 1)])
    f(np.ones(3))
    g = pickle.loads(pickle.dumps(f))  # carries its own copy of w, now [1, 2, 3]
    assert g(np.ones(3)) == 6.0
    np.testing.assert_array_equal(w.get_value(), [1, 2, 3])  # the original is untouched
    assert f(np.ones(3)) == 6.0
    f2, w2 = pickle.loads(pickle.dumps((f, w)))  # pickled together: still one shared variable
    f2(np.ones(3))
    np.testing.assert_array_equal(w2.get_value(), [3, 4, 5])


def test_pickled_function_computes_the_same():
    x = T.dmatrix("x")
    w = sg.shared(np.ones((3, 2)), name="w")
    f = sg.function([x], T.tanh(T.exp(x) * 2).sum(axis=0))
    g = pickle.loads(pickle.dumps(f))
    v = np.random.default_rng(0).normal(size=(4, 3))
    np.testing.assert_allclose(g(v), f(v))
    h = sg.function([x], (x.sum(axis=0, keepdims=True) * w.T).sum(), updates=[(w, w * 2)])
    h2 = pickle.loads(pickle.dumps(h))
    assert h2(v) == h(v)


def test_outputs_are_not_aliased_to_inputs_or_internal_buffers():
    x = T.dvector("x")
    f = sg.function([x], x.T)
    v = np.arange(3.0)
    out = f(v)
    out[0] = 100
    assert v[0] == 0


def test_input_checks_name_the_variable():
    x = T.fmatrix("x")
    f = sg.function([x], x * 2)
    with pytest.raises(TypeError, match=r"(?s)'x'.*test_function.py.*float32.*float64"):
        f(np.ones((2, 2)))
    with pytest.raises(TypeError, match="2 dimensions"):
        f(np.ones(3, dtype="float32"))
    g = sg.function([x], x * 2, allow_input_downcast=True)
    assert g(np.ones((2, 2))).dtype == np.float32
    assert f([[1.0, 2.0]]).dtype == np.float32  # python floats may become floatX/float32


def test_missing_unused_and_duplicate_inputs():
    x, y = T.dvectors("x", "y")
    with pytest.raises(MissingInputError, match=r"'y'.*test_function.py"):
        sg.function([x], x + y)
    with pytest.raises(UnusedInputError, match="'y'"):
        sg.function([x, y], x * 2)
    with pytest.warns(UserWarning):
        sg.function([x, y], x * 2, on_unused_input="warn")
    sg.function([x, y], x * 2, on_unused_input="ignore")
    with pytest.raises(ValueError, match="given twice"):
        sg.function([x, x], x * 2)


def test_update_type_mismatch_names_both_and_suggests_cast():
    w = sg.shared(np.zeros(3, dtype="float32"), name="W")
    x = T.dvector("x")
    with pytest.raises(TypeError, match=r"(?s)W.*float32.*float64.*astype\('float32'\)"):
        sg.function([x], x, updates=[(w, w + x)])
    with pytest.raises(TypeError, match="not a shared variable"):
        sg.function([x], x, updates=[(x, x + 1)])


def test_shared_variable_as_explicit_input_is_refused():
    w = sg.shared(np.zeros(3), name="W")
    with pytest.raises(TypeError, match="givens"):
        sg.function([w], w * 2)


def test_eval_and_mode_names():
    x = T.dvector("x")
    np.testing.assert_array_equal((x * 2).eval({x: np.ones(2)}), [2, 2])
    for mode in [
        "FAST_RUN",
        "FAST_COMPILE",
        sg.Mode(linker="py"),
        sg.Mode(linker="cvm"),
        sg.Mode(linker="c|py", optimizer="fast_compile"),
        sg.Mode(optimizer=None),
    ]:
        f = sg.function([x], T.exp(x).sum(), mode=mode)
        np.testing.assert_allclose(f(np.zeros(3)), 3.0)
    mode = sg.Mode().excluding("fusion").including("merge")
    assert "fusion" not in mode.pass_names()
    from symgraph.compile.mode import get_default_mode

    assert get_default_mode() is not None


def test_trust_input_skips_checks():
    x = T.dvector("x")
    f = sg.function([x], x + 1)
    f.trust_input = True
    np.testing.assert_array_equal(f(np.zeros(2)), [1, 1])


def test_maker_fgraph_is_exposed():
    x = T.dvector("x")
    f = sg.function([x], T.exp(x), name="expo")
    assert f.name == "expo"
    assert len(f.maker.fgraph.toposort()) >= 1


@pytest.mark.parametrize("backend", ["python", "llvm", "c"])
def test_returned_arrays_are_never_overwritten_by_later_calls(backend):
    # Outputs are returned without a copy when the program made them in its own buffers;
    # a result the caller keeps must survive the next calls all the same.
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = sg.function([x, y], [T.exp(x) + y, T.sum(x * y, axis=0), T.dot(x, y)],
                    mode=Mode(backend=backend))
    a, b = np.random.default_rng(0).standard_normal((2, 4, 4))
    kept = [f(a, b) for _ in range(3)]
    f(a + 1, b - 1)
    f(a + 2, b * 3)
    for outs in kept:
        for got, want in zip(outs, [np.exp(a) + b, (a * b).sum(0), a @ b]):
            np.testing.assert_allclose(got, want)
    assert all(o1 is not o2 for o1, o2 in zip(kept[0], kept[1]))


@pytest.mark.parametrize("backend", ["python", "llvm"])
def test_outputs_aliasing_inputs_or_shared_state_are_copies(backend):
    x = T.dvector("x")
    w = sg.shared(np.zeros(3), name="w")
    mode = Mode(backend=backend)
    identity = sg.function([x], [x, x.T, w], mode=mode)
    v = np.arange(3.0)
    outs = identity(v)
    assert not any(np.shares_memory(o, v) or np.shares_memory(o, w.get_value(borrow=True))
                   for o in outs)
    step = sg.function([x], w + x, updates=[(w, w + x)], mode=mode)
    out = step(v)
    assert not np.shares_memory(out, w.get_value(borrow=True))
    step(v)
    np.testing.assert_array_equal(out, v)  # the update did not write into the returned array


def test_trust_input_can_be_switched_after_compiling():
    x = T.dvector("x")
    f = sg.function([x], x * 2)
    f.trust_input = True
    np.testing.assert_array_equal(f(np.arange(3.0)), [0, 2, 4])
    f.trust_input = False
    np.testing.assert_array_equal(f([1, 2]), [2, 4])  # converted again
    with pytest.raises(TypeError, match="'x'"):
        f(np.zeros((2, 2)))


def test_an_intermediate_variable_as_input_cuts_the_graph_there():
    """Theano's function takes any variable as an input: what computes it is not run (Lasagne's
    tests evaluate a layer's output given a value for itself)."""
    x = T.dvector("x")
    h = T.exp(x)
    y = h * 2 + x.sum()
    f = sg.function([h, x], y)
    np.testing.assert_array_equal(f([1.0, 2.0], [0.5, 0.5]), [3.0, 5.0])  # exp(x) not computed
    np.testing.assert_array_equal((h * 3).eval({h: np.array([1.0, 2.0])}), [3.0, 6.0])
    np.testing.assert_array_equal(h.eval({h: np.array([4.0])}), [4.0])
    with pytest.raises(sg.gof.MissingInputError, match="Input 'x'"):
        sg.function([h], y)  # y still reads x besides h
