"""Convolutions Theano builds from conv2d: separable_conv2d and causal_conv1d.

Each is conv2d on a reshaped or padded input, so gradients and the native kernels come with
it.
"""

from __future__ import annotations

import numpy as np

from symgraph.ops.blas import describe
from symgraph.variable import as_tensor_variable

__all__ = ["causal_conv1d", "separable_conv2d"]


def separable_conv2d(input, depthwise_filters, pointwise_filters, num_channels,
                     input_shape=None, depthwise_filter_shape=None,
                     pointwise_filter_shape=None, border_mode="valid", subsample=(1, 1),
                     filter_flip=True, filter_dilation=(1, 1)):
    """A depthwise convolution (each of the `num_channels` input channels with its own
    filters: `depthwise_filters` is (num_channels * depth multiplier, 1, rows, cols)), then a
    pointwise one (`pointwise_filters`: (out channels, num_channels * multiplier, 1, 1))."""
    from symgraph.ops.conv import conv2d

    if not isinstance(num_channels, (int, np.integer)) or num_channels < 1:
        raise ValueError(f"separable_conv2d: num_channels must be a positive int, got "
                         f"{num_channels!r}")
    depthwise = conv2d(input, depthwise_filters, input_shape=input_shape,
                       filter_shape=depthwise_filter_shape, border_mode=border_mode,
                       subsample=subsample, filter_flip=filter_flip,
                       filter_dilation=filter_dilation, num_groups=int(num_channels))
    return conv2d(depthwise, pointwise_filters, filter_shape=pointwise_filter_shape,
                  border_mode="valid", filter_flip=filter_flip)


def causal_conv1d(input, filters, filter_shape, input_shape=None, subsample=1,
                  filter_flip=True, filter_dilation=1, num_groups=1, unshared=False):
    """A 1-d convolution of (batch, channels, time) with filters (out channels, channels,
    width) in which output t sees only inputs up to t: the input is padded on the left by
    the filters' reach less one. `filter_shape` (3 entries) gives the width."""
    from symgraph.ops.alloc import zeros
    from symgraph.ops.conv import conv2d
    from symgraph.ops.join import concatenate

    if unshared:
        raise NotImplementedError("causal_conv1d: unshared=True is not supported")
    x, w = as_tensor_variable(input), as_tensor_variable(filters)
    for role, v in (("input", x), ("filters", w)):
        if v.ndim != 3:
            raise TypeError(f"causal_conv1d: the {role} {describe(v)} must be 3-d, got "
                            f"{v.ndim} dimensions")
    if filter_shape is None or len(tuple(filter_shape)) != 3:
        raise ValueError(f"causal_conv1d: filter_shape must have 3 entries, got {filter_shape!r}")
    width = int(tuple(filter_shape)[2])
    left = (width - 1) * int(filter_dilation)
    if left:
        x = concatenate([zeros((x.shape[0], x.shape[1], left), dtype=x.dtype), x], axis=2)
    out = conv2d(x.dimshuffle(0, 1, "x", 2), w.dimshuffle(0, 1, "x", 2),
                 subsample=(1, int(subsample)), filter_flip=filter_flip,
                 filter_dilation=(1, int(filter_dilation)), num_groups=num_groups)
    return out[:, :, 0, :]
