"""The push-out scan rewrites (symgraph/opt/scan.py): products of a sequence row and invariants
run over the whole sequence before the loop (push_seqs); accumulators of per-step products and
sums run after it (push_sums). Graph structure first, then values against numpy, finite
differences or the same graph compiled without the scan pass."""

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.compile.mode import Mode
from symgraph.config import config
from symgraph.gradient import verify_grad
from symgraph.graph import toposort
from symgraph.ops.blas import Dot
from symgraph.scan import Scan


def _scans(f) -> list:
    return [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Scan)]


def _backward(f):
    (node,) = [n for n in _scans(f) if n.op.name and n.op.name.startswith("grad_of")]
    return node


def _inner_dots(node) -> list:
    return [n for n in toposort(list(node.op.inner_outputs)) if isinstance(n.op, Dot)]


def _unrewritten(inputs, outputs):
    return sg.function(inputs, outputs, mode=Mode(backend=config.mode, excluding=("scan",)))


def _rnn(x, h0, w, u, b, **kwargs):
    h, _ = sg.scan(
        lambda xt, hp: T.tanh(T.dot(xt, w) + T.dot(hp, u) + b),
        sequences=x,
        outputs_info=h0,
        **kwargs,
    )
    return h


def _rnn_values(rng, steps=6, batch=4, n_in=3, n_hid=5):
    return [
        rng.normal(size=(steps, batch, n_in)),
        rng.normal(size=(batch, n_hid)),
        rng.normal(size=(n_in, n_hid)) * 0.5,
        rng.normal(size=(n_hid, n_hid)) * 0.5,
        rng.normal(size=n_hid) * 0.1,
    ]


def _rnn_reference(x, h0, w, u, b):
    hs, h = [], h0
    for xt in x:
        h = np.tanh(xt @ w + h @ u + b)
        hs.append(h)
    return np.array(hs)


def _rnn_vars():
    return T.dtensor3("x"), T.dmatrix("h0"), T.dmatrix("w"), T.dmatrix("u"), T.dvector("b")


# --- push_seqs ---
def test_the_product_of_a_sequence_row_and_a_weight_runs_once_before_the_loop(rng):
    x, h0, w, u, b = _rnn_vars()
    f = sg.function([x, h0, w, u, b], _rnn(x, h0, w, u, b))
    (node,) = _scans(f)
    (dot,) = _inner_dots(node)  # h_{t-1} @ U only
    assert dot.inputs[1] in node.op.inner_inputs
    assert f.maker.fgraph.rewrites["scan"]["push_seqs"] == 1
    values = _rnn_values(rng)
    np.testing.assert_allclose(f(*values), _rnn_reference(*values), rtol=1e-12)


def test_elementwise_work_feeding_the_product_moves_with_it(rng):
    x, w, c = T.dtensor3("x"), T.dmatrix("w"), T.dvector("c")
    out, _ = sg.map(lambda xt: T.exp(T.dot(T.tanh(xt) * 2 + c, w)), sequences=x)
    f = sg.function([x, w, c], out)
    (node,) = _scans(f)
    assert not _inner_dots(node)
    assert "tanh" not in " ".join(str(n.op) for n in toposort(list(node.op.inner_outputs)))
    xv, wv, cv = rng.normal(size=(4, 3, 2)), rng.normal(size=(2, 5)), rng.normal(size=2)
    np.testing.assert_allclose(f(xv, wv, cv), np.exp((np.tanh(xv) * 2 + cv) @ wv), rtol=1e-12)


def test_elementwise_work_alone_stays_in_the_loop(rng):
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    out, _ = sg.scan(lambda xt, h: h + T.exp(xt), sequences=x, outputs_info=h0)
    f = sg.function([x, h0], out)
    assert "push_seqs" not in f.maker.fgraph.rewrites.get("scan", {})
    xv, hv = rng.normal(size=(4, 3)), rng.normal(size=3)
    np.testing.assert_allclose(f(xv, hv), hv + np.cumsum(np.exp(xv), 0), rtol=1e-12)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_pushed_sequences_keep_taps_direction_and_length(rng, go_backwards):
    # vector rows, two taps, a sequence longer than the steps
    x, w, h0 = T.dmatrix("x"), T.dmatrix("w"), T.dvector("h0")
    out, _ = sg.scan(
        lambda xa, xb, h: T.tanh(T.dot(xa, w) - T.dot(xb, w) + h),
        sequences=dict(input=x, taps=[-1, 1]),
        outputs_info=h0,
        n_steps=4,
        go_backwards=go_backwards,
    )
    f = sg.function([x, w, h0], out)
    (node,) = _scans(f)
    assert not _inner_dots(node)
    values = [rng.normal(size=(8, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)]
    want = _unrewritten([x, w, h0], out)(*values)
    np.testing.assert_allclose(f(*values), want, rtol=1e-12)


# --- push_sums ---
def test_weight_gradients_of_a_backward_scan_are_one_product_each(rng):
    x, h0, w, u, b = _rnn_vars()
    loss = (_rnn(x, h0, w, u, b)[-1] ** 2).mean()
    grads = sg.grad(loss, [w, u, b])
    f = sg.function([x, h0, w, u, b], grads)
    back = _backward(f)
    assert back.op.info.states == ()  # no accumulator left in the loop
    assert f.maker.fgraph.rewrites["scan"]["push_sums"] == 3
    assert len(_inner_dots(back)) == 1  # d(state) @ U.T only
    values = _rnn_values(rng)
    want = _unrewritten([x, h0, w, u, b], grads)(*values)
    for got, ref in zip(f(*values), want):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
    verify_grad(
        lambda w, u, b: (
            _rnn(T.constant(values[0]), T.constant(values[1]), w, u, b)[-1] ** 2
        ).mean(),
        values[2:],
        rng=rng,
    )


def test_gradients_through_a_backwards_scan_with_sequence_taps(rng):
    x, h0, w, u, b = _rnn_vars()

    def loss(x, h0, w, u, b):
        h, _ = sg.scan(
            lambda xa, xb, hp: T.tanh(T.dot(xa * xb, w) + T.dot(hp, u) + b),
            sequences=dict(input=x, taps=[-2, 0]),
            outputs_info=h0,
            go_backwards=True,
        )
        return (h**2).sum() + h[2].sum()

    grads = sg.grad(loss(x, h0, w, u, b), [x, h0, w, u, b])
    f = sg.function([x, h0, w, u, b], grads)
    assert f.maker.fgraph.rewrites["scan"]["push_sums"] == 3
    values = _rnn_values(rng, steps=7)
    want = _unrewritten([x, h0, w, u, b], grads)(*values)
    for got, ref in zip(f(*values), want):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
    verify_grad(loss, values, rng=rng)


def test_truncated_gradients_keep_their_accumulators(rng):
    x, h0, w, u, b = _rnn_vars()
    h = _rnn(x, h0, w, u, b, truncate_gradient=2)
    grads = sg.grad((h[-1] ** 2).sum(), [w, u, b])
    f = sg.function([x, h0, w, u, b], grads)
    assert len(_backward(f).op.info.states) == 3
    values = _rnn_values(rng)
    want = _unrewritten([x, h0, w, u, b], grads)(*values)
    for got, ref in zip(f(*values), want):
        np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_a_user_accumulator_used_at_its_end_is_summed_after_the_loop(rng):
    a, c, s0, v0 = T.dtensor3("a"), T.dtensor3("c"), T.dmatrix("s0"), T.dvector("v0")
    (s, v), _ = sg.scan(
        lambda at, ct, s, v: [s + T.dot(at.T, T.exp(ct)), v + ct.sum(axis=0)],
        sequences=[a, c],
        outputs_info=[s0, v0],
    )
    f = sg.function([a, c, s0, v0], [s[-1], v[-1]])
    (node,) = _scans(f)
    assert node.op.info.states == ()
    av, cv = rng.normal(size=(5, 4, 3)), rng.normal(size=(5, 4, 2))
    s0v, v0v = rng.normal(size=(3, 2)), rng.normal(size=2)
    got_s, got_v = f(av, cv, s0v, v0v)
    want_s = s0v + sum(at.T @ np.exp(ct) for at, ct in zip(av, cv))
    np.testing.assert_allclose(got_s, want_s, rtol=1e-12)
    np.testing.assert_allclose(got_v, v0v + cv.sum(axis=(0, 1)), rtol=1e-12)
    # with no steps the accumulators keep their initial values
    got_s, got_v = f(av[:0], cv[:0], s0v, v0v)
    np.testing.assert_allclose(got_s, s0v)
    np.testing.assert_allclose(got_v, v0v)


def test_an_accumulator_read_at_every_step_stays_in_the_loop(rng):
    a, s0 = T.dtensor3("a"), T.dmatrix("s0")
    s, _ = sg.scan(lambda at, s: s + T.dot(at.T, at), sequences=a, outputs_info=s0)
    f = sg.function([a, s0], s)
    (node,) = _scans(f)
    assert len(node.op.info.states) == 1
    av, s0v = rng.normal(size=(3, 4, 2)), rng.normal(size=(2, 2))
    np.testing.assert_allclose(f(av, s0v), s0v + np.cumsum(av.transpose(0, 2, 1) @ av, 0))
