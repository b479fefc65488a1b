"""Bilinear upsampling at Theano's path (T.nnet.abstract_conv.bilinear_upsampling).

Theano's construction, kept so that results agree: each image is padded by repeating its
border rows and columns once, then upsampled by a transposed convolution (the gradient of a
strided conv2d) with the triangle kernel ``[1, 2, ..., r, ..., 2, 1] / r`` — along rows, then
along columns (``use_1D_kernel``), or with their outer product in one step. Gradients come
from the convolution ops'.
"""

from __future__ import annotations

import numpy as np

from symgraph.config import config
from symgraph.ops import math
from symgraph.ops.conv_grad import conv2d_grad_wrt_inputs
from symgraph.ops.join import concatenate
from symgraph.ops.shape import reshape
from symgraph.variable import as_tensor_variable

__all__ = ["bilinear_kernel_1D", "bilinear_kernel_2D", "bilinear_upsampling"]


def _ratio(ratio) -> int:
    if not isinstance(ratio, (int, np.integer)) or ratio < 1:
        raise ValueError(f"bilinear_upsampling: ratio must be a positive int, got {ratio!r}")
    return int(ratio)


def _kernel_1d(ratio: int, normalize: bool, dtype: str) -> np.ndarray:
    half = np.arange(1, ratio + 1, dtype=dtype)
    kern = np.concatenate([half, half[-2::-1]])
    return kern / np.asarray(ratio, dtype) if normalize else kern


def bilinear_kernel_1D(ratio, normalize: bool = True):  # noqa: N802 - Theano's name
    """The 1-d kernel of bilinear upsampling by `ratio`: [1, 2, .., ratio, .., 2, 1]
    (divided by `ratio` when `normalize`), in floatX."""
    return as_tensor_variable(_kernel_1d(_ratio(ratio), normalize, config.floatX))


def bilinear_kernel_2D(ratio, normalize: bool = True):  # noqa: N802 - Theano's name
    """The 2-d kernel of bilinear upsampling: the outer product of the 1-d kernel with itself."""
    k = _kernel_1d(_ratio(ratio), normalize, config.floatX)
    return as_tensor_variable(np.outer(k, k))


def bilinear_upsampling(input, ratio=None, batch_size=None, num_input_channels=None,
                        use_1D_kernel: bool = True, frac_ratio=None):
    """Upsample the last two axes of the 4-d `input` by the int `ratio` with bilinear
    interpolation (Theano's algorithm: see the module docstring). `batch_size` and
    `num_input_channels` are accepted for Theano's signature (the shape is read from `input`).
    """
    if frac_ratio is not None:
        raise NotImplementedError("bilinear_upsampling: frac_ratio (fractional ratios) is not "
                                  "supported; give an int ratio")
    if ratio is None:
        raise ValueError("bilinear_upsampling: ratio must be given (an int)")
    r = _ratio(ratio)
    x = as_tensor_variable(input)
    if x.ndim != 4:
        raise TypeError(f"bilinear_upsampling: the input {x}{x.where()} must be 4-d (batch, "
                        f"channels, rows, columns), got {x.ndim} dimensions")
    if not x.dtype.startswith("float"):
        raise TypeError(f"bilinear_upsampling: the input {x}{x.where()} must be a float "
                        f"tensor, got {x.dtype}")
    rows, cols = x.shape[2], x.shape[3]
    images = reshape(x, (-1, 1, rows, cols))
    n = images.shape[0]
    padded = concatenate([images[:, :, :1, :], images, images[:, :, -1:, :]], axis=2)
    padded = concatenate([padded[:, :, :, :1], padded, padded[:, :, :, -1:]], axis=3)
    pad = 2 * r - (r - 1) // 2 - 1  # the transposed conv's output starts at the first pixel
    k = _kernel_1d(r, True, x.dtype)
    if use_1D_kernel:
        along_rows = conv2d_grad_wrt_inputs(
            padded, math.cast(as_tensor_variable(k[None, None, :, None]), x.dtype),
            (n, 1, rows * r, cols + 2), border_mode=(pad, 0), subsample=(r, 1))
        up = conv2d_grad_wrt_inputs(
            along_rows, math.cast(as_tensor_variable(k[None, None, None, :]), x.dtype),
            (n, 1, rows * r, cols * r), border_mode=(0, pad), subsample=(1, r))
    else:
        up = conv2d_grad_wrt_inputs(
            padded, math.cast(as_tensor_variable(np.outer(k, k)[None, None]), x.dtype),
            (n, 1, rows * r, cols * r), border_mode=(pad, pad), subsample=(r, r))
    return reshape(up, (x.shape[0], x.shape[1], rows * r, cols * r))
