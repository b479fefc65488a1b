"""symgraph.tensor.signal.pool: pooling at Theano's path (pool_2d, pool_3d and the Pool ops)."""

from __future__ import annotations

import warnings

from symgraph.ops.pool import AveragePoolGrad, DownsampleFactorMaxGradGrad, MaxPoolGrad, Pool
from symgraph.variable import as_tensor_variable

__all__ = [
    "pool_2d",
    "pool_3d",
    "max_pool_2d_same_size",
    "Pool",
    "MaxPoolGrad",
    "AveragePoolGrad",
    "DownsampleFactorMaxGradGrad",
]


def _renamed(old_value, new_value, old: str, new: str, default=None):
    """Theano's deprecated argument names (ds, st, padding) still work, with a warning."""
    if old_value is None:
        return new_value
    if new_value is not None and new_value != default:
        raise ValueError(f"pool_2d: give {new!r} or its old name {old!r}, not both")
    warnings.warn(f"pool_2d: {old!r} is deprecated, use {new!r}", DeprecationWarning, stacklevel=3)
    return old_value


def pool_2d(
    input,
    ws=None,
    ignore_border=None,
    stride=None,
    pad=(0, 0),
    mode="max",
    ds=None,
    st=None,
    padding=None,
):
    """Pool the last two dimensions of `input` (any tensor with >= 2 dimensions).

    Parameters
    ----------
    input : tensor, pooled over its last two axes.
    ws : (rows, cols) of the pooling window.
    ignore_border : True: (5, 5) with ws=(2, 2) gives (2, 2), the partial border windows are
        dropped; False: (3, 3), they are pooled too. None (the default) warns and uses False,
        exactly as Theano does; pass it explicitly (Lasagne and most models use True).
    stride : (rows, cols) between window starts; None: ws (windows do not overlap).
    pad : (rows, cols) of zero padding on each side (needs ignore_border=True, pad < ws).
    mode : 'max', 'sum', 'average_inc_pad' (padding counts in the divisor) or
        'average_exc_pad' (it does not). 'max' and 'sum' never see the padding.
    ds, st, padding : Theano's older names for ws, stride and pad.

    Notes
    -----
    The gradient of 'max' goes to every element of a window that equals its maximum, so
    tied elements each receive the full output gradient (Theano's MaxPoolGrad does this).

    Examples
    --------
    >>> import numpy as np, symgraph.tensor as T
    >>> from symgraph.tensor.signal.pool import pool_2d
    >>> x = T.matrix("x")
    >>> pool_2d(x, ws=(2, 2), ignore_border=True).eval({x: np.arange(16.0).reshape(4, 4)})
    array([[ 5.,  7.],
           [13., 15.]])
    """
    ws = _renamed(ds, ws, "ds", "ws")
    stride = _renamed(st, stride, "st", "stride")
    pad = _renamed(padding, pad, "padding", "pad", default=(0, 0))
    if ws is None:
        raise ValueError("pool_2d: give the window size ws, e.g. ws=(2, 2)")
    ignore_border = _ignore_border(ignore_border, "pool_2d")
    x = as_tensor_variable(input)
    return Pool(ws, ignore_border, stride, pad, mode)(x)


def _ignore_border(value, what: str) -> bool:
    """ignore_border, whose default (None) is Theano's False, with a warning."""
    if value is None:
        warnings.warn(
            f"{what}: ignore_border defaults to False, as in Theano (partial border windows "
            "are pooled); pass ignore_border=True or False explicitly to silence this",
            stacklevel=3,
        )
        return False
    return value


def max_pool_2d_same_size(input, patch_size):
    """Zero every element that is not the maximum of its non-overlapping patch."""
    x = as_tensor_variable(input)
    out = Pool(patch_size, True)(x)
    return MaxPoolGrad(patch_size, True)(x, out, out)


def pool_3d(
    input,
    ws=None,
    ignore_border=None,
    stride=None,
    pad=(0, 0, 0),
    mode="max",
):
    """Pool the last three dimensions of `input` (depth, rows, cols), as `pool_2d` does two.

    Every mode pools a box of windows axis by axis, so it is two 2-d poolings: the rows and
    columns, then the depth (moved last), each with Pool and its gradient.
    """
    if ws is None:
        raise ValueError("pool_3d: give the window size ws, e.g. ws=(2, 2, 2)")
    ws, stride, pad = tuple(ws), tuple(ws if stride is None else stride), tuple(pad)
    if not len(ws) == len(stride) == len(pad) == 3:
        raise ValueError(f"pool_3d: ws, stride and pad need 3 entries, got {ws}, {stride}, {pad}")
    ignore_border = _ignore_border(ignore_border, "pool_3d")
    x = as_tensor_variable(input)
    if x.ndim < 3:
        raise TypeError(f"pool_3d: {x}{x.where()} must have at least 3 dimensions (depth, rows, "
                        f"cols), got {x.ndim}")
    planes = Pool(ws[1:], ignore_border, stride[1:], pad[1:], mode)(x)
    lead = list(range(x.ndim - 3))
    depth_last = planes.dimshuffle(*lead, x.ndim - 2, x.ndim - 1, x.ndim - 3)
    pooled = Pool((1, ws[0]), ignore_border, (1, stride[0]), (0, pad[0]), mode)(depth_last)
    return pooled.dimshuffle(*lead, x.ndim - 1, x.ndim - 3, x.ndim - 2)
