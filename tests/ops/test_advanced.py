"""Advanced indexing (integer / boolean arrays), its inc/set ops and take, against numpy."""

import numpy as np
import pytest
from helpers import check_op
from hypothesis import given, settings
from hypothesis import strategies as st

import symgraph as sg
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.ops.advanced import (
    AdvancedIncSubtensor,
    AdvancedIncSubtensor1,
    AdvancedSubtensor,
    AdvancedSubtensor1,
)
from symgraph.ops.subtensor import ARRAY, SliceSpec

rng = np.random.default_rng(11)


def _np_inc(index, a, b):
    a = a.copy()
    np.add.at(a, index, b)
    return a


def _np_set(index, a, b):
    a = a.copy()
    a[index] = b
    return a


# --- AdvancedSubtensor1 ----------------------------------------------------------------------


def test_rows_of_a_matrix():
    x, rows = rng.normal(size=(5, 3)), np.array([4, 0, -1, 4, 2])
    check_op(lambda a, i: a[i], [x, rows], lambda a, i: a[i], grad=True, grad_inputs=[0])
    i = T.lvector("i")
    assert isinstance(T.dmatrix()[i].owner.op, AdvancedSubtensor1)
    assert isinstance(T.dmatrix()[i, :].owner.op, AdvancedSubtensor1)
    assert T.TensorType("float64", (None, 3))()[i].type.shape == (None, 3)


def test_rows_of_a_vector_with_constant_list():
    v = rng.normal(size=6)
    check_op(lambda a: a[[1, 1, 5]], [v], lambda a: a[[1, 1, 5]], grad=True)
    check_op(lambda a: a[[]], [v], lambda a: a[np.zeros(0, int)])


@pytest.mark.parametrize("set_", [False, True])
def test_inc_set_rows_with_duplicates(set_):
    x, y, rows = rng.normal(size=(4, 3)), rng.normal(size=(5, 3)), np.array([1, 3, 1, 1, 0])
    fn, ref = (T.set_subtensor, _np_set) if set_ else (T.inc_subtensor, _np_inc)
    out = fn(T.dmatrix()[T.lvector()], T.dmatrix())
    assert out.owner.op == AdvancedIncSubtensor1(set_instead_of_inc=set_)
    # set with repeated rows keeps one of the values: only check the gradient without repeats
    check_op(lambda a, b, i: fn(a[i], b), [x, y, rows], lambda a, b, i: ref(i, a, b),
             grad=not set_, grad_inputs=[0, 1])
    check_op(lambda a, b, i: fn(a[i], b), [x, y[:3], np.array([2, 0, 3])],
             lambda a, b, i: ref(i, a, b), grad=True, grad_inputs=[0, 1])


def test_inc_rows_broadcast_value():
    x, y, rows = rng.normal(size=(4, 3)), rng.normal(size=(3,)), np.array([2, 2, 0])
    check_op(lambda a, b, i: T.inc_subtensor(a[i], b), [x, y, rows],
             lambda a, b, i: _np_inc(i, a, np.broadcast_to(b, (3, 3))), grad=True,
             grad_inputs=[0, 1])


def test_inc_subtensor1_inplace_flag():
    op = AdvancedIncSubtensor1(inplace=True)
    assert op.destroy_map == {0: [0]} and AdvancedIncSubtensor1().destroy_map == {}
    node = op.make_node(T.dvector(), T.dvector(), T.lvector())
    xv = np.zeros(3)
    assert op.perform(node, [xv, np.ones(2), np.array([0, 0])])[0] is xv and xv[0] == 2.0


# --- AdvancedSubtensor -----------------------------------------------------------------------

# index forms on a (4, 5) matrix mixing arrays with slices, ints and new axes
INDICES = {
    "row per column": lambda a, i: a[i, [0, 1, 2, 3]],
    "columns": lambda a, i: a[:, i],
    "columns of some rows": lambda a, i: a[1:, i],
    "int and array": lambda a, i: a[2, i],
    "matrix of rows": lambda a, i: a[np.array([[0, 3], [3, 1]])],
    "arrays broadcast": lambda a, i: a[np.array([[0], [2]]), i[:3]],
    "newaxis between": lambda a, i: a[i, None, [0, 4, 1, 2]],
    "newaxis first": lambda a, i: a[None, :, i],
    "reversed rows": lambda a, i: a[::-1, i],
}


@pytest.mark.parametrize("name", sorted(INDICES))
def test_advanced_index_forms(name):
    index = INDICES[name]
    x, i = rng.normal(size=(4, 5)), np.array([3, 0, 3, 1])
    check_op(index, [x, i], index, grad=True, grad_inputs=[0])


def test_tensor3_layouts():
    # numpy moves the broadcast index dimensions first when arrays are not adjacent
    x = rng.normal(size=(5, 3, 4))
    for index in [np.s_[0, :, [0, 1]], np.s_[:, [0, 1], None, [1, 2]], np.s_[:, [0, 2], [1, 3]],
                  np.s_[[1], ..., [0, 3]], np.s_[0, None, :, [1]]]:
        check_op(lambda a, index=index: a[index], [x], lambda a, index=index: a[index],
                 grad=True)
        assert T.TensorType("float64", (5, 3, 4))()[index].type.shape == x[index].shape


def test_nll_pattern_and_gradient():
    """p[arange(n), y]: one element per row, as in the negative log-likelihood."""
    alloc = pytest.importorskip("symgraph.ops.alloc")
    p, y = rng.uniform(0.1, 1.0, size=(5, 3)), np.array([2, 0, 1, 1, 2])

    def nll(a, labels):
        return -T.mean(T.log(a)[alloc.arange(labels.shape[0]), labels])

    check_op(nll, [p, y], lambda a, labels: -np.mean(np.log(a)[np.arange(5), labels]),
             grad=True, grad_inputs=[0])
    out = T.dmatrix()[alloc.arange(3), T.lvector()]
    assert isinstance(out.owner.op, AdvancedSubtensor) and out.owner.op.idx_list == (ARRAY, ARRAY)


@pytest.mark.parametrize("set_", [False, True])
def test_advanced_inc_set_with_duplicates(set_):
    x, rows, cols = rng.normal(size=(3, 4)), np.array([0, 2, 0, 0]), np.array([1, 3, 1, 1])
    fn, ref = (T.set_subtensor, _np_set) if set_ else (T.inc_subtensor, _np_inc)
    y = rng.normal(size=4)
    check_op(lambda a, b, i, j: fn(a[i, j], b), [x, y, rows, cols],
             lambda a, b, i, j: ref((i, j), a, b), grad=not set_, grad_inputs=[0, 1])
    y2 = rng.normal(size=(3, 2))  # set/inc a slice and an array: x[:, [3, 0]]
    check_op(lambda a, b: fn(a[:, [3, 0]], b), [x, y2],
             lambda a, b: ref(np.s_[:, [3, 0]], a, b), grad=True)
    assert fn(T.dmatrix()[T.lvector(), 1:], 1.0).owner.op == AdvancedIncSubtensor(
        (ARRAY, SliceSpec(start=True)), set_instead_of_inc=set_)


def test_advanced_inc_broadcast_value_gradient():
    x, y = rng.normal(size=(4, 5)), rng.normal(size=(1, 5))
    rows = np.array([1, 1, 3])
    check_op(lambda a, b, i: T.inc_subtensor(a[i, None], b), [x, y, rows],
             lambda a, b, i: _np_inc(i, a, np.broadcast_to(b, (3, 5))), grad=True,
             grad_inputs=[0, 1])


def test_boolean_masks():
    x = rng.normal(size=(4, 3))
    m_rows, m_all = np.array([True, False, True, True]), x > 0
    check_op(lambda a, m: a[m], [x, m_rows], lambda a, m: a[m], grad=True, grad_inputs=[0])
    check_op(lambda a, m: a[:, m], [x, np.array([False, True, True])], lambda a, m: a[:, m],
             grad=True, grad_inputs=[0])
    check_op(lambda a, m: a[m], [x, m_all], lambda a, m: a[m], grad=True, grad_inputs=[0])
    check_op(lambda a, m: T.inc_subtensor(a[m], 1.0), [x, m_all],
             lambda a, m: _np_inc(m, a, 1.0), grad=True, grad_inputs=[0])
    assert T.dmatrix()[x > 0].type.shape == (int((x > 0).sum()),)


def test_second_derivative_through_advanced():
    rows = np.array([0, 2, 2])
    verify_grad(lambda a: sg.grad((a[rows] ** 3).sum(), a), [rng.normal(size=(3, 2))])
    verify_grad(lambda a: sg.grad((a[rows, [1, 0, 1]] ** 3).sum(), a), [rng.normal(size=(3, 2))])


_RANDOM_ENTRY = {  # kind -> (size of the indexed axis, rng) -> index entry
    "int": lambda size, r: int(r.integers(-size, size)),
    "slice": lambda size, r: slice(int(r.integers(-size, size)), None, int(r.choice([-1, 2]))),
    "array": lambda size, r: r.integers(-size, size, size=3).tolist(),
    "array2": lambda size, r: r.integers(0, size, size=(2, 1)).tolist(),
    "none": lambda size, r: None,
}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(sorted(_RANDOM_ENTRY)), min_size=1,
                max_size=4), st.integers(0, 3))
def test_random_mixed_indices_static_shapes(kinds, seed):
    shape = (4, 3, 5)
    r = np.random.default_rng(seed)
    index = []
    for kind in kinds:
        axis = sum(k != "none" for k, _ in index)  # dimensions used so far
        if kind != "none" and axis >= len(shape):
            continue
        size = shape[axis] if kind != "none" else 0
        index.append((kind, _RANDOM_ENTRY[kind](size, r)))
    if not any(k.startswith("array") for k, _ in index):
        index = [("array", [0, 1, 2])] + index[:2]  # at most 3 dims used with the array
    key = tuple(v for _, v in index)
    x = T.TensorType("float64", shape)("x")
    xv = np.arange(60.0).reshape(shape)
    out = x[key]
    assert out.type.shape == xv[key].shape
    np.testing.assert_array_equal(sg.function([x], out)(xv), xv[key])


# --- take ------------------------------------------------------------------------------------


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_take(axis):
    x, i = rng.normal(size=(3, 4)), np.array([2, 0, 2])
    check_op(lambda a, idx: T.take(a, idx, axis=axis), [x, i],
             lambda a, idx: np.take(a, idx, axis=axis), grad=True, grad_inputs=[0])


def test_take_forms_and_modes():
    x = rng.normal(size=(3, 4))
    i2 = np.array([[0, 1], [2, 2]])
    check_op(lambda a: T.take(a, i2, axis=1), [x], lambda a: np.take(a, i2, axis=1))
    check_op(lambda a: T.take(a, 2, axis=0), [x], lambda a: np.take(a, 2, axis=0))
    big = np.array([-5, 7, 1])
    for mode in ("clip", "wrap"):
        check_op(lambda a, mode=mode: T.take(a, big, axis=1, mode=mode), [x],
                 lambda a, mode=mode: np.take(a, big, axis=1, mode=mode))
    assert isinstance(T.take(T.dmatrix(), T.lvector(), axis=0).owner.op, AdvancedSubtensor1)


# --- errors ----------------------------------------------------------------------------------


def test_out_of_bounds_names_variable_index_and_size():
    x, i = T.dmatrix("x"), T.lvector("i")
    f = sg.function([x, i], x[i])
    with pytest.raises(IndexError, match=r"index 9 is out of bounds for axis 0 of x .*size 4"):
        f(np.zeros((4, 2)), np.array([0, 9]))
    g = sg.function([x, i], x[i, i])
    with pytest.raises(IndexError, match=r"out of bounds.*\(indexing x"):
        g(np.zeros((4, 2)), np.array([0, 3]))
    h = sg.function([x, i], T.inc_subtensor(x[i], 1.0))
    with pytest.raises(IndexError, match=r"index -5 is out of bounds for axis 0 of x"):
        h(np.zeros((4, 2)), np.array([-5]))


def test_index_arrays_must_broadcast():
    x = T.dmatrix("x")
    with pytest.raises(IndexError, match="cannot be broadcast"):
        x[[0, 1], [0, 1, 2]]
    i, j = T.lvector("i"), T.lvector("j")
    f = sg.function([x, i, j], x[i, j])
    with pytest.raises(IndexError, match=r"index arrays used on x .* disagree on axis 0"):
        f(np.zeros((3, 3)), np.array([0, 1]), np.array([0]))


def test_bad_advanced_indices():
    x = T.dmatrix("x")
    with pytest.raises(TypeError, match="indices must be integers"):
        x[np.array([0.5, 1.0])]
    with pytest.raises(TypeError, match="indices must be integers"):
        x[:, T.dvector("f")]
    with pytest.raises(IndexError, match="too many indices"):
        x[[0], [0], [0]]
    with pytest.raises(IndexError, match=r"boolean mask .* does not match axis 0 of x"):
        T.TensorType("float64", (3, 2))("x")[np.array([True, False])]
    with pytest.raises(TypeError, match="must be an integer vector"):
        AdvancedSubtensor1()(x, T.dmatrix())
    with pytest.raises(TypeError, match="takes 1 index inputs, got 2"):
        AdvancedSubtensor((ARRAY,))(x, [0], [1])
    with pytest.raises(TypeError, match="take: indices .* must be integers"):
        T.take(x, T.dvector("f"))
    with pytest.raises(ValueError, match="take: mode must be"):
        T.take(x, [0], mode="bogus")
    with pytest.raises(ValueError, match="take: axis 2 is out of range"):
        T.take(x, [0], axis=2)


def test_value_shape_errors():
    x, i = T.dmatrix("x"), T.lvector("i")
    with pytest.raises(ValueError, match="cannot increment a 2-d region of x .* 3-d value"):
        T.inc_subtensor(x[i], T.dtensor3())
    v = T.dvector("v")
    f = sg.function([x, i, v], T.inc_subtensor(x[i, 0], v))
    with pytest.raises(ValueError, match=r"region of shape \(2,\) of x .* value of shape \(3,\)"):
        f(np.zeros((3, 3)), np.array([0, 1]), np.ones(3))
