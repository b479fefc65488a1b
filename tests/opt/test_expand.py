"""The expand pass: softmax, log-softmax and the fused crossentropy ops as elementwise ops and
reductions, against the ops' own numpy kernels (the pass excluded), on the native backend."""

from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.ops import nnet as N
from symgraph.opt.expand import expand
from tests.opt.rewrite_util import ops, rewritten

NATIVE = sg.Mode()
UNEXPANDED = sg.Mode().excluding("expand")
FUSED_OPS = {"Softmax", "LogSoftmax", "CrossentropySoftmaxArgmax1HotWithBias",
             "CrossentropySoftmax1HotWithBiasDx"}


def _logits(dtype):
    v = np.random.default_rng(0).normal(size=(6, 5)).astype(dtype)
    v[0] = [1e4, 0, -1e4, 3, 2]  # a softmax that overflows unless the maximum goes first
    v[1, 2] = -np.inf  # a class with probability 0
    return v


def _both(inputs, outputs, *values):
    """The outputs compiled with and without the expand pass, and the expanded function."""
    f = sg.function(inputs, outputs, mode=NATIVE)
    ref = sg.function(inputs, outputs, mode=UNEXPANDED)
    return f(*values), ref(*values), f


def _op_names(f) -> set:
    return {type(n.op).__name__ for n in f.maker.fgraph.apply_nodes}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("axis", [-1, 0, None])
def test_softmax_and_log_softmax_expand_and_match_their_kernels(dtype, axis):
    x = T.TensorType(dtype, (None, None))("x")
    v = _logits(dtype)
    outs = [N.softmax(x, axis=axis), N.log_softmax(x, axis=axis)]
    got, want, f = _both([x], outs, v)
    assert not _op_names(f) & FUSED_OPS
    tol = 1e-6 if dtype == "float32" else 1e-13
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_fused_crossentropy_and_its_gradient_expand_and_match_their_kernels(dtype):
    x, b, y = T.TensorType(dtype, (None, None))("x"), T.TensorType(dtype, (None,))("b"), \
        T.ivector("y")
    nll, sm, am = N.crossentropy_softmax_argmax_1hot_with_bias(x, b, y)
    gx, gb = sg.grad(nll.mean(), [x, b])
    v = _logits(dtype)
    v[1, 2] = -50.0  # finite: the gradient of a -inf logit is nan in both forms
    bias = np.linspace(-1, 1, 5).astype(dtype)
    labels = np.array([0, 1, 4, 3, 2, 2], dtype="int32")
    got, want, f = _both([x, b, y], [nll, sm, am, gx, gb], v, bias, labels)
    assert not _op_names(f) & FUSED_OPS
    # numpy runs only the one-hot of the labels (one node for the loss and its gradient)
    # and the argmax
    assert sorted(type(n.op).__name__ for n in f.program.fallbacks) == ["Argmax", "OneHot"]
    tol = 1e-5 if dtype == "float32" else 1e-12
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
    assert np.all(np.isfinite(got[0])) and got[0][0] == pytest.approx(0.0, abs=tol)


def test_a_label_whose_logit_is_minus_infinity_costs_infinity_and_others_stay_finite():
    x, y = T.dmatrix("x"), T.ivector("y")
    nll = N.crossentropy_softmax_1hot(x, y)[0]
    v = np.array([[0.0, -np.inf, 1.0], [2.0, 0.0, -np.inf]])
    got, want, _ = _both([x, y], nll, v, np.array([1, 0], dtype="int32"))
    np.testing.assert_array_equal(got, want)
    assert got[0] == np.inf and np.isfinite(got[1])


def test_the_pass_replaces_every_fused_op_and_leaves_other_graphs_alone():
    x, y = T.dmatrix("x"), T.ivector("y")
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(x), y).mean()
    fg = rewritten([loss, sg.grad(loss, x)], ["canonicalize", "stabilize"])
    assert {"CrossentropySoftmaxArgmax1HotWithBias", "CrossentropySoftmax1HotWithBiasDx"} <= \
        {o.split("{")[0] for o in ops(fg)}
    hits = expand(fg)
    assert not {o.split("{")[0] for o in ops(fg)} & FUSED_OPS
    assert hits
    plain = rewritten([T.exp(x) + 1], ["canonicalize"])
    before = ops(plain)
    assert not expand(plain) and ops(plain) == before
