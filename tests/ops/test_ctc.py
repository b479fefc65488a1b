"""T.nnet.ctc.ctc (symgraph/ops/ctc.py) against a sum over every alignment, with gradients."""

import itertools

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.gradient import verify_grad

rng = np.random.default_rng(0)


def _by_enumeration(acts: np.ndarray, labels: list[int]) -> float:
    """-log of the summed probability of every path that collapses to `labels`."""
    p = np.exp(acts - acts.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    total = 0.0
    for path in itertools.product(range(acts.shape[1]), repeat=len(acts)):
        merged = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
        if [k for k in merged if k != 0] == labels:
            total += np.prod([p[t, k] for t, k in enumerate(path)])
    return -np.log(total)


def _inputs():
    acts = rng.standard_normal((5, 4, 4))
    labels = np.array([[1, 2, -1], [2, 2, -1], [3, -1, -1], [-1, -1, -1]], dtype="int32")
    lengths = np.array([5, 5, 4, 3], dtype="int32")
    return acts, labels, lengths


def test_costs_match_every_alignment_summed():
    acts, labels, lengths = _inputs()
    a, lab, n = T.dtensor3("a"), T.imatrix("labels"), T.ivector("lengths")
    got = sg.function([a, lab, n], T.nnet.ctc.ctc(a, lab, n))(acts, labels, lengths)
    for b in range(4):
        row = [int(k) for k in labels[b] if k >= 0]
        np.testing.assert_allclose(got[b], _by_enumeration(acts[: lengths[b], b], row),
                                   rtol=1e-10)


def test_gradients_match_finite_differences_and_stop_at_each_length():
    acts, labels, lengths = _inputs()
    weights = np.array([1.0, 2.0, 0.5, 1.0])
    verify_grad(lambda x: (T.nnet.ctc.ctc(x, labels, lengths) * weights).sum(), [acts])
    a = T.dtensor3("a")
    g = sg.function([a], sg.grad(T.nnet.ctc.ctc(a, labels, lengths).sum(), a))(acts)
    np.testing.assert_array_equal(g[4:, 2], 0)  # past sequence 2's four steps
    np.testing.assert_allclose(g[:4, 2].sum(axis=1), 0, atol=1e-12)  # softmax: rows sum to 0


def test_float32_and_an_impossible_alignment():
    acts = rng.standard_normal((2, 1, 3)).astype("float32")
    a, lab, n = T.ftensor3("a"), T.imatrix("labels"), T.ivector("lengths")
    cost = T.nnet.ctc.ctc(a, lab, n)
    assert cost.dtype == "float32"
    # "1 1" needs a blank between the ones: three steps, and there are two
    f = sg.function([a, lab, n], cost)
    assert np.isinf(f(acts, np.array([[1, 1]], "int32"), np.array([2], "int32"))[0])


def test_bad_inputs_are_refused_with_their_names():
    a, lab, n = T.dtensor3("a"), T.imatrix("labels"), T.ivector("lengths")
    with pytest.raises(TypeError, match="labels .* 2-d int"):
        T.nnet.ctc.ctc(a, T.dmatrix("labels"), n)
    f = sg.function([a, lab, n], T.nnet.ctc.ctc(a, lab, n))
    acts = rng.standard_normal((3, 1, 3))
    with pytest.raises(ValueError, match="blank"):
        f(acts, np.array([[0]], "int32"), np.array([3], "int32"))
    with pytest.raises(ValueError, match="input_lengths"):
        f(acts, np.array([[1]], "int32"), np.array([4], "int32"))
