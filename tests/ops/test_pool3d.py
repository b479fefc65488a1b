"""T.signal.pool.pool_3d against a window-by-window numpy reference, with gradients."""

import numpy as np
import pytest

import symgraph as sg
from symgraph.gradient import verify_grad
from symgraph.tensor.signal.pool import pool_3d
from symgraph.types import TensorType

rng = np.random.default_rng(0)
VOLUMES = TensorType("float64", (None,) * 5)
REDUCE = {"max": np.max, "sum": np.sum, "average_exc_pad": np.mean}


def _out_size(n: int, w: int, s: int, ignore_border: bool) -> int:
    if ignore_border:
        return (n - w) // s + 1
    return (n - 1) // s + 1 if s >= w else max(0, (n - 1 - w + s) // s) + 1


def _reference(a, ws, st, mode, ignore_border):
    sizes = [_out_size(n, w, s, ignore_border) for n, w, s in zip(a.shape[2:], ws, st)]
    out = np.empty(a.shape[:2] + tuple(sizes))
    for idx in np.ndindex(*sizes):
        window = a[(slice(None), slice(None)) + tuple(
            slice(i * s, i * s + w) for i, w, s in zip(idx, ws, st))]  # clipped at the end
        out[(slice(None), slice(None)) + idx] = REDUCE[mode](window, axis=(2, 3, 4))
    return out


@pytest.mark.parametrize("mode", ["max", "sum", "average_exc_pad"])
@pytest.mark.parametrize("ignore_border", [True, False])
@pytest.mark.parametrize("ws,st", [((2, 2, 2), (2, 2, 2)), ((3, 2, 2), (1, 2, 1))])
def test_matches_numpy_window_by_window(mode, ignore_border, ws, st):
    a = rng.standard_normal((2, 3, 7, 5, 6))
    x = VOLUMES("x")
    f = sg.function([x], pool_3d(x, ws, ignore_border=ignore_border, stride=st, mode=mode))
    np.testing.assert_allclose(f(a), _reference(a, ws, st, mode, ignore_border), atol=1e-12)


@pytest.mark.parametrize("mode", ["max", "average_inc_pad"])
def test_gradients_match_finite_differences(mode):
    a = rng.standard_normal((1, 2, 4, 4, 5))
    verify_grad(lambda v: (pool_3d(v, (2, 2, 2), ignore_border=True, mode=mode) ** 2).sum(), [a])


def test_bad_arguments_say_what_is_wrong():
    x = VOLUMES("x")
    with pytest.raises(ValueError, match="window size"):
        pool_3d(x)
    with pytest.raises(ValueError, match="3 entries"):
        pool_3d(x, (2, 2), ignore_border=True)
    with pytest.warns(UserWarning, match="ignore_border"):
        pool_3d(x, (2, 2, 2))
    with pytest.raises(TypeError, match="at least 3 dimensions"):
        pool_3d(TensorType("float64", (None, None))("m"), (2, 2, 2), ignore_border=True)
