"""The numpy kernels of conv2d and its gradients (ops/conv_kernels.py) in both column layouts,
and the native backend's conv / pool steps (codegen/conv_calls.py) with their reused buffers."""

import itertools

import numpy as np
import pytest
from helpers import check_op
from test_conv import _pads, ref_conv

import symgraph as sg
import symgraph.tensor as T
from symgraph.codegen import conv_calls, program
from symgraph.compile.mode import Mode
from symgraph.ops import conv_kernels as K
from symgraph.ops.conv import AbstractConv2d
from symgraph.tensor.signal.pool import pool_2d

rng = np.random.default_rng(1)

BORDER_MODES = ["valid", "full", "half", 1, (1, 2), ((0, 2), (1, 0))]
COMBOS = list(
    itertools.product(
        BORDER_MODES,
        [(1, 1), (2, 3)],  # subsample
        [(1, 1), (2, 1)],  # filter_dilation
        [(1, True), (2, False), (2, True)],  # num_groups, filter_flip
    )
)


def _op(border_mode, subsample, dilation, groups_flip):
    groups, flip = groups_flip
    return AbstractConv2d(border_mode, subsample, flip, dilation, groups)


def _kw(op):
    return dict(
        border_mode=op.border_mode,
        subsample=op.subsample,
        filter_flip=op.filter_flip,
        filter_dilation=op.filter_dilation,
        num_groups=op.num_groups,
    )


def ref_grads(x, w, gy, op):
    """(d<conv(x, w), gy>/dx, .../dw), one output pixel at a time."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (dh, dw), (sh, sw) = op.filter_dilation, op.subsample
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    pads = _pads(op.border_mode, eh, ew)
    xp = np.pad(x, ((0, 0), (0, 0)) + pads)
    wf = w[:, :, ::-1, ::-1] if op.filter_flip else w
    gxp, gwf = np.zeros_like(xp), np.zeros_like(wf)
    per_group = o // op.num_groups
    for b, f, y, z in itertools.product(*map(range, gy.shape)):
        g = f // per_group
        window = (b, slice(g * cg, (g + 1) * cg))
        window += (slice(y * sh, y * sh + eh, dh), slice(z * sw, z * sw + ew, dw))
        gxp[window] += gy[b, f, y, z] * wf[f]
        gwf[f] += gy[b, f, y, z] * xp[window]
    (pt, _), (pl, _) = pads
    gx = gxp[:, :, pt : pt + h, pl : pl + wd]
    return gx, (gwf[:, :, ::-1, ::-1] if op.filter_flip else gwf)


def _layouts(op):
    """Both layouts where the wide one applies (stride 1), else the compact one."""
    return [False, True] if op.subsample == (1, 1) else [False]


@pytest.mark.parametrize("combo", COMBOS)
def test_every_combination_in_both_layouts(combo):
    op = _op(*combo)
    x = rng.standard_normal((2, 4, 7, 8))
    w = rng.standard_normal((6, 4 // op.num_groups, 3, 2))
    expected = ref_conv(x, w, **_kw(op))
    oh, ow = expected.shape[2:]
    gy = rng.standard_normal(expected.shape)
    gx_ref, gw_ref = ref_grads(x, w, gy, op)
    for wide in _layouts(op):
        np.testing.assert_allclose(K.conv_forward(op, x, w, oh, ow, wide), expected, atol=1e-12)
        gx = K.conv_grad_inputs(op, w, gy, 7, 8, wide)
        np.testing.assert_allclose(gx, gx_ref, atol=1e-12)
        np.testing.assert_allclose(K.conv_grad_weights(op, x, gy, 3, 2, wide), gw_ref, atol=1e-12)


def test_layout_choice():
    valid = AbstractConv2d()
    assert K.use_wide(valid, 28, 26)  # 2 of 28 columns dropped
    assert not K.use_wide(valid, 6, 2)  # 4 of 6 dropped: the compact copy is cheaper
    assert not K.use_wide(AbstractConv2d(subsample=(1, 2)), 28, 13)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_operands_match_the_reference(bad):
    """The wide layout's dropped columns meet zeros: inf * 0 must not leak into the result."""
    op = AbstractConv2d(border_mode="valid")
    x = rng.standard_normal((2, 2, 6, 6))
    w = rng.standard_normal((3, 2, 3, 3))
    gy = rng.standard_normal((2, 3, 4, 4))
    x[0, 1, 2, 5] = bad  # the last column: only the right-most taps see it
    w[1, 0, 2, 2] = bad
    gx_ref, gw_ref = ref_grads(x, w, gy, op)
    np.testing.assert_allclose(K.conv_grad_weights(op, x, gy, 3, 3), gw_ref, atol=1e-12)
    np.testing.assert_allclose(K.conv_grad_inputs(op, w, gy, 6, 6), gx_ref, atol=1e-12)
    assert np.isfinite(gw_ref).sum() == np.isfinite(K.conv_grad_weights(op, x, gy, 3, 3)).sum()


def test_non_contiguous_inputs():
    op = AbstractConv2d(border_mode="half")
    x = rng.standard_normal((3, 8, 6, 2)).transpose(0, 3, 2, 1)  # (3, 2, 6, 8), strided
    w = rng.standard_normal((4, 3, 3, 2)).transpose(0, 3, 1, 2)[:, :, :, ::-1]
    expected = ref_conv(x, w, border_mode="half")
    np.testing.assert_allclose(K.conv_forward(op, x, w, 6, 8), expected, atol=1e-12)


# --- the native backend's steps -----------------------------------------------------------


@pytest.fixture(scope="module")
def native():
    """A mode whose driver runs the conv / pool steps of codegen/conv_calls.py."""
    conv_calls.register(program.lower, program.Emit)  # what program.py's hook does
    return Mode(backend="llvm")


def _convnet(x, w1, w2):
    h = pool_2d(T.nnet.relu(T.nnet.conv2d(x, w1)), ws=(2, 2), ignore_border=True)
    h = pool_2d(
        T.nnet.relu(T.nnet.conv2d(h, w2, border_mode="half")), ws=(2, 2), ignore_border=False
    )
    return h


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_native_steps_match_the_reference(native, dtype):
    x, w1, w2 = T.tensor4("x", dtype), T.tensor4("w1", dtype), T.tensor4("w2", dtype)
    y = _convnet(x, w1, w2)
    cost = (y * y).sum()
    outs = [y, *sg.grad(cost, [x, w1, w2])]
    f = sg.function([x, w1, w2], outs, mode=native)
    ref = sg.function([x, w1, w2], outs, mode=Mode(backend="python", optimizer=None))
    assert f.program.fallback_nodes < ref.program.fallback_nodes
    values = [rng.standard_normal(s).astype(dtype) for s in ((3, 2, 11, 12), (4, 2, 3, 3))]
    values.append(rng.standard_normal((5, 4, 3, 3)).astype(dtype))
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == "float32" else dict(rtol=1e-10, atol=1e-10)
    for _ in range(2):  # the second call runs in the buffers of the first
        for got, expected in zip(f(*values), ref(*values)):
            np.testing.assert_allclose(got, expected, **tol)


def test_native_outputs_held_by_the_caller_are_not_overwritten(native):
    x, w = T.dtensor4("x"), T.dtensor4("w")
    y = T.nnet.conv2d(x, w)
    f = sg.function([x, w], [y, pool_2d(y, ws=(2, 2), ignore_border=True)], mode=native)
    a = [rng.standard_normal((2, 1, 6, 6)), rng.standard_normal((2, 1, 3, 3))]
    first = [o.copy() for o in f(*a)]
    kept = f(*a)
    f(rng.standard_normal((2, 1, 6, 6)), a[1])
    for k, f0 in zip(kept, first):
        np.testing.assert_array_equal(k, f0)


@pytest.mark.parametrize("border_mode,subsample", [("valid", (1, 1)), ("half", (2, 1))])
def test_native_gradient_by_finite_differences(native, border_mode, subsample):
    kw = dict(border_mode=border_mode, subsample=subsample)
    values = [rng.standard_normal((2, 2, 6, 7)), rng.standard_normal((3, 2, 3, 2))]
    check_op(
        lambda x, w: pool_2d(T.nnet.conv2d(x, w, **kw), ws=(2, 2), ignore_border=True),
        values,
        grad=True,
    )
