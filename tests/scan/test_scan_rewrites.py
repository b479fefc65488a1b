"""The scan rewrites (symgraph/opt/scan.py) and the adjoint's reuse of forward outputs:
graph structure first, then values against numpy or finite differences."""

import numpy as np

import symgraph as sg
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.scan import Scan


def _scans(f) -> list:
    return [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Scan)]


def _inner_ops(node) -> str:
    """The ops of the compiled inner function, printed (fused expressions included)."""
    return " ".join(str(n.op) for n in node.op.fn().maker.fgraph.toposort())


def _rnn(x, h0, w):
    h, _ = sg.scan(
        lambda xt, hp, w: T.tanh(hp * w + xt), sequences=x, outputs_info=h0, non_sequences=w
    )
    return h


def _rnn_reference(x, h0, w):
    hs, h = [], h0
    for xt in x:
        h = np.tanh(h * w + xt)
        hs.append(h)
    return np.array(hs)


def test_a_state_used_only_at_its_last_step_keeps_its_last_value(rng):
    x, h0, w = T.dmatrix("x"), T.dvector("h0"), T.dvector("w")
    f = sg.function([x, h0, w], (_rnn(x, h0, w)[-1] ** 2).sum())
    (node,) = _scans(f)
    assert node.op.info.states[0].keep == "last"
    values = [rng.normal(size=(6, 3)), rng.normal(size=3), rng.normal(size=3)]
    expected = (_rnn_reference(*values)[-1] ** 2).sum()
    np.testing.assert_allclose(f(*values), expected, rtol=1e-12)


def test_a_state_used_elsewhere_keeps_every_step(rng):
    x, h0, w = T.dmatrix("x"), T.dvector("h0"), T.dvector("w")
    h = _rnn(x, h0, w)
    f = sg.function([x, h0, w], [h[-1], h[0]])
    (node,) = _scans(f)
    assert node.op.info.states[0].keep == "all"
    values = [rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=3)]
    ref = _rnn_reference(*values)
    for got, want in zip(f(*values), [ref[-1], ref[0]]):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_invariant_inner_nodes_are_hoisted_out_of_the_loop(rng):
    x, w = T.dmatrix("x"), T.dmatrix("w")
    out, _ = sg.map(lambda xt, w: T.dot(xt, T.exp(w)), sequences=x, non_sequences=w)
    f = sg.function([x, w], out)
    (node,) = _scans(f)
    assert "exp" not in _inner_ops(node)
    xv, wv = rng.normal(size=(5, 3)), rng.normal(size=(3, 2))
    np.testing.assert_allclose(f(xv, wv), xv @ np.exp(wv), rtol=1e-12)


def test_the_gradient_of_an_unrequested_sequence_is_not_computed(rng):
    x, h0, w = T.dmatrix("x"), T.dvector("h0"), T.dvector("w")
    loss = (_rnn(x, h0, w)[-1] ** 2).sum()
    f = sg.function([x, h0, w], sg.grad(loss, w))
    backward = [n for n in _scans(f) if n.op.name and n.op.name.startswith("grad_of")]
    (node,) = backward
    assert node.op.info.scatters == ()
    verify_grad(
        lambda w: (
            _rnn(T.constant(np.ones((5, 3)) * 0.3), T.constant(np.ones(3)), w)[-1] ** 2
        ).sum(),
        [rng.normal(size=3)],
        rng=rng,
    )


def test_the_adjoint_reads_forward_states_instead_of_recomputing_them(rng):
    x, h0, w = T.dmatrix("x"), T.dvector("h0"), T.dvector("w")
    loss = (_rnn(x, h0, w)[-1] ** 2).sum()
    f = sg.function([x, h0, w], sg.grad(loss, [x, h0, w]))
    (backward,) = [n for n in _scans(f) if n.op.name and n.op.name.startswith("grad_of")]
    assert "tanh" not in _inner_ops(backward)
    verify_grad(
        lambda x, h0, w: (_rnn(x, h0, w)[-1] ** 2).sum(),
        [rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=3)],
        rng=rng,
    )
