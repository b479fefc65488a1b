"""Basic indexing (Subtensor, IncSubtensor, set/inc_subtensor, x.shape[i]) against numpy."""

import numpy as np
import pytest
from helpers import check_op
from hypothesis import given, settings
from hypothesis import strategies as st

import symgraph as sg
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.graph import is_same_graph
from symgraph.ops.subtensor import FULL, INT, IncSubtensor, SliceSpec, Subtensor, slice_length

rng = np.random.default_rng(7)

# index forms valid on a (4, 5) matrix; each is applied to numpy and to the symbolic input
INDICES = {
    "int": lambda a: a[1],
    "negative int": lambda a: a[-1],
    "int int": lambda a: a[2, -2],
    "slice": lambda a: a[1:3],
    "slice both axes": lambda a: a[-3:-1, 2:],
    "reverse": lambda a: a[::-1],
    "negative step": lambda a: a[:, 4:0:-2],
    "step past end": lambda a: a[1:100:3],
    "empty slice": lambda a: a[3:1],
    "col": lambda a: a[:, 1],
    "ellipsis": lambda a: a[..., 0],
    "ellipsis middle": lambda a: a[1, ..., 2],
    "only ellipsis": lambda a: a[...],
    "newaxis": lambda a: a[None, 1:, None],
    "int newaxis": lambda a: a[1, None],
    "newaxis trailing": lambda a: a[:, :, None],
    "empty tuple": lambda a: a[()],
}


@pytest.mark.parametrize("name", sorted(INDICES))
def test_basic_index_forms(name):
    index = INDICES[name]
    x = rng.normal(size=(4, 5))
    check_op(index, [x], index, grad=name not in ("empty slice",))


def test_index_of_tensor3_and_vector():
    x3 = rng.normal(size=(2, 3, 4))
    check_op(lambda a: a[1, ::2, -1], [x3], lambda a: a[1, ::2, -1], grad=True)
    check_op(lambda a: a[:, None, 1:], [x3], lambda a: a[:, None, 1:])
    v = rng.normal(size=6)
    check_op(lambda a: a[-2], [v], lambda a: a[-2], grad=True)


def test_symbolic_indices():
    x, i, j, k = T.dmatrix("x"), T.lscalar("i"), T.iscalar("j"), T.bscalar("k")
    xv = np.arange(20.0).reshape(4, 5)
    outs = [x[i], x[i:j], x[::k], x[j:i:k], x[-i:, j]]
    f = sg.function([x, i, j, k], outs)
    for iv, jv, kv in [(1, 3, 2), (3, 0, -1), (2, 4, -2)]:
        expected = [xv[iv], xv[iv:jv], xv[::kv], xv[jv:iv:kv], xv[-iv:, jv]]
        for got, want in zip(f(xv, iv, jv, kv), expected):
            np.testing.assert_array_equal(got, want)


def test_static_shapes():
    x = T.TensorType("float64", (3, 4))("x")
    v = T.TensorType("float64", (5,))("v")
    i = T.lscalar("i")
    assert x[0].type.shape == (4,)
    assert v[1:3].type.shape == (2,)
    assert v[::-2].type.shape == (3,)
    assert v[-100:100].type.shape == (5,)
    assert x[None, 0].type.shape == (1, 4)
    assert x[i].type.shape == (4,)
    assert x[i:].type.shape == (None, 4)
    assert T.dmatrix()[1:3].type.shape == (None, None)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 7), st.one_of(st.none(), st.integers(-10, 10)),
       st.one_of(st.none(), st.integers(-10, 10)),
       st.one_of(st.none(), st.integers(-4, 4).filter(lambda s: s != 0)))
def test_slice_length_on_ints(n, start, stop, step):
    assert slice_length(n, start, stop, step) == len(range(n)[start:stop:step])


_LENGTH_FNS: dict = {}


def _symbolic_length(given_parts: tuple):
    """A compiled f(n, parts...) -> slice_length built on symbolic scalars (one per structure)."""
    if given_parts not in _LENGTH_FNS:
        n = T.lscalar("n")
        parts = [T.lscalar(name) if g else None for name, g in zip("abc", given_parts)]
        length = slice_length(n, *parts)
        _LENGTH_FNS[given_parts] = sg.function([n] + [p for p in parts if p is not None], length)
    return _LENGTH_FNS[given_parts]


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 7), st.one_of(st.none(), st.integers(-10, 10)),
       st.one_of(st.none(), st.integers(-10, 10)),
       st.one_of(st.none(), st.integers(-4, 4).filter(lambda s: s != 0)))
def test_slice_length_symbolic_and_runtime(n, start, stop, step):
    parts = (start, stop, step)
    f = _symbolic_length(tuple(p is not None for p in parts))
    want = len(range(n)[start:stop:step])
    assert int(f(n, *[p for p in parts if p is not None])) == want


_SLICE_FNS: dict = {}


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.one_of(st.none(), st.integers(-8, 8)),
       st.one_of(st.none(), st.integers(-8, 8)),
       st.one_of(st.none(), st.integers(-3, 3).filter(lambda s: s != 0)))
def test_symbolic_slices_match_numpy(n, start, stop, step):
    parts = (start, stop, step)
    given_parts = tuple(p is not None for p in parts)
    if given_parts not in _SLICE_FNS:
        x = T.dvector("x")
        sym = [T.lscalar() if g else None for g in given_parts]
        out = x[slice(*sym)]
        _SLICE_FNS[given_parts] = (sg.function([x] + [p for p in sym if p is not None], out),
                                   x, out)
    f, _, _ = _SLICE_FNS[given_parts]
    xv = np.arange(float(n))
    np.testing.assert_array_equal(f(xv, *[p for p in parts if p is not None]), xv[start:stop:step])
    # with constant parts and a static size, the length is known when the graph is built
    static = T.TensorType("float64", (n,))("s")[start:stop:step]
    assert static.type.shape == xv[start:stop:step].shape


def test_shape_indexing():
    x = T.dmatrix("x")
    i = T.lscalar("i")
    xv = np.zeros((3, 7))
    f = sg.function([x, i], [x.shape[0], x.shape[-1], x.shape[i], x.shape[1:]])
    got = f(xv, 1)
    assert [int(got[0]), int(got[1]), int(got[2])] == [3, 7, 7]
    np.testing.assert_array_equal(got[3], [7])
    assert x.shape[0].dtype == "int64" and x.shape[0].ndim == 0
    static = T.TensorType("float64", (3, None))("s")
    assert isinstance(static.shape[0], T.TensorConstant) and int(static.shape[0].data) == 3


def test_shape_index_feeds_arange():
    alloc = pytest.importorskip("symgraph.ops.alloc")
    y = T.lvector("y")
    f = sg.function([y], alloc.arange(y.shape[0]))
    np.testing.assert_array_equal(f(np.array([4, 5, 6])), [0, 1, 2])


def test_output_is_a_view_and_ops_merge():
    x = T.dmatrix("x")
    sub = x[1:3, 0]
    assert sub.owner.op.view_map == {0: [0]}
    xv = np.arange(12.0).reshape(3, 4)
    out = sub.owner.op.perform(sub.owner, [xv, np.int64(1), np.int64(3), np.int64(0)])[0]
    assert np.shares_memory(out, xv)
    scalar = x[1, 2].owner.op.perform(x[1, 2].owner, [xv, np.int64(1), np.int64(2)])[0]
    assert isinstance(scalar, np.ndarray) and np.shares_memory(scalar, xv)
    assert is_same_graph(x[1:3], x[1:3])
    assert is_same_graph(x[0], x[0, :])
    assert x[0].owner.op == Subtensor((INT,))
    assert x[0:, 1].owner.op.idx_list == (SliceSpec(start=True), INT)
    assert FULL == SliceSpec()


def test_second_derivative_through_subtensor():
    def grad_of(x):
        return sg.grad((x[1:, ::-1] ** 3).sum(), x)

    verify_grad(grad_of, [rng.normal(size=(3, 4))])
    x = T.dvector("x")
    h = sg.grad(sg.grad((x[1:] ** 3).sum(), x)[2], x)
    xv = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(sg.function([x], h)(xv), [0.0, 0.0, 18.0])


# --- set_subtensor / inc_subtensor -----------------------------------------------------------


def _np_set(index, a, b):
    a = a.copy()
    a[index] = b
    return a


def _np_inc(index, a, b):
    a = a.copy()
    a[index] += b
    return a


INC_CASES = [
    # (index, y shape)
    (lambda a: a[1:3], (2, 5)),
    (lambda a: a[1:3], (5,)),  # y broadcasts over the rows
    (lambda a: a[0], (5,)),
    (lambda a: a[:, ::-2], (4, 3)),
    (lambda a: a[2, 3], ()),
    (lambda a: a[-1, 1:], (4,)),
]


@pytest.mark.parametrize("case", range(len(INC_CASES)))
@pytest.mark.parametrize("set_", [False, True])
def test_set_and_inc_subtensor(case, set_):
    index, y_shape = INC_CASES[case]
    x, y = rng.normal(size=(4, 5)), rng.normal(size=y_shape)
    fn = T.set_subtensor if set_ else T.inc_subtensor
    ref = _np_set if set_ else _np_inc
    key = _index_key(index)
    check_op(lambda a, b: fn(index(a), b), [x, y], lambda a, b: ref(key, a, b), grad=True)


def _index_key(index):
    """The numpy index tuple an INDEX lambda applies."""
    class Probe:
        def __getitem__(self, key):
            return key

    return index(Probe())


def test_inc_with_broadcastable_y_and_newaxis_view():
    x, y = rng.normal(size=(4, 5)), rng.normal(size=(1, 5))
    check_op(lambda a, b: T.inc_subtensor(a[1:], b), [x, y], lambda a, b: _np_inc(
        np.s_[1:], a, b), grad=True)
    # set_subtensor through the DimShuffle that None adds
    check_op(lambda a, b: T.set_subtensor(a[None, 1:3, None], b), [x, rng.normal(size=(2, 1, 5))],
             lambda a, b: _np_set(np.s_[1:3], a, b[:, 0]), grad=True)


def test_set_python_number_and_int_tensor():
    x = T.ivector("x")
    f = sg.function([x], T.set_subtensor(x[1:], 5))
    np.testing.assert_array_equal(f(np.zeros(4, "int32")), [0, 5, 5, 5])
    assert T.set_subtensor(x[1:], 5).dtype == "int32"
    g = T.fmatrix("g")
    assert T.inc_subtensor(g[0], 0.1).dtype == "float32"  # a constant is cast to x's dtype


def test_inplace_flag():
    op = IncSubtensor((INT,), inplace=True)
    assert op.destroy_map == {0: [0]} and IncSubtensor((INT,)).destroy_map == {}
    x, y = T.dvector("x"), T.dscalar("y")
    node = op.make_node(x, y, T.constant(1, dtype="int64"))
    xv = np.zeros(3)
    out = op.perform(node, [xv, np.float64(2.0), np.int64(1)])[0]
    assert out is xv and xv[1] == 2.0
    copy = IncSubtensor((INT,)).make_node(x, y, T.constant(1, dtype="int64"))
    xv = np.zeros(3)
    assert IncSubtensor((INT,)).perform(copy, [xv, np.float64(2.0), np.int64(1)])[0] is not xv
    assert xv[1] == 0.0


# --- errors ----------------------------------------------------------------------------------


def test_out_of_bounds_at_run_time_names_variable_index_and_size():
    x, i = T.dmatrix("x"), T.lscalar("i")
    f = sg.function([x, i], x[i])
    with pytest.raises(IndexError, match=r"index 7 is out of bounds for axis 0 of x .*size 4"):
        f(np.zeros((4, 2)), 7)
    with pytest.raises(IndexError, match=r"index -5 is out of bounds .*size 4"):
        f(np.zeros((4, 2)), -5)
    g = sg.function([x, i], T.inc_subtensor(x[1, i], 1.0))
    with pytest.raises(IndexError, match=r"index 2 is out of bounds for axis 1 of x .*size 2"):
        g(np.zeros((4, 2)), 2)


def test_out_of_bounds_at_build_time_when_static():
    x = T.TensorType("float64", (3, 4))("x")
    with pytest.raises(IndexError, match=r"index 3 is out of bounds for axis 0 of x .*size 3"):
        x[3]
    with pytest.raises(IndexError, match="out of bounds for the shape of x"):
        x.shape[2]


def test_too_many_indices():
    x = T.dmatrix("x")
    with pytest.raises(IndexError, match=r"too many indices for x .*2 dimensions but 3"):
        x[0, 1, 2]
    with pytest.raises(IndexError, match="single ellipsis"):
        x[..., 0, ...]
    with pytest.raises(IndexError, match="too many indices"):
        Subtensor((INT, INT, INT))(x, 0, 0, 0)


def test_float_and_bad_indices():
    x = T.dmatrix("x")
    with pytest.raises(TypeError, match=r"cannot index x .* with 1.5 of dtype float"):
        x[1.5]
    with pytest.raises(TypeError, match="indices must be integers"):
        x[T.dscalar("f")]
    with pytest.raises(TypeError, match="with 0.5 .* indices must be integers"):
        x[0.5:2]
    with pytest.raises(TypeError, match="slice bounds .* must be integer scalars"):
        x[[0, 1]:2]
    with pytest.raises(NotImplementedError, match="boolean scalar"):
        x[True]
    with pytest.raises(ValueError, match="slice step cannot be zero"):
        x[::0]
    with pytest.raises(TypeError, match="takes 1 index inputs, got 2"):
        Subtensor((INT,))(x, 0, 1)
    with pytest.raises(TypeError, match="must be an integer scalar"):
        Subtensor((INT,))(x, T.lvector("v"))


def test_set_subtensor_errors():
    x, v = T.dmatrix("x"), T.dvector("v")
    with pytest.raises(TypeError, match=r"set_subtensor: x .* must be the result of indexing"):
        T.set_subtensor(x, 1.0)
    with pytest.raises(TypeError, match="inc_subtensor: .* the output of Elemwise"):
        T.inc_subtensor(x + 1, 1.0)
    with pytest.raises(ValueError, match="cannot increment a 1-d region of x .* 2-d value"):
        T.inc_subtensor(x[0], x)
    with pytest.raises(TypeError, match=r"cannot set a region of i .*float64.* in place"):
        T.set_subtensor(T.ivector("i")[1:], v)
    s = T.TensorType("float64", (3, 4))("s")
    with pytest.raises(ValueError, match=r"static shape \(4,\).* static shape \(3,\)"):
        T.set_subtensor(s[0], T.TensorType("float64", (3,))("y"))


def test_a_wider_float_value_is_rounded_into_the_region_as_numpy_does():
    f32, v = T.fvector("f32"), T.dvector("v")
    f = sg.function([f32, v], [T.set_subtensor(f32[1:], v[1:]), T.inc_subtensor(f32[:2], v[:2])])
    values = np.array([1 / 3, 2 / 3, 4 / 3])
    got_set, got_inc = f(np.zeros(3, "float32"), values)
    want_set, want_inc = np.zeros(3, "float32"), np.zeros(3, "float32")
    want_set[1:] = values[1:]
    want_inc[:2] += values[:2].astype("float32")
    assert got_set.dtype == got_inc.dtype == np.float32
    np.testing.assert_array_equal(got_set, want_set)
    np.testing.assert_array_equal(got_inc, want_inc)


def test_runtime_shape_mismatch_of_value():
    x, v = T.dmatrix("x"), T.dvector("v")
    f = sg.function([x, v], T.inc_subtensor(x[0], v))
    with pytest.raises(ValueError, match=r"region of shape \(3,\) of x .* value of shape \(1,\)"):
        f(np.zeros((2, 3)), np.ones(1))
