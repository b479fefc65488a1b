"""T.nnet.h_softmax (symgraph/ops/h_softmax.py) against a numpy two-level softmax."""

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.gradient import verify_grad

rng = np.random.default_rng(0)
B, F, C, O, N = 4, 5, 3, 4, 10  # batch, features, classes, outputs per class, outputs


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _weights():
    return (rng.standard_normal((F, C)), rng.standard_normal(C), rng.standard_normal((C, F, O)),
            rng.standard_normal((C, O)))


def test_every_output_and_one_target_per_example_match_numpy():
    w1, b1, w2, b2 = _weights()
    xv = rng.standard_normal((B, F))
    classes = _softmax(xv @ w1 + b1)
    want = (_softmax(np.einsum("bf,cfo->bco", xv, w2) + b2) * classes[:, :, None])
    want = want.reshape(B, C * O)[:, :N]
    x, t = T.dmatrix("x"), T.lvector("t")
    every = sg.function([x], T.nnet.h_softmax(x, B, N, C, O, w1, b1, w2, b2))(xv)
    np.testing.assert_allclose(every, want, rtol=1e-12)
    targets = np.array([0, 3, 9, 5])
    one = sg.function([x, t], T.nnet.h_softmax(x, B, N, C, O, w1, b1, w2, b2, target=t))
    np.testing.assert_allclose(one(xv, targets), want[np.arange(B), targets], rtol=1e-12)
    full = sg.function([x], T.nnet.h_softmax(x, B, C * O, C, O, w1, b1, w2, b2))(xv)
    np.testing.assert_allclose(full.sum(axis=1), 1.0, rtol=1e-12)  # a distribution


def test_gradients_match_finite_differences():
    w1, b1, w2, b2 = _weights()
    targets = np.array([1, 7, 11, 2])
    verify_grad(lambda x, a, b: T.log(T.nnet.h_softmax(x, B, C * O, C, O, a, b1, b, b2,
                                                        target=targets)).sum(),
                [rng.standard_normal((B, F)), w1, w2])


def test_bad_arguments_say_what_is_wrong():
    w1, b1, w2, b2 = _weights()
    with pytest.raises(ValueError, match="cannot hold"):
        T.nnet.h_softmax(T.dmatrix("x"), B, 13, C, O, w1, b1, w2, b2)
    with pytest.raises(TypeError, match="vector of ints"):
        T.nnet.h_softmax(T.dmatrix("x"), B, N, C, O, w1, b1, w2, b2, target=T.dvector("t"))
