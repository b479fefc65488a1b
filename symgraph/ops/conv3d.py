"""3-d convolution (Theano's ``T.nnet.conv3d``) as a sum of 2-d convolutions over depth.

Tap k of a filter of depth fd meets input depth slice z + k of every output position z: so
the input's depth slices for tap k, folded into the batch, go through nnet's conv2d with the
filters' depth slice k, and the fd results add up. The taps are a Python loop, so the
filters' depth must be known when the graph is built (from their type or `filter_shape`);
gradients, every backend and conv2d's native kernels come with conv2d.
"""

from __future__ import annotations

import numpy as np

from symgraph.ops.blas import describe
from symgraph.ops.nnet import float_tensor

__all__ = ["conv3d"]


def _triple(value, what: str) -> tuple[int, int, int]:
    triple = tuple(value) if isinstance(value, (tuple, list)) else (value,) * 3
    if len(triple) != 3 or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in triple):
        raise ValueError(f"conv3d: {what} must be three positive ints, got {value!r}")
    return tuple(int(v) for v in triple)


def _depth_padding(border_mode, depth: int):
    """(depth padding, conv2d's border_mode for rows and columns)."""
    if border_mode in ("valid", "full", "half"):
        pad = {"valid": 0, "full": depth - 1, "half": depth // 2}[border_mode]
        return pad, border_mode
    pads = (border_mode,) * 3 if isinstance(border_mode, (int, np.integer)) else border_mode
    if not (isinstance(pads, (tuple, list)) and len(pads) == 3
            and all(isinstance(p, (int, np.integer)) and p >= 0 for p in pads)):
        raise ValueError("conv3d: border_mode must be 'valid', 'full', 'half', an int or three "
                         f"ints, got {border_mode!r}")
    return int(pads[0]), (int(pads[1]), int(pads[2]))


def conv3d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1, 1), filter_flip=True, filter_dilation=(1, 1, 1), num_groups=1):
    """3-d convolution of a batch of volumes (batch, channels, depth, rows, columns) with
    filters (out channels, in channels / num_groups, depth, rows, columns); border_mode,
    subsample, filter_flip (True: true convolution), filter_dilation and num_groups as in
    conv2d, per axis. `input_shape` is accepted for Theano's signature (only its length is
    checked); `filter_shape` gives the filters' depth when their type does not."""
    from symgraph.ops.alloc import zeros
    from symgraph.ops.conv import conv2d
    from symgraph.ops.join import concatenate

    x, w = float_tensor(input, "conv3d", 5, "input"), float_tensor(filters, "conv3d", 5, "filters")
    if input_shape is not None and len(tuple(input_shape)) != 5:
        raise ValueError(f"conv3d: input_shape must have 5 entries, got {input_shape!r}")
    hint = tuple(filter_shape) if filter_shape is not None else (None,) * 5
    if len(hint) != 5:
        raise ValueError(f"conv3d: filter_shape must have 5 entries, got {filter_shape!r}")
    depth = w.type.shape[2] if w.type.shape[2] is not None else hint[2]
    if not isinstance(depth, (int, np.integer)):
        raise NotImplementedError(
            f"conv3d: the filters {describe(w)} need a depth known when the graph is built "
            "(a static shape, or filter_shape)")
    depth = int(depth)
    stride, dilation = _triple(subsample, "subsample"), _triple(filter_dilation, "filter_dilation")
    reach = (depth - 1) * dilation[0] + 1  # the depth a filter spans
    pad, spatial = _depth_padding(border_mode, reach)
    if pad:
        b, c, _, h, wd = (x.shape[k] for k in range(5))
        side = zeros((b, c, pad, h, wd), dtype=x.dtype)
        x = concatenate([side, x, side], axis=2)
    out_depth = (x.shape[2] - reach) // stride[0] + 1
    batch = x.shape[0]
    total = None
    for k in range(depth):
        start = k * dilation[0]
        slices = x[:, :, start:start + (out_depth - 1) * stride[0] + 1:stride[0]]
        folded = slices.dimshuffle(0, 2, 1, 3, 4)
        folded = folded.reshape((batch * out_depth, x.shape[1], x.shape[3], x.shape[4]), ndim=4)
        tap = w[:, :, depth - 1 - k] if filter_flip else w[:, :, k]
        y = conv2d(folded, tap, border_mode=spatial, subsample=stride[1:],
                   filter_flip=filter_flip, filter_dilation=dilation[1:], num_groups=num_groups)
        total = y if total is None else total + y
    unfolded = total.reshape((batch, out_depth, total.shape[1], total.shape[2], total.shape[3]),
                             ndim=5)
    return unfolded.dimshuffle(0, 2, 1, 3, 4)
