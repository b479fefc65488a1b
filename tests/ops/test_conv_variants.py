"""separable_conv2d and causal_conv1d (symgraph/ops/conv_variants.py) against scipy."""

import numpy as np
import pytest
from scipy.signal import convolve

import symgraph as sg
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.tensor.nnet.abstract_conv import causal_conv1d, separable_conv2d

rng = np.random.default_rng(0)


@pytest.mark.parametrize("dilation", [1, 2])
def test_causal_conv1d_sees_only_the_past(dilation):
    x, w = T.dtensor3("x"), T.dtensor3("w")
    a, k = rng.standard_normal((2, 3, 10)), rng.standard_normal((4, 3, 3))
    f = sg.function([x, w], causal_conv1d(x, w, k.shape, filter_dilation=dilation))
    spread = np.zeros((4, 3, 2 * dilation + 1))
    spread[:, :, ::dilation] = k  # the dilated filter
    want = np.array([[sum(convolve(a[b, c], spread[o, c], "full")[:10] for c in range(3))
                      for o in range(4)] for b in range(2)])
    got = f(a, k)
    np.testing.assert_allclose(got, want, atol=1e-12)
    later = a.copy()
    later[:, :, 6:] += 1.0  # changing the future leaves the past outputs alone
    np.testing.assert_allclose(f(later, k)[:, :, :6], got[:, :, :6], atol=1e-12)


def test_separable_conv2d_is_depthwise_then_pointwise():
    x, d, p = T.dtensor4("x"), T.dtensor4("d"), T.dtensor4("p")
    a = rng.standard_normal((2, 3, 6, 6))
    dk, pk = rng.standard_normal((6, 1, 3, 3)), rng.standard_normal((5, 6, 1, 1))
    got = sg.function([x, d, p], separable_conv2d(x, d, p, 3))(a, dk, pk)
    depthwise = np.array([[convolve(a[b, o // 2], dk[o, 0], "valid") for o in range(6)]
                          for b in range(2)])
    np.testing.assert_allclose(got, np.einsum("bchw,oc->bohw", depthwise, pk[:, :, 0, 0]),
                               atol=1e-12)


def test_gradients_match_finite_differences():
    verify_grad(lambda u, v: (causal_conv1d(u, v, (2, 2, 3)) ** 2).sum(),
                [rng.standard_normal((1, 2, 7)), rng.standard_normal((2, 2, 3))])
    verify_grad(lambda u, v, q: separable_conv2d(u, v, q, 2).sum(),
                [rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((2, 1, 2, 2)),
                 rng.standard_normal((3, 2, 1, 1))])


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(TypeError, match="must be 3-d"):
        causal_conv1d(T.dmatrix("x"), T.dtensor3("w"), (1, 1, 2))
    with pytest.raises(ValueError, match="filter_shape"):
        causal_conv1d(T.dtensor3("x"), T.dtensor3("w"), (1, 2))
    with pytest.raises(ValueError, match="num_channels"):
        separable_conv2d(T.dtensor4("x"), T.dtensor4("d"), T.dtensor4("p"), 0)
