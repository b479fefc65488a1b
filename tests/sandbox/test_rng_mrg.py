"""MRG_RandomStreams: Theano's API over symgraph's generator; statistics, shapes, dtypes."""

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.sandbox.rng_mrg import MRG_RandomStreams


def test_uniform_symbolic_size_and_fresh_draws():
    srng = MRG_RandomStreams(seed=234)
    x = T.dmatrix("x")
    f = sg.function([x], srng.uniform(x.shape, low=-2, high=3))
    a, b = f(np.zeros((100, 50))), f(np.zeros((100, 50)))
    assert a.shape == (100, 50) and a.dtype == sg.config.floatX
    assert a.min() >= -2 and a.max() < 3 and abs(a.mean() - 0.5) < 0.1
    assert not np.array_equal(a, b)


def test_uniform_symbolic_bounds_and_dtype():
    srng = MRG_RandomStreams(seed=1)
    lo = T.dvector("lo")
    f = sg.function([lo], srng.uniform((2000, 2), low=lo, high=lo + 1, dtype="float32"))
    out = f(np.array([10.0, -5.0]))
    assert out.dtype == np.float32
    assert (out[:, 0] >= 10).all() and (out[:, 0] < 11).all() and (out[:, 1] < -4).all()


def test_normal():
    srng = MRG_RandomStreams(seed=2)
    v = sg.function([], srng.normal((20000,), avg=1.0, std=2.0))()
    assert abs(v.mean() - 1.0) < 0.05 and abs(v.std() - 2.0) < 0.05
    std = T.dscalar("std")
    w = sg.function([std], srng.normal((20000,), std=std, truncate=True))(3.0)
    assert np.abs(w).max() <= 6.0 and 2.0 < w.std() < 3.0


def test_binomial_dropout_mask():
    srng = MRG_RandomStreams(seed=3)
    x = T.fmatrix("x")
    mask = srng.binomial(x.shape, p=0.8, dtype=x.dtype)
    assert mask.dtype == "float32"
    out = sg.function([x], x * mask)(np.ones((300, 200), "float32"))
    assert set(np.unique(out)) == {0.0, 1.0} and abs(out.mean() - 0.8) < 0.02
    p = T.dvector("p")
    counts = sg.function([p], srng.binomial(p=p))(np.array([0.0, 1.0, 1.0]))
    np.testing.assert_array_equal(counts, [0, 1, 1])
    many = sg.function([], srng.binomial((4000,), n=5, p=0.5))()
    assert many.max() <= 5 and abs(many.mean() - 2.5) < 0.1


def test_multinomial():
    srng = MRG_RandomStreams(seed=4)
    pv = T.dmatrix("pv")
    pvals = np.array([[0.1, 0.2, 0.7], [1.0, 0.0, 0.0]])
    one_hot = sg.function([pv], srng.multinomial(pvals=pv, dtype="float32"))(pvals)
    assert one_hot.dtype == np.float32 and (one_hot.sum(axis=1) == 1).all()
    assert one_hot[1, 0] == 1
    counts = sg.function([pv], srng.multinomial(pvals=pv, n=2000))(pvals)
    np.testing.assert_array_equal(counts.sum(axis=1), [2000, 2000])
    np.testing.assert_allclose(counts[0] / 2000, pvals[0], atol=0.04)
    with pytest.raises(ValueError, match="does not use size"):
        srng.multinomial(size=(2,), pvals=pv)


def test_choice_without_replacement():
    srng = MRG_RandomStreams(seed=5)
    pv = T.dmatrix("pv")
    f = sg.function([pv], srng.choice(size=2, p=pv, replace=False))
    pvals = np.array([[0.1, 0.2, 0.7], [0.5, 0.5, 0.0]])
    for _ in range(20):
        out = f(pvals)
        assert out.shape == (2, 2) and out.dtype == np.int64
        assert out[0, 0] != out[0, 1] and sorted(out[1]) == [0, 1]
    with pytest.raises(ValueError, match="fewer than 3 categories"):
        sg.function([pv], srng.choice(size=3, p=pv, replace=False))(pvals)


def test_choice_with_replacement_and_plain_choice():
    srng = MRG_RandomStreams(seed=6)
    pv = T.dmatrix("pv")
    out = sg.function([pv], srng.choice(size=500, p=pv))(np.array([[0.0, 0.25, 0.75]]))
    assert set(np.unique(out)) <= {1, 2} and abs((out == 2).mean() - 0.75) < 0.08
    plain = sg.function([], srng.choice(size=(3,), a=5, replace=False))()
    assert len(set(plain)) == 3 and plain.max() < 5


def test_seed_reproducible():
    def draw(seed):
        srng = MRG_RandomStreams(seed=seed)
        return sg.function([], srng.uniform((5,)))()

    np.testing.assert_array_equal(draw(7), draw(7))
    assert not np.array_equal(draw(7), draw(8))
    srng = MRG_RandomStreams(seed=9)
    f = sg.function([], srng.normal((4,)))
    first = f()
    srng.seed(9)
    np.testing.assert_array_equal(f(), first)


def test_size_is_required():
    with pytest.raises(ValueError, match="size must be given"):
        MRG_RandomStreams().uniform(None)
