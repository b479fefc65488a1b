"""The C kernels of 2x2 max pooling (codegen/pool_native.py) against the ops' numpy kernels."""

import numpy as np
import pytest

from symgraph.codegen import pool_native
from symgraph.codegen.conv_calls import Workspace
from symgraph.ops.pool import MaxPoolGrad, Pool

pytestmark = pytest.mark.skipif(pool_native.library() is None, reason="no C compiler")
rng = np.random.default_rng(2)


def _both(shape, dtype, ignore_border=True, x=None):
    x = rng.standard_normal(shape).astype(dtype) if x is None else x
    pool, grad = Pool((2, 2), ignore_border), MaxPoolGrad((2, 2), ignore_border)
    z = pool.perform(None, [x])[0]
    gz = rng.standard_normal(z.shape).astype(dtype)
    ws = Workspace()
    got_z = pool_native.maxpool(pool, x, ws)
    got_gx = pool_native.maxpool_grad(grad, x, z, gz, ws)
    return (z, grad.perform(None, [x, z, gz])[0]), (got_z, got_gx)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(2, 3, 8, 6), (2, 3, 9, 7), (5, 4, 5), (2, 1, 2, 3, 4)])
def test_matches_numpy(shape, dtype):
    (z, gx), (got_z, got_gx) = _both(shape, dtype)
    np.testing.assert_array_equal(got_z, z)
    np.testing.assert_array_equal(got_gx, gx)


def test_ties_nan_and_infinities():
    x = np.array(
        [
            [1.0, 1.0, np.nan, 0.0, -np.inf, -np.inf],
            [0.0, 1.0, 5.0, 2.0, -np.inf, -np.inf],
            [np.inf, 2.0, -1.0, -1.0, 3.0, 4.0],
            [1.0, np.inf, -1.0, -2.0, 4.0, 4.0],
        ]
    )[None]
    (z, gx), (got_z, got_gx) = _both(x.shape, "float64", x=x)
    np.testing.assert_array_equal(got_z, z)  # NaN where the window holds one
    np.testing.assert_array_equal(got_gx, gx)  # ties all receive; NaN receives nothing
    assert np.isnan(got_z[0, 0, 1]) and got_gx[0, 0, 2] == 0


def test_non_finite_output_gradient():
    x = rng.standard_normal((1, 2, 4, 4))
    pool, grad = Pool((2, 2), True), MaxPoolGrad((2, 2), True)
    z = pool.perform(None, [x])[0]
    gz = np.full(z.shape, np.inf)
    expected = grad.perform(None, [x, z, gz])[0]
    np.testing.assert_array_equal(pool_native.maxpool_grad(grad, x, z, gz, Workspace()), expected)


def test_non_contiguous_input():
    x = rng.standard_normal((6, 8, 3)).transpose(2, 0, 1)
    (z, gx), (got_z, got_gx) = _both(x.shape, "float64", x=x)
    np.testing.assert_array_equal(got_z, z)
    np.testing.assert_array_equal(got_gx, gx)


@pytest.mark.parametrize(
    "op,shape,dtype",
    [
        (Pool((2, 2), ignore_border=False), (1, 5, 5), "float64"),  # a partial window
        (Pool((3, 3), ignore_border=True), (1, 6, 6), "float64"),
        (Pool((2, 2), ignore_border=True, stride=(1, 1)), (1, 6, 6), "float64"),
        (Pool((2, 2), ignore_border=True, pad=(1, 1)), (1, 6, 6), "float64"),
        (Pool((2, 2), ignore_border=True, mode="sum"), (1, 6, 6), "float64"),
        (Pool((2, 2), ignore_border=True), (1, 6, 6), "int32"),
    ],
)
def test_other_cases_are_left_to_numpy(op, shape, dtype):
    assert pool_native.maxpool(op, np.zeros(shape, dtype), Workspace()) is None
