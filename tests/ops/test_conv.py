"""conv2d and its gradient ops against a loop reference; gradients, shapes and errors."""

import itertools

import numpy as np
import pytest
from helpers import check_op

import symgraph as sg
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.ops.conv import AbstractConv2d, conv2d
from symgraph.ops.conv_grad import (
    AbstractConv2d_gradInputs,
    AbstractConv2d_gradWeights,
    conv2d_grad_wrt_inputs,
    conv2d_grad_wrt_weights,
    conv2d_transpose,
)
from symgraph.types import TensorType

rng = np.random.default_rng(0)
TOL = {"float32": dict(rtol=1e-4, atol=1e-4), "float64": dict(rtol=1e-10, atol=1e-10)}


def _pads(border_mode, eh, ew):
    if border_mode == "valid":
        return (0, 0), (0, 0)
    if border_mode == "full":
        return (eh - 1, eh - 1), (ew - 1, ew - 1)
    if border_mode == "half":
        return (eh // 2, eh // 2), (ew // 2, ew // 2)
    if isinstance(border_mode, int):
        return (border_mode,) * 2, (border_mode,) * 2
    if isinstance(border_mode[0], int):
        return (border_mode[0],) * 2, (border_mode[1],) * 2
    return border_mode


def ref_conv(
    x,
    w,
    border_mode="valid",
    subsample=(1, 1),
    filter_flip=True,
    filter_dilation=(1, 1),
    num_groups=1,
):
    """The definition, one output pixel at a time (slow but obviously right)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (dh, dw), (sh, sw) = filter_dilation, subsample
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    xp = np.pad(x.astype("float64"), ((0, 0), (0, 0)) + _pads(border_mode, eh, ew))
    if filter_flip:
        w = w[:, :, ::-1, ::-1]
    oh, ow = (xp.shape[2] - eh) // sh + 1, (xp.shape[3] - ew) // sw + 1
    out = np.zeros((n, o, oh, ow))
    per_group = o // num_groups
    for b, f, y, z in itertools.product(range(n), range(o), range(oh), range(ow)):
        g = f // per_group
        patch = xp[b, g * cg : (g + 1) * cg, y * sh : y * sh + eh : dh, z * sw : z * sw + ew : dw]
        out[b, f, y, z] = np.sum(patch * w[f])
    return out.astype(x.dtype)


def _values(dtype, x_shape, w_shape):
    return [rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)]


BORDER_MODES = ["valid", "full", "half", 1, (1, 2), ((0, 2), (1, 0))]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("border_mode", BORDER_MODES)
@pytest.mark.parametrize("subsample", [(1, 1), (2, 3)])
@pytest.mark.parametrize("filter_dilation", [(1, 1), (2, 1)])
@pytest.mark.parametrize("num_groups,filter_flip", [(1, True), (2, False), (2, True)])
def test_conv2d_matches_reference(
    border_mode, subsample, filter_dilation, num_groups, filter_flip, dtype
):
    kw = dict(
        border_mode=border_mode,
        subsample=subsample,
        filter_flip=filter_flip,
        filter_dilation=filter_dilation,
        num_groups=num_groups,
    )
    values = _values(dtype, (2, 4, 7, 8), (6, 4 // num_groups, 3, 2))
    check_op(
        lambda x, w: conv2d(x, w, **kw), values, lambda x, w: ref_conv(x, w, **kw), **TOL[dtype]
    )


def test_conv2d_filter_flip_false_is_cross_correlation():
    x, w = _values("float64", (1, 1, 4, 4), (1, 1, 2, 2))
    X, W = T.dtensor4("x"), T.dtensor4("w")
    corr = conv2d(X, W, filter_flip=False).eval({X: x, W: w})
    flipped = conv2d(X, W, filter_flip=True).eval({X: x, W: w[:, :, ::-1, ::-1]})
    np.testing.assert_allclose(corr, flipped)
    np.testing.assert_allclose(corr[0, 0, 0, 0], np.sum(x[0, 0, :2, :2] * w[0, 0]))


GRAD_CONFIGS = [
    dict(),
    dict(border_mode="full", filter_flip=False),
    dict(border_mode="half", subsample=(2, 2), num_groups=2),
    dict(border_mode=(1, 2), subsample=(3, 2), filter_dilation=(1, 2)),
    dict(border_mode=((0, 1), (2, 0)), subsample=(2, 1), filter_dilation=(2, 1)),
]


@pytest.mark.parametrize("kw", GRAD_CONFIGS)
def test_conv2d_gradient(kw):
    groups = kw.get("num_groups", 1)
    values = _values("float64", (2, 4, 6, 7), (4, 4 // groups, 3, 2))
    check_op(
        lambda x, w: conv2d(x, w, **kw),
        values,
        lambda x, w: ref_conv(x, w, **kw),
        grad=True,
        **TOL["float64"],
    )


def test_conv2d_gradient_float32():
    values = _values("float32", (2, 2, 5, 5), (3, 2, 2, 3))
    check_op(
        lambda x, w: conv2d(x, w, border_mode="half"),
        values,
        lambda x, w: ref_conv(x, w, border_mode="half"),
        grad=True,
        **TOL["float32"],
    )


@pytest.mark.parametrize("kw", [GRAD_CONFIGS[0], GRAD_CONFIGS[2], GRAD_CONFIGS[3]])
def test_conv2d_second_derivative(kw):
    groups = kw.get("num_groups", 1)
    values = _values("float64", (2, 2, 5, 6), (2, 2 // groups, 2, 3))

    def double_backprop(x, w):
        y = conv2d(x, w, **kw)
        gx, gw = sg.grad((y**2).sum(), [x, w])
        return (gx**2).sum() + (gw * w).sum()

    verify_grad(double_backprop, values)


def test_gradients_are_convolution_ops_at_every_order():
    x, w = T.dtensor4("x"), T.dtensor4("w")
    y = conv2d(x, w, border_mode="half", subsample=(2, 1))
    gx, gw = sg.grad(y.sum(), [x, w])
    assert isinstance(gx.owner.op, AbstractConv2d_gradInputs)
    assert isinstance(gw.owner.op, AbstractConv2d_gradWeights)
    assert gx.owner.op.params() == gw.owner.op.params() == y.owner.op.params()
    ops = {type(n.op) for n in sg.graph.toposort(sg.grad((gx**2).sum() + (gw**2).sum(), [x, w]))}
    assert {AbstractConv2d, AbstractConv2d_gradInputs, AbstractConv2d_gradWeights} <= ops


def _dot(a, b):
    return float(np.sum(a.astype("float64") * b))


@pytest.mark.parametrize("kw", GRAD_CONFIGS)
def test_gradient_ops_are_adjoints(kw):
    """<conv(x, w), y> = <x, grad_wrt_inputs(y, w)> = <w, grad_wrt_weights(x, y)>."""
    groups = kw.get("num_groups", 1)
    x, w = _values("float64", (2, 4, 7, 6), (4, 4 // groups, 3, 2))
    y = rng.standard_normal(ref_conv(x, w, **kw).shape)
    X, W, Y = T.dtensor4("x"), T.dtensor4("w"), T.dtensor4("y")
    gx = conv2d_grad_wrt_inputs(Y, W, X.shape, **kw).eval({X: x, W: w, Y: y})
    gw = conv2d_grad_wrt_weights(X, Y, w.shape, **kw).eval({X: x, Y: y})
    assert gx.shape == x.shape and gw.shape == w.shape
    lhs = _dot(ref_conv(x, w, **kw), y)
    np.testing.assert_allclose([_dot(x, gx), _dot(w, gw)], [lhs, lhs], rtol=1e-10)


@pytest.mark.parametrize("kw", [GRAD_CONFIGS[1], GRAD_CONFIGS[2], GRAD_CONFIGS[3]])
def test_gradient_ops_check_op(kw):
    """The gradient ops on their own: values, infer_shape and their own L_op."""
    groups = kw.get("num_groups", 1)
    x, w = _values("float64", (2, 4, 5, 6), (2, 4 // groups, 2, 3))
    y = rng.standard_normal(ref_conv(x, w, **kw).shape)
    check_op(lambda w, y: conv2d_grad_wrt_inputs(y, w, (2, 4, 5, 6), **kw), [w, y], grad=True)
    check_op(lambda x, y: conv2d_grad_wrt_weights(x, y, w.shape, **kw), [x, y], grad=True)


def test_conv2d_transpose_upsamples():
    x = rng.standard_normal((1, 3, 4, 4))
    w = rng.standard_normal((3, 2, 3, 3))
    X, W = T.dtensor4("x"), T.dtensor4("w")
    out = conv2d_transpose(X, W, (1, 2, 9, 9), input_dilation=(2, 2))
    got = out.eval({X: x, W: w})
    assert got.shape == (1, 2, 9, 9)
    # the transpose of the strided conv that maps 9 x 9 down to 4 x 4
    z = rng.standard_normal((1, 2, 9, 9))
    np.testing.assert_allclose(_dot(got, z), _dot(x, ref_conv(z, w, subsample=(2, 2))))


def test_theano_paths():
    from symgraph.tensor.nnet import abstract_conv

    assert T.nnet.conv2d is conv2d
    assert abstract_conv.conv2d_grad_wrt_inputs is conv2d_grad_wrt_inputs
    assert T.nnet.conv2d_transpose is conv2d_transpose


# --- static shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "border_mode,subsample,dilation,expected",
    [
        ("valid", (1, 1), (1, 1), (5, 32, 26, 26)),
        ("full", (1, 1), (1, 1), (5, 32, 30, 30)),
        ("half", (2, 2), (1, 1), (5, 32, 14, 14)),
        ((1, 0), (1, 3), (2, 2), (5, 32, 26, 8)),
    ],
)
def test_static_output_shape(border_mode, subsample, dilation, expected):
    x = TensorType("float32", (5, 3, 28, 28))("x")
    w = TensorType("float32", (32, 3, 3, 3))("w")
    y = conv2d(x, w, border_mode=border_mode, subsample=subsample, filter_dilation=dilation)
    assert y.type == TensorType("float32", expected)
    gx, gw = sg.grad(y.sum(), [x, w])
    assert gx.type == x.type and gw.type == w.type


def test_static_shape_partially_known():
    x = TensorType("float64", (None, 3, None, 10))("x")
    w = TensorType("float64", (8, 3, 3, None))("w")
    assert conv2d(x, w).type.shape == (None, 8, None, None)
    y = conv2d(x, T.dtensor4("w2"), input_shape=(4, 3, 12, 10), filter_shape=(8, 3, 3, 3))
    assert y.type.shape == (4, 8, 10, 8)


# --- errors ---------------------------------------------------------------------------------------


def test_error_channel_mismatch_names_both_shapes_and_line():
    x = TensorType("float32", (None, 3, 28, 28))("images")
    w = TensorType("float32", (16, 4, 3, 3))("kernels")
    with pytest.raises(ValueError) as info:
        conv2d(x, w)
    msg = str(info.value)
    assert "images" in msg and "kernels" in msg and "(?, 3, 28, 28)" in msg
    assert "(16, 4, 3, 3)" in msg and "test_conv.py" in msg


def test_error_channel_mismatch_at_run_time():
    X, W = T.dtensor4("images"), T.dtensor4("kernels")
    f = sg.function([X, W], conv2d(X, W))
    with pytest.raises(ValueError, match=r"images.*\(1, 3, 5, 5\).*kernels.*\(2, 4, 3, 3\)"):
        f(np.zeros((1, 3, 5, 5)), np.zeros((2, 4, 3, 3)))


def test_error_not_four_d():
    with pytest.raises(TypeError, match=r"conv2d: the input x .*test_conv.py.* 4-d .* got 3"):
        conv2d(T.dtensor3("x"), T.dtensor4("w"))
    with pytest.raises(TypeError, match="filters w"):
        conv2d(T.dtensor4("x"), T.dmatrix("w"))


def test_error_filter_larger_than_input():
    x = TensorType("float64", (1, 1, 4, 4))("x")
    w = TensorType("float64", (1, 1, 5, 3))("w")
    with pytest.raises(ValueError, match=r"do not fit .*border_mode='valid'"):
        conv2d(x, w)
    assert conv2d(x, w, border_mode="full").type.shape == (1, 1, 8, 6)
    X, W = T.dtensor4("x"), T.dtensor4("w")
    with pytest.raises(ValueError, match="do not fit"):
        sg.function([X, W], conv2d(X, W))(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 5, 3)))


def test_error_bad_parameters():
    x, w = T.dtensor4("x"), T.dtensor4("w")
    with pytest.raises(ValueError, match="border_mode"):
        conv2d(x, w, border_mode="same")
    with pytest.raises(ValueError, match="subsample"):
        conv2d(x, w, subsample=(0, 1))
    with pytest.raises(ValueError, match="num_groups=3 must divide"):
        conv2d(TensorType("float64", (None, 4, None, None))("x"), w, num_groups=3)
    with pytest.raises(NotImplementedError, match="unshared"):
        conv2d(x, w, unshared=True)
    with pytest.raises(TypeError, match="float"):
        conv2d(T.itensor4("x"), w)
    with pytest.raises(ValueError, match="input_shape"):
        conv2d(TensorType("float64", (2, 3, 5, 5))("x"), w, input_shape=(2, 4, 5, 5))


def test_mixed_dtypes_upcast():
    x = T.tensor4("x", dtype="float32")
    w = T.dtensor4("w")
    assert conv2d(x, w).dtype == "float64"
