"""RandomStreams: Theano's random-streams tutorial, distributions, seeding, default updates."""

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.ops import philox
from symgraph.ops.random import make_state
from symgraph.tensor.shared_randomstreams import RandomStreams


def test_random_streams_tutorial():
    srng = RandomStreams(seed=234)
    rv_u = srng.uniform((2, 2))
    rv_n = srng.normal((2, 2))
    f = sg.function([], rv_u)
    g = sg.function([], rv_n, no_default_updates=True)
    nearly_zeros = sg.function([], rv_u + rv_u - 2 * rv_u)
    f_val0, f_val1 = f(), f()
    assert f_val0.shape == (2, 2) and not np.allclose(f_val0, f_val1)
    np.testing.assert_array_equal(g(), g())  # no default updates: same numbers each call
    np.testing.assert_allclose(nearly_zeros(), 0, atol=1e-15)  # one draw per call


def test_values_follow_the_philox_stream_layout():
    srng = RandomStreams(seed=7)
    rv = srng.uniform((3,), low=-1.0, high=2.0, dtype="float64")
    key, _, base = rv.rng.get_value()[0:2].astype(np.uint32), None, 0
    expected, new_base = philox.uniform(key, base, (3,), -1.0, 2.0, "float64")
    np.testing.assert_array_equal(sg.function([], rv)(), expected)
    assert int(rv.rng.get_value()[3]) == new_base


def test_seeding_and_state_get_set():
    srng = RandomStreams(seed=1)
    rv = srng.normal((4,))
    f = sg.function([], rv)
    state = rv.rng.get_value()
    a = f()
    rv.rng.set_value(state)
    np.testing.assert_array_equal(f(), a)
    srng.seed(99)
    b = f()
    srng.seed(99)
    np.testing.assert_array_equal(f(), b)
    assert rv.update[0] is rv.rng and len(srng.state_updates) == 1


def test_symbolic_size_and_dropout():
    srng = RandomStreams(seed=3)
    x = T.dmatrix("x")
    keep = 0.8
    mask = srng.binomial(size=x.shape, p=keep, dtype="float64")
    dropped = sg.function([x], x * mask / keep)
    out = dropped(np.ones((200, 50)))
    assert set(np.unique(out)) <= {0.0, 1.0 / keep}
    assert abs((out > 0).mean() - keep) < 0.02


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_distribution_moments(dtype):
    srng = RandomStreams(seed=11)
    u = sg.function([], srng.uniform((20000,), low=2.0, high=4.0, dtype=dtype))()
    n = sg.function([], srng.normal((20000,), avg=1.0, std=3.0, dtype=dtype))()
    assert u.dtype == dtype and n.dtype == dtype
    assert u.min() >= 2 and u.max() < 4 and abs(u.mean() - 3) < 0.03
    assert abs(n.mean() - 1) < 0.1 and abs(n.std() - 3) < 0.1


def test_integers_choice_permutation():
    srng = RandomStreams(seed=5)
    ri = sg.function([], srng.random_integers((1000,), low=1, high=3))()
    assert set(np.unique(ri)) == {1, 2, 3}
    perm = sg.function([], srng.permutation(n=10))()
    assert sorted(perm) == list(range(10))
    c = sg.function([], srng.choice((2000,), a=3, p=[0.1, 0.1, 0.8]))()
    assert abs((c == 2).mean() - 0.8) < 0.05
    ints = sg.function([], srng.integers(5, size=(100,)))()
    assert ints.min() >= 0 and ints.max() < 5


def test_state_is_a_uint64_vector():
    state = make_state(3)
    assert state.dtype == np.uint64 and state.shape == (4,)


def test_bad_size_is_refused():
    srng = RandomStreams(seed=0)
    with pytest.raises(ValueError, match="ndim"):
        srng.uniform((2, 2), ndim=3)
    assert srng.permutation(size=(3,), n=4).ndim == 2  # size + (n,): one permutation per row
