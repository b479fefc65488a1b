"""Gradients through scan (backpropagation through time) against finite differences."""

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.scan import Scan, until


def _rnn(x, h0, w):
    h, _ = sg.scan(
        lambda xt, hp, w: T.tanh(hp * w + xt), sequences=x, outputs_info=h0, non_sequences=w
    )
    return h


def test_sit_sot_sequence_initial_state_and_non_sequence(rng):
    x, h0, w = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=3)
    verify_grad(_rnn, [x, h0, w], rng=rng)
    verify_grad(lambda x, h0, w: _rnn(x, h0, w)[-1], [x, h0, w], rng=rng)


def test_mit_sot_taps_and_initial_rows(rng):
    def fib_like(init, w):
        out, _ = sg.scan(
            lambda a, b, w: T.sin(a) * w + b * b * 0.5,
            outputs_info=dict(initial=init, taps=[-2, -1]),
            non_sequences=w,
            n_steps=5,
        )
        return out

    verify_grad(fib_like, [rng.normal(size=(2, 3)) * 0.5, rng.normal(size=3)], rng=rng)
    # an initial state longer than the taps need: its extra rows get no gradient
    verify_grad(fib_like, [rng.normal(size=(4, 3)) * 0.5, rng.normal(size=3)], rng=rng)


def test_sequence_taps(rng):
    def f(x, w):
        out, _ = sg.scan(
            lambda a, b, c, w: a * b + T.exp(c) * w,
            sequences=dict(input=x, taps=[-2, 0, 1]),
            non_sequences=w,
        )
        return out

    verify_grad(f, [rng.normal(size=(7, 2)), rng.normal(size=2)], rng=rng)


def test_go_backwards(rng):
    def f(x, h0):
        out, _ = sg.scan(
            lambda a, b, h: T.tanh(h + a * b),
            sequences=dict(input=x, taps=[0, 1]),
            outputs_info=h0,
            go_backwards=True,
        )
        return out

    verify_grad(f, [rng.normal(size=(6, 2)), rng.normal(size=2)], rng=rng)


def test_map_outputs_and_several_outputs(rng):
    def f(x, y, h0):
        (h, s), _ = sg.scan(
            lambda a, b, h: [h * a + b, (a * b).sum()], sequences=[x, y], outputs_info=[h0, None]
        )
        return h.sum() + s.sum() * 2

    verify_grad(f, [rng.normal(size=(4, 3)), rng.normal(size=(5, 3)), rng.normal(size=3)], rng=rng)


def test_implicit_shared_and_free_variables(rng):
    W = sg.shared(rng.normal(size=(3, 3)) * 0.5, name="W")
    x = T.dmatrix("x")
    c = T.dvector("c")
    h, _ = sg.scan(
        lambda xt, hp: T.tanh(T.dot(hp, W) + xt + c), sequences=x, outputs_info=T.zeros_like(c)
    )
    cost = (h**2).sum()
    gW, gx, gc = sg.grad(cost, [W, x, c])
    f = sg.function([x, c], [cost, gW, gx, gc])
    xv, cv = rng.normal(size=(4, 3)), rng.normal(size=3)
    _, gw_v, gx_v, gc_v = f(xv, cv)
    w0 = W.get_value()

    def numeric(fun, value, eps=1e-6):
        out = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            hi, lo = value.copy(), value.copy()
            hi[idx] += eps
            lo[idx] -= eps
            out[idx] = (fun(hi) - fun(lo)) / (2 * eps)
        return out

    def cost_np(w, xv, cv):
        hp, total = np.zeros(3), 0.0
        for t in range(len(xv)):
            hp = np.tanh(hp @ w + xv[t] + cv)
            total += (hp**2).sum()
        return total

    np.testing.assert_allclose(gw_v, numeric(lambda w: cost_np(w, xv, cv), w0), atol=1e-6)
    np.testing.assert_allclose(gx_v, numeric(lambda v: cost_np(w0, v, cv), xv), atol=1e-6)
    np.testing.assert_allclose(gc_v, numeric(lambda v: cost_np(w0, xv, v), cv), atol=1e-6)


def test_until_gradient(rng):
    def f(h0, w):
        out, _ = sg.scan(
            lambda h, w: (h * w + 1.0, until(T.sum(h) > 8.0)),
            outputs_info=h0,
            non_sequences=w,
            n_steps=50,
        )
        return out

    verify_grad(f, [np.array([0.5, 0.3]), np.array([1.2, 1.1])], rng=rng)


def test_truncate_gradient_matches_truncated_bptt(rng):
    x = T.dvector("x")
    w = T.dscalar("w")
    h, _ = sg.scan(
        lambda xt, hp, w: hp * w + xt,
        sequences=x,
        outputs_info=T.constant(0.0, dtype="float64"),
        non_sequences=w,
        truncate_gradient=2,
    )
    gx, gw = sg.grad(h.sum(), [x, w])
    f = sg.function([x, w], [gx, gw])
    xv, wv = rng.normal(size=6), 0.7
    gx_v, gw_v = f(xv, wv)
    hs = np.zeros(7)
    for t in range(6):
        hs[t + 1] = hs[t] * wv + xv[t]
    exp_gx, exp_gw, acc = np.zeros(6), 0.0, 0.0
    for t in (5, 4):  # the last two steps only
        g = 1.0 + acc
        exp_gx[t] = g
        exp_gw += g * hs[t]
        acc = g * wv
    np.testing.assert_allclose(gx_v, exp_gx)
    np.testing.assert_allclose(gw_v, exp_gw)


def test_grad_of_grad(rng):
    def gradient_of_scan(x, w):
        h = _rnn(x, T.zeros_like(w), w)
        return sg.grad((h**2).sum(), w)

    verify_grad(gradient_of_scan, [rng.normal(size=(4, 2)), rng.normal(size=2)], rng=rng)


def test_rop_through_scan(rng):
    x = T.dmatrix("x")
    w = T.dvector("w")
    v = T.dvector("v")
    h = _rnn(x, T.zeros_like(w), w)
    jv = sg.Rop(h, w, v)
    f = sg.function([x, w, v], jv)
    xv, wv, vv = rng.normal(size=(3, 2)), rng.normal(size=2), rng.normal(size=2)
    run = sg.function([x, w], h)
    eps = 1e-6
    numeric = (run(xv, wv + eps * vv) - run(xv, wv - eps * vv)) / (2 * eps)
    np.testing.assert_allclose(f(xv, wv, vv), numeric, atol=1e-6)


def test_gradient_through_a_shared_update(rng):
    acc = sg.shared(np.zeros(2), name="acc")
    x = T.dmatrix("x")
    _, updates = sg.scan(lambda xt: {acc: acc * 0.5 + T.sin(xt)}, sequences=x)
    final = updates[acc]
    g = sg.grad((final**2).sum(), x)
    xv = rng.normal(size=(4, 2))
    got = sg.function([x], g)(xv)

    def final_np(xv):
        a = np.zeros(2)
        for row in xv:
            a = a * 0.5 + np.sin(row)
        return (a**2).sum()

    numeric = np.zeros_like(xv)
    for idx in np.ndindex(xv.shape):
        hi, lo = xv.copy(), xv.copy()
        hi[idx] += 1e-6
        lo[idx] -= 1e-6
        numeric[idx] = (final_np(hi) - final_np(lo)) / 2e-6
    np.testing.assert_allclose(got, numeric, atol=1e-6)


def test_backward_scan_accumulates_non_sequence_gradients():
    x = T.dmatrix("x")
    w = T.dvector("w")
    h = _rnn(x, T.zeros_like(w), w)
    gw = sg.grad(h.sum(), w)
    backs = [
        n
        for n in sg.function([x, w], gw).maker.fgraph.toposort()
        if isinstance(n.op, Scan) and n.op.name == "grad_of_scan"
    ]
    assert backs, "no backward scan found"
    info = backs[0].op.info
    # the gradient of w is one running sum, not a buffer of every step
    assert all(s.keep == "last" for s in info.states)


def test_integer_sequence_has_no_gradient(rng):
    x = T.dvector("x")
    idx = T.arange(x.shape[0])
    out, _ = sg.scan(lambda i, v: v * T.cast(i, "float64"), sequences=[idx, x])
    g = sg.function([x], sg.grad(out.sum(), x))(np.ones(4))
    np.testing.assert_allclose(g, [0.0, 1.0, 2.0, 3.0])


@pytest.mark.parametrize("n", [0, 1])
def test_gradient_with_zero_or_one_step(n, rng):
    x = T.dvector("x")
    h0 = T.dvector("h0")
    h, _ = sg.scan(lambda hp: hp * x, outputs_info=h0, n_steps=n)
    g = sg.grad(h.sum() + h0.sum(), h0)
    got = sg.function([x, h0], g)(np.array([2.0, 3.0]), np.ones(2))
    np.testing.assert_allclose(got, 1 + (np.array([2.0, 3.0]) if n else 0))


def test_until_with_go_backwards_gradient(rng):
    def f(x, h0):
        out, _ = sg.scan(
            lambda a, b, h: (h * a + b, until(T.sum(h) > 2.0)),
            sequences=dict(input=x, taps=[0, 1]),
            outputs_info=h0,
            go_backwards=True,
            n_steps=7,
        )
        return out

    x = np.abs(rng.normal(size=(9, 2))) + 0.5
    xs, h0 = T.dmatrix("x"), T.dvector("h0")
    n_done = sg.function([xs, h0], f(xs, h0))(x, np.array([0.1, 0.2])).shape[0]
    assert 1 < n_done < 7  # the loop stops early, and the steps it ran end at x's last rows
    verify_grad(f, [x, np.array([0.1, 0.2])], rng=rng)
