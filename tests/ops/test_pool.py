"""pool_2d and its gradient ops against a loop reference; gradients, shapes and errors."""

import itertools
import warnings

import numpy as np
import pytest
from helpers import check_op

import symgraph as sg
import symgraph.tensor as T
from symgraph.ops.pool import (
    AveragePoolGrad,
    DownsampleFactorMaxGradGrad,
    MaxPoolGrad,
    Pool,
)
from symgraph.tensor.signal.pool import max_pool_2d_same_size, pool_2d
from symgraph.types import TensorType

rng = np.random.default_rng(0)
MODES = ["max", "sum", "average_inc_pad", "average_exc_pad"]


def _n_windows(size, ws, st, ignore_border):
    if ignore_border:
        return max((size - ws) // st + 1, 0)
    if st >= ws:
        return (size - 1) // st + 1
    return max(0, (size - 1 - ws + st) // st) + 1


def ref_pool(x, ws, ignore_border, stride=None, pad=(0, 0), mode="max"):
    """Theano's definition, one window at a time."""
    stride = stride or ws
    h, w = x.shape[-2:]
    hp, wp = h + 2 * pad[0], w + 2 * pad[1]
    oh = _n_windows(hp, ws[0], stride[0], ignore_border)
    ow = _n_windows(wp, ws[1], stride[1], ignore_border)
    out = np.zeros(x.shape[:-2] + (oh, ow), dtype=x.dtype)
    for r, c in itertools.product(range(oh), range(ow)):
        r0, c0 = r * stride[0], c * stride[1]
        r1, c1 = min(r0 + ws[0], hp), min(c0 + ws[1], wp)  # padded-image window
        real = x[..., max(r0 - pad[0], 0) : r1 - pad[0], max(c0 - pad[1], 0) : c1 - pad[1]]
        if mode == "max":
            out[..., r, c] = real.max(axis=(-2, -1))
        elif mode == "sum":
            out[..., r, c] = real.sum(axis=(-2, -1))
        elif mode == "average_exc_pad":
            out[..., r, c] = real.mean(axis=(-2, -1))
        else:
            out[..., r, c] = real.sum(axis=(-2, -1)) / ((r1 - r0) * (c1 - c0))
    return out


def _distinct(shape, dtype="float64"):
    """Values without ties (so the max gradient is well defined)."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 3).astype(dtype)


CONFIGS = [  # (shape, ws, ignore_border, stride, pad)
    ((2, 3, 6, 7), (2, 2), True, None, (0, 0)),
    ((2, 3, 7, 5), (2, 2), False, None, (0, 0)),
    ((2, 2, 7, 8), (3, 2), False, (1, 2), (0, 0)),
    ((2, 2, 7, 8), (3, 3), True, (2, 1), (1, 2)),
    ((3, 7, 6), (2, 3), False, (3, 3), (0, 0)),
    ((7, 9), (3, 2), True, (2, 3), (2, 1)),
    ((2, 1, 2, 5, 4), (2, 2), False, (1, 1), (0, 0)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape,ws,ignore_border,stride,pad", CONFIGS)
def test_pool_matches_reference(shape, ws, ignore_border, stride, pad, mode, dtype):
    x = rng.standard_normal(shape).astype(dtype)

    def build(v):
        return pool_2d(v, ws=ws, ignore_border=ignore_border, stride=stride, pad=pad, mode=mode)

    check_op(
        build,
        [x],
        lambda v: ref_pool(v, ws, ignore_border, stride, pad, mode),
        rtol=1e-5,
        atol=1e-6,
        broadcastable=False,
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape,ws,ignore_border,stride,pad", CONFIGS[1:6])
def test_pool_gradient(shape, ws, ignore_border, stride, pad, mode):
    def build(v):
        return pool_2d(v, ws=ws, ignore_border=ignore_border, stride=stride, pad=pad, mode=mode)

    check_op(build, [_distinct(shape)], grad=True, broadcastable=False)


def test_pool_gradient_float32():
    x = _distinct((2, 2, 5, 5), "float32")
    check_op(lambda v: pool_2d(v, (2, 2), True, (1, 1)), [x], grad=True, broadcastable=False)


def test_max_gradient_goes_to_every_tied_maximum():
    x = T.dmatrix("x")
    out = pool_2d(x, ws=(2, 2), ignore_border=True)
    g = sg.grad(out.sum(), x).eval({x: np.array([[1.0, 1.0, 0.0, 2.0], [0.0, 1.0, 2.0, 2.0]])})
    np.testing.assert_array_equal(g, [[1, 1, 0, 1], [0, 1, 1, 1]])


@pytest.mark.parametrize(
    "params",
    [
        dict(ws=(2, 2), ignore_border=True),
        dict(ws=(3, 2), ignore_border=False, stride=(1, 1)),
        dict(ws=(3, 3), ignore_border=True, stride=(2, 1), pad=(1, 2)),
    ],
)
def test_max_pool_second_derivative(params):
    """MaxPoolGrad and DownsampleFactorMaxGradGrad are each other's gradients."""
    x = _distinct((2, 2, 6, 7))
    z = Pool(mode="max", **params).perform(None, [x])[0]
    gz, ggx = rng.standard_normal(z.shape), rng.standard_normal(x.shape)
    xc = T.constant(x)
    zc = Pool(mode="max", **params)(xc)
    check_op(lambda g: MaxPoolGrad(**params)(xc, zc, g), [gz], grad=True, broadcastable=False)
    check_op(
        lambda g: DownsampleFactorMaxGradGrad(**params)(xc, zc, g),
        [ggx],
        grad=True,
        broadcastable=False,
    )
    # the gradient of the gradient wrt x itself is zero almost everywhere, as in Theano
    v = T.dtensor4("v")
    gx = sg.grad((pool_2d(v, **params) ** 2).sum(), v)
    hess_diag = sg.grad((gx * T.constant(ggx)).sum(), v).eval({v: x})
    assert hess_diag.shape == x.shape


@pytest.mark.parametrize("mode", ["sum", "average_inc_pad", "average_exc_pad"])
def test_average_pool_grad_gradient(mode):
    params = dict(ws=(3, 2), ignore_border=True, stride=(2, 1), pad=(1, 1), mode=mode)
    x = rng.standard_normal((2, 5, 6))
    z_shape = Pool(**params).perform(None, [x])[0].shape
    xc = T.constant(x)
    check_op(
        lambda g: AveragePoolGrad(**params)(xc, g),
        [rng.standard_normal(z_shape)],
        grad=True,
        broadcastable=False,
    )


def test_rop_of_max_pool():
    x, v = T.dtensor4("x"), T.dtensor4("v")
    out = pool_2d(x, ws=(2, 2), ignore_border=True)
    xv, vv = _distinct((1, 2, 4, 4)), rng.standard_normal((1, 2, 4, 4))
    jvp = sg.Rop(out, x, v).eval({x: xv, v: vv})
    picked = xv.reshape(1, 2, 2, 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(1, 2, 2, 2, 4)
    where = picked.argmax(-1)
    expected = np.take_along_axis(
        vv.reshape(1, 2, 2, 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(1, 2, 2, 2, 4),
        where[..., None],
        -1,
    )[..., 0]
    np.testing.assert_allclose(jvp, expected)


def test_max_pool_2d_same_size():
    x = T.dmatrix("x")
    got = max_pool_2d_same_size(x, (2, 2)).eval({x: np.array([[1.0, 3.0], [2.0, 0.0]])})
    np.testing.assert_array_equal(got, [[0, 3], [0, 0]])


def test_integer_max_and_sum():
    x = T.imatrix("x")
    v = np.arange(12, dtype="int32").reshape(3, 4)
    assert pool_2d(x, (2, 2), True).dtype == "int32"
    np.testing.assert_array_equal(pool_2d(x, (2, 2), True).eval({x: v}), [[5, 7]])
    np.testing.assert_array_equal(
        pool_2d(x, (2, 2), False, mode="sum").eval({x: v}), ref_pool(v, (2, 2), False, mode="sum")
    )


# --- static shapes, defaults --------------------------------------------------------------------


def test_static_output_shape():
    x = TensorType("float32", (64, 32, 26, 26))("x")
    assert pool_2d(x, (2, 2), True).type.shape == (64, 32, 13, 13)
    assert pool_2d(x, (3, 3), False, (2, 2)).type.shape == (64, 32, 13, 13)
    assert pool_2d(x, (3, 3), True, (2, 2), (1, 1)).type.shape == (64, 32, 13, 13)
    y = TensorType("float32", (None, 3, None, 5))("y")
    assert pool_2d(y, (2, 2), False).type.shape == (None, 3, None, 3)


def test_ignore_border_default_warns_and_is_false_as_in_theano():
    x = T.dmatrix("x")
    with pytest.warns(UserWarning, match="ignore_border"):
        out = pool_2d(x, (2, 2))
    assert out.owner.op.ignore_border is False
    assert out.eval({x: np.ones((5, 5))}).shape == (3, 3)


def test_deprecated_theano_argument_names():
    x = T.dmatrix("x")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = pool_2d(x, ds=(2, 2), ignore_border=True, st=(1, 1), padding=(1, 1))
    assert old.owner.op == pool_2d(x, (2, 2), True, (1, 1), (1, 1)).owner.op


# --- errors -------------------------------------------------------------------------------------


def test_errors():
    x = T.dmatrix("x")
    with pytest.raises(NotImplementedError, match="padding works only with ignore_border=True"):
        pool_2d(x, (2, 2), False, pad=(1, 1))
    with pytest.raises(NotImplementedError, match="smaller than the window"):
        pool_2d(x, (2, 2), True, pad=(2, 0))
    with pytest.raises(ValueError, match="mode"):
        pool_2d(x, (2, 2), True, mode="median")
    with pytest.raises(ValueError, match="ws"):
        pool_2d(x, None, True)
    with pytest.raises(ValueError, match="ws must be >= 1"):
        pool_2d(x, (0, 2), True)
    with pytest.raises(NotImplementedError, match=r"vec.*test_pool.py.*at least 2 dimensions"):
        pool_2d(T.dvector("vec"), (2, 2), True)
    with pytest.raises(TypeError, match="needs a float input"):
        pool_2d(T.imatrix("ints"), (2, 2), True, mode="average_exc_pad")
    with pytest.raises(NotImplementedError, match="symbolic"):
        pool_2d(x, (T.iscalar("k"), 2), True)
