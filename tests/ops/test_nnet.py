"""Neural-network ops against numpy: softmax, crossentropies, one-hot, activations; gradients."""

import numpy as np
import pytest
import scipy.special as sps
from helpers import check_op
from hypothesis import given, settings
from hypothesis import strategies as st

import symgraph as sg
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.ops import nnet as N

rng = np.random.default_rng(0)
FLOATS = ["float32", "float64"]
TOL = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-10, atol=1e-12)}


def _normal(dtype, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _labels(n, k):
    return rng.integers(0, k, size=n).astype("int64")


def _np_nll(x, y):
    return -sps.log_softmax(x, axis=1)[np.arange(len(y)), y]


def _np_dx(x, y, dy=None):
    dx = sps.softmax(x, axis=1)
    dx[np.arange(len(y)), y] -= 1
    return dx if dy is None else dx * dy[:, None]


# --- softmax / log_softmax -------------------------------------------------------------------

SHAPES_AXES = [((5,), -1), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), -1), ((2, 3, 4), 1),
               ((2, 3, 4), 0), ((2, 3), None)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,axis", SHAPES_AXES)
@pytest.mark.parametrize("fn,ref", [(N.softmax, sps.softmax), (N.log_softmax, sps.log_softmax)])
def test_softmax_family(fn, ref, shape, axis, dtype):
    check_op(lambda x: fn(x, axis=axis), [_normal(dtype, *shape)], lambda x: ref(x, axis=axis),
             grad=dtype == "float64", **TOL[dtype])


def test_softmax_default_axis_is_last():
    x = T.dmatrix("x")
    assert N.softmax(x).owner.op == N.Softmax(1)
    assert N.log_softmax(x).owner.op == N.LogSoftmax(1)
    assert N.logsoftmax is N.log_softmax


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.data())
def test_softmax_hypothesis(shape, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = _normal("float64", *shape, scale=data.draw(st.sampled_from([1.0, 50.0])))
    v = T.TensorType("float64", (None,) * len(shape))("v")
    got = sg.function([v], N.softmax(v, axis))(x)
    np.testing.assert_allclose(got, sps.softmax(x, axis=axis), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(got.sum(axis=axis), 1.0, rtol=1e-12)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("fn,ref", [(N.softmax, sps.softmax), (N.log_softmax, sps.log_softmax)])
def test_softmax_stable_for_huge_logits(fn, ref, dtype):
    x = _normal(dtype, 4, 5, scale=1e4)
    v = T.matrix("v", dtype=dtype)
    out, g = sg.function([v], [fn(v), sg.grad((fn(v) * np.arange(5.0)).sum(), v)])(x)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(g))
    np.testing.assert_allclose(out, ref(x.astype("float64"), axis=-1), rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("fn", [N.softmax, N.log_softmax])
@pytest.mark.parametrize("axis", [0, -1])
def test_softmax_second_derivative(fn, axis):
    w = sg.tensor.constant(_normal("float64", 3, 4))
    verify_grad(lambda x: sg.grad((fn(x, axis) * w).sum(), x), [_normal("float64", 3, 4)])


def test_softmax_with_bias_and_graph():
    x, b = _normal("float64", 3, 4), _normal("float64", 4)
    check_op(N.softmax_with_bias, [x, b], lambda x, b: sps.softmax(x + b, axis=1), grad=True)
    check_op(N.softmax_graph, [x], lambda x: sps.softmax(x, axis=-1))


# --- one-hot ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [None, "int32", "float32", "bool"])
def test_to_one_hot(dtype):
    y = T.lvector("y")
    out = N.to_one_hot(y, 5, dtype=dtype)
    assert out.type.shape == (None, 5)
    got = sg.function([y], out)(np.array([0, 4, 2, 2]))
    np.testing.assert_array_equal(got, np.eye(5)[[0, 4, 2, 2]])
    assert got.dtype.name == (dtype or sg.config.floatX)
    assert N.one_hot is N.to_one_hot


def test_to_one_hot_symbolic_nb_class():
    check_op(lambda y, n: N.to_one_hot(y, n), [np.array([1, 0], "int32"), np.array(3)],
             lambda y, n: np.eye(3)[y])


def test_to_one_hot_errors():
    y = T.lvector("labels")
    with pytest.raises(TypeError, match=r"labels .*test_nnet.py.*integer vector"):
        N.to_one_hot(T.dvector("labels"), 3)
    with pytest.raises(TypeError, match="integer scalar"):
        N.to_one_hot(y, T.lvector("n"))
    with pytest.raises(IndexError, match=r"class index 3 in labels is out of range \[0, 3\)"):
        sg.function([y], N.to_one_hot(y, 3))(np.array([0, 3]))


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8"])
@pytest.mark.parametrize("bad", [-1, 3, -128])
def test_to_one_hot_names_a_label_out_of_range_of_any_width(dtype, bad):
    if np.iinfo(dtype).min > bad:
        bad = 200  # uint8: too large instead
    y = T.TensorType(dtype, (None,))("labels")
    f = sg.function([y], N.to_one_hot(y, 3))
    with pytest.raises(IndexError, match=rf"class index {bad} in labels is out of range"):
        f(np.array([0, bad, 2], dtype))
    np.testing.assert_array_equal(f(np.array([2, 0], dtype)), np.eye(3)[[2, 0]])


# --- categorical crossentropy ----------------------------------------------------------------


def _probs(dtype, n, k):
    return rng.uniform(0.05, 1.0, size=(n, k)).astype(dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_crossentropy_categorical_1hot(dtype):
    c, y = _probs(dtype, 5, 4), _labels(5, 4)
    check_op(N.crossentropy_categorical_1hot, [c, y],
             lambda c, y: -np.log(c[np.arange(5), y]), grad=dtype == "float64", grad_inputs=[0],
             **TOL[dtype])


@pytest.mark.parametrize("dtype", FLOATS)
def test_categorical_crossentropy_probabilities(dtype):
    c, t = _probs(dtype, 5, 4), _probs(dtype, 5, 4)
    check_op(N.categorical_crossentropy, [c, t], lambda c, t: -(t * np.log(c)).sum(-1),
             grad=dtype == "float64", **TOL[dtype])
    c3 = _probs(dtype, 6, 4).reshape(2, 3, 4)
    check_op(N.categorical_crossentropy, [c3, c3], lambda c, t: -(t * np.log(c)).sum(-1),
             **TOL[dtype])


def test_categorical_crossentropy_onehot_equals_indices():
    c, y = T.dmatrix("c"), T.lvector("y")
    by_index = N.categorical_crossentropy(c, y)
    by_onehot = N.categorical_crossentropy(c, N.to_one_hot(y, T.shape_i(c, 1), dtype="float64"))
    assert isinstance(by_index.owner.op, N.CrossentropyCategorical1Hot)
    outs = [by_index, by_onehot, sg.grad(by_index.sum(), c), sg.grad(by_onehot.sum(), c)]
    a, b, ga, gb = sg.function([c, y], outs)(_probs("float64", 6, 3), _labels(6, 3))
    np.testing.assert_allclose(a, b, rtol=1e-14)
    np.testing.assert_allclose(ga, gb, rtol=1e-14)


def test_crossentropy_1hot_gradient_finite_where_probability_underflows():
    c, y = T.dmatrix("c"), T.lvector("y")
    g = sg.function([c, y], sg.grad(N.categorical_crossentropy(c, y).sum(), c))(
        np.array([[0.5, 0.0, 0.5]]), np.array([0]))
    np.testing.assert_array_equal(g, [[-2.0, 0.0, 0.0]])


def test_crossentropy_1hot_second_derivative():
    y = sg.tensor.constant(_labels(4, 3))
    verify_grad(lambda c: sg.grad(N.crossentropy_categorical_1hot(c, y).sum(), c),
                [_probs("float64", 4, 3)])


def test_categorical_crossentropy_errors():
    c, y = T.dmatrix("coding"), T.lvector("y")
    with pytest.raises(TypeError, match=r"coding distribution codes .*test_nnet.py.*float"):
        N.categorical_crossentropy(T.lmatrix("codes"), y)
    with pytest.raises(TypeError, match=r"rank mismatch .*coding.*test_nnet.py.*truth"):
        N.categorical_crossentropy(c, T.dtensor3("truth"))
    with pytest.raises(TypeError, match=r"class indices ylab .*must be a vector"):
        N.crossentropy_categorical_1hot(c, T.lmatrix("ylab"))
    with pytest.raises(TypeError, match=r"class indices yf .*integer vector"):
        N.crossentropy_categorical_1hot(c, T.dvector("yf"))
    with pytest.raises(TypeError, match="must have 2 dimensions"):
        N.crossentropy_categorical_1hot(T.dvector("v"), y)
    f = sg.function([c, y], N.categorical_crossentropy(c, y))
    with pytest.raises(ValueError, match="coding has 2 rows but the class indices y have 3"):
        f(_probs("float64", 2, 3), np.array([0, 1, 2]))
    with pytest.raises(IndexError, match=r"class index -1 in y is out of range \[0, 3\)"):
        f(_probs("float64", 2, 3), np.array([0, -1]))


# --- fused softmax + crossentropy ------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("n,k", [(5, 4), (1, 3), (3, 2)])
def test_crossentropy_softmax_argmax_1hot_with_bias(dtype, n, k):
    x, b, y = _normal(dtype, n, k), _normal(dtype, k), _labels(n, k)

    def ref(x, b, y):
        z = (x + b).astype("float64")
        return [_np_nll(z, y), sps.softmax(z, axis=1), np.argmax(z, axis=1)]

    check_op(N.crossentropy_softmax_argmax_1hot_with_bias, [x, b, y], ref, broadcastable=False,
             grad=dtype == "float64", grad_inputs=[0, 1], **TOL[dtype])


def test_crossentropy_softmax_1hot_variants():
    x, b, y = _normal("float64", 4, 3), _normal("float64", 3), _labels(4, 3)
    check_op(N.crossentropy_softmax_1hot, [x, y],
             lambda x, y: [_np_nll(x, y), sps.softmax(x, axis=1)], grad=True, grad_inputs=[0])
    check_op(N.crossentropy_softmax_1hot_with_bias, [x, b, y],
             lambda x, b, y: [_np_nll(x + b, y), sps.softmax(x + b, axis=1)], grad=True,
             grad_inputs=[0, 1])


def test_broadcastable_bias_and_output_gradient():
    x, y = _normal("float64", 4, 3), _labels(4, 3)
    check_op(N.crossentropy_softmax_1hot_with_bias, [x, np.array([0.3]), y],
             lambda x, b, y: [_np_nll(x + b, y), sps.softmax(x + b, axis=1)], grad=True,
             grad_inputs=[0, 1])
    check_op(N.crossentropy_softmax_1hot_with_bias_dx, [np.array([0.7]), sps.softmax(x, 1), y],
             lambda dy, sm, y: _np_dx(x, y) * dy, grad=True, grad_inputs=[0, 1])


def test_crossentropy_softmax_grad_through_both_outputs():
    y, w = sg.tensor.constant(_labels(4, 3)), sg.tensor.constant(_normal("float64", 4, 3))

    def cost(x, b):
        nll, sm, _ = N.crossentropy_softmax_argmax_1hot_with_bias(x, b, y)
        return (nll * nll).sum() + (sm * w).sum()

    verify_grad(cost, [_normal("float64", 4, 3), _normal("float64", 3)])
    # second derivatives: through Dx's L_op, then softmax's
    verify_grad(lambda x: sg.grad(N.crossentropy_softmax_1hot(x, y)[0].sum(), x),
                [_normal("float64", 4, 3)])


@pytest.mark.parametrize("dtype", FLOATS)
def test_crossentropy_softmax_stable_for_huge_logits(dtype):
    x, y = T.matrix("x", dtype=dtype), T.lvector("y")
    nll, _ = N.crossentropy_softmax_1hot(x, y)
    xv, yv = _normal(dtype, 6, 5, scale=1e4), _labels(6, 5)
    loss, g = sg.function([x, y], [nll, sg.grad(nll.sum(), x)])(xv, yv)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(g))
    np.testing.assert_allclose(loss, _np_nll(xv.astype("float64"), yv), rtol=1e-6)
    np.testing.assert_allclose(g, _np_dx(xv.astype("float64"), yv), atol=1e-6)
    # the same loss written with log_softmax and a one-hot matrix is also finite
    onehot_loss = -(N.to_one_hot(y, 5, dtype=dtype) * N.log_softmax(x)).sum()
    g2 = sg.function([x, y], sg.grad(onehot_loss, x))(xv, yv)
    np.testing.assert_allclose(g2, g, atol=1e-6)


def test_crossentropy_softmax_grad_skips_unused_softmax_output():
    x, y = T.dmatrix("x"), T.lvector("y")
    nll, _ = N.crossentropy_softmax_1hot(x, y)
    assert isinstance(sg.grad(nll.sum(), x).owner.op, N.CrossentropySoftmax1HotWithBiasDx)


def test_crossentropy_softmax_1hot_with_bias_dx():
    dy, sm, y = _normal("float64", 4), sps.softmax(_normal("float64", 4, 3), axis=1), _labels(4, 3)

    def ref(dy, sm, y):
        out = sm.copy()
        out[np.arange(4), y] -= 1
        return out * dy[:, None]

    check_op(N.crossentropy_softmax_1hot_with_bias_dx, [dy, sm, y], ref, grad=True,
             grad_inputs=[0, 1])


def test_fused_crossentropy_errors():
    x, b, y = T.dmatrix("logits"), T.dvector("bias"), T.lvector("y")
    with pytest.raises(TypeError, match=r"logits ints .*test_nnet.py.*float"):
        N.crossentropy_softmax_1hot(T.lmatrix("ints"), y)
    with pytest.raises(TypeError, match="class indices y2 .*must be a vector"):
        N.crossentropy_softmax_1hot(x, T.lmatrix("y2"))
    with pytest.raises(ValueError, match="columns of .* vs bias"):
        N.crossentropy_softmax_1hot_with_bias(T.TensorType("float64", (None, 3))("x3"),
                                              T.TensorType("float64", (4,))("b4"), y)
    xv = _normal("float64", 2, 3)
    loss = N.crossentropy_softmax_1hot_with_bias(x, b, y)
    # the fused op's own checks (the CUDA backend runs it; the CPU backends expand it)
    f = sg.function([x, b, y], loss, mode=sg.Mode().excluding("expand"))
    with pytest.raises(ValueError, match="bias bias has 4 entries but the logits logits have 3"):
        f(xv, np.zeros(4), np.array([0, 1]))
    with pytest.raises(ValueError, match="logits has 2 rows but the class indices y have 1"):
        f(xv, np.zeros(3), np.array([0]))
    with pytest.raises(IndexError, match=r"class index 3 in y is out of range \[0, 3\)"):
        f(xv, np.zeros(3), np.array([0, 3]))
    # expanded (opt/expand.py): the same bad inputs, errors naming the shapes and the line
    f = sg.function([x, b, y], loss)
    line = r"created at .*test_nnet.py"
    with pytest.raises(ValueError, match=r"(?s)shapes \(2, 3\), \(1, 4\).*" + line):
        f(xv, np.zeros(4), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"(?s)shapes \(1, 3\), \(2, 3\).*" + line):
        f(xv, np.zeros(3), np.array([0]))  # one label's row against two rows of logits
    with pytest.raises(IndexError, match=r"class index 3 in y is out of range \[0, 3\)"):
        f(xv, np.zeros(3), np.array([0, 3]))
    with pytest.raises(IndexError, match=r"class index -1 in y is out of range \[0, 3\)"):
        f(xv, np.zeros(3), np.array([0, -1]))


# --- elementwise losses and activations ------------------------------------------------------


def _away_from_kinks(dtype, *shape):
    x = _normal(dtype, *shape, scale=2.0)
    return np.where(np.abs(x) < 0.1, 0.5, x).astype(dtype)


def _np_elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


ACTIVATIONS = {
    "relu": (N.relu, lambda x: np.maximum(x, 0)),
    "leaky_relu": (lambda x: N.relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    "elu": (N.elu, _np_elu),
    "elu_alpha": (lambda x: N.elu(x, 0.5), lambda x: _np_elu(x, 0.5)),
    "selu": (N.selu, lambda x: 1.0507009873554805 * _np_elu(x, 1.6732632423543772)),
    "softsign": (N.softsign, lambda x: x / (1 + np.abs(x))),
    "hard_sigmoid": (N.hard_sigmoid, lambda x: np.clip(0.2 * x + 0.5, 0, 1)),
    "ultra_fast_sigmoid": (N.ultra_fast_sigmoid, sps.expit),
    "sigmoid": (N.sigmoid, sps.expit),
    "softplus": (N.softplus, lambda x: np.logaddexp(0, x)),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation(name, dtype):
    fn, ref = ACTIVATIONS[name]
    x = _away_from_kinks(dtype, 3, 4)
    if name == "hard_sigmoid":
        x = np.where(np.abs(np.abs(x) - 2.5) < 0.1, 1.0, x).astype(dtype)
    check_op(fn, [x], ref, grad=dtype == "float64", **TOL[dtype])
    assert fn(T.matrix(dtype=dtype)).dtype == dtype  # no silent upcast of float32 graphs


def test_relu_grad_at_zero_is_half_as_in_theano():
    x = T.dvector("x")
    g = sg.function([x], [sg.grad(N.relu(x).sum(), x), sg.grad(N.relu(x, 0.2).sum(), x)])
    np.testing.assert_allclose(g(np.array([-1.0, 0.0, 1.0])), [[0, 0.5, 1], [0.2, 0.6, 1]])


def test_elu_grad_finite_for_large_inputs():
    x = T.dvector("x")
    g = sg.function([x], sg.grad(N.selu(x).sum(), x))(np.array([-1e3, 1e3]))
    np.testing.assert_allclose(g, [0.0, 1.0507009873554805])


@pytest.mark.parametrize("dtype", FLOATS)
def test_binary_crossentropy(dtype):
    p, t = rng.uniform(0.05, 0.95, (3, 4)).astype(dtype), rng.uniform(0, 1, (3, 4)).astype(dtype)
    check_op(N.binary_crossentropy, [p, t], lambda p, t: -(t * np.log(p) + (1 - t) * np.log1p(-p)),
             grad=dtype == "float64", rtol=1e-5 if dtype == "float32" else 1e-10)


@pytest.mark.parametrize("dtype", FLOATS)
def test_sigmoid_binary_crossentropy(dtype):
    x, t = _away_from_kinks(dtype, 3, 4), rng.uniform(0, 1, (3, 4)).astype(dtype)
    check_op(N.sigmoid_binary_crossentropy, [x, t],
             lambda x, t: np.logaddexp(0, x) - x * t, grad=dtype == "float64", **TOL[dtype])


def test_sigmoid_binary_crossentropy_stable_and_exact_at_zero():
    x, t = T.dvector("x"), T.dvector("t")
    loss = N.sigmoid_binary_crossentropy(x, t)
    f = sg.function([x, t], [loss, sg.grad(loss.sum(), x)])
    big = np.array([-1e4, 1e4, 0.0, 0.0])
    target = np.array([1.0, 0.0, 0.3, 1.0])
    out, g = f(big, target)
    np.testing.assert_allclose(out, [1e4, 1e4, np.log(2), np.log(2)])
    np.testing.assert_allclose(g, [-1.0, 1.0, 0.2, -0.5])
    bce = sg.function([x, t], N.binary_crossentropy(N.sigmoid(x), t))
    xs = _normal("float64", 5)
    np.testing.assert_allclose(f(xs, target[[0, 1, 2, 3, 2]])[0], bce(xs, target[[0, 1, 2, 3, 2]]))


def test_softmax_errors():
    with pytest.raises(TypeError, match=r"softmax: the input ints .*test_nnet.py.*float"):
        N.softmax(T.lmatrix("ints"))
    with pytest.raises(ValueError, match=r"axis 2 is out of range for m "):
        N.softmax(T.dmatrix("m"), axis=2)
    with pytest.raises(ValueError, match="out of range"):
        N.log_softmax(T.dscalar("s"))


def test_facade_names():
    for name in N.__all__:
        assert getattr(T.nnet, name) is getattr(N, name)
        assert getattr(T.nnet.nnet, name) is getattr(N, name)
