"""symgraph.tensor.signal.conv: Theano's conv2d of single images or stacks of them.

``conv2d(input, filters)`` takes an image (rows, cols) or a stack of images (n, rows, cols),
and a filter or a stack of filters; it is nnet's conv2d (a true convolution) on one channel,
with the axes an image or a filter alone does not have left out of the result.
"""

from __future__ import annotations

from symgraph.ops.blas import describe
from symgraph.ops.conv import conv2d as _nnet_conv2d
from symgraph.variable import as_tensor_variable

__all__ = ["conv2d"]


def conv2d(input, filters, image_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1), **kwargs):
    """Convolve 2-d or 3-d `input` with 2-d or 3-d `filters`; the result is
    (batch, nkern, rows, cols) without the batch axis for a 2-d input and without the nkern
    axis for 2-d filters. `image_shape` / `filter_shape` are the shapes of `input` /
    `filters` as given (asserted at run time)."""
    input, filters = as_tensor_variable(input), as_tensor_variable(filters)
    for name, v in (("input", input), ("filters", filters)):
        if v.ndim not in (2, 3):
            raise TypeError(f"signal.conv.conv2d: {name} {describe(v)} must be 2-d (one) or "
                            f"3-d (a stack), got {v.ndim} dimensions")
    unknown = set(kwargs) - {"filter_flip"}
    if unknown:
        raise TypeError(f"signal.conv.conv2d: unexpected arguments {sorted(unknown)}")
    images = input.dimshuffle("x", "x", 0, 1) if input.ndim == 2 else input.dimshuffle(0, "x", 1, 2)
    kernels = (filters.dimshuffle("x", "x", 0, 1) if filters.ndim == 2
               else filters.dimshuffle(0, "x", 1, 2))
    out = _nnet_conv2d(images, kernels, input_shape=_four(image_shape, input.ndim, False),
                       filter_shape=_four(filter_shape, filters.ndim, True),
                       border_mode=border_mode, subsample=subsample,
                       filter_flip=kwargs.get("filter_flip", True))
    keep = [a for a, dropped in enumerate((input.ndim == 2, filters.ndim == 2)) if not dropped]
    return out.dimshuffle(*keep, 2, 3)


def _four(shape, ndim: int, filters: bool):
    """A 2-d / 3-d shape given for signal.conv as the 4-d one nnet's conv2d checks."""
    if shape is None:
        return None
    shape = tuple(shape)
    if len(shape) != ndim:
        raise ValueError(f"signal.conv.conv2d: shape {shape} has {len(shape)} entries for a "
                         f"{ndim}-d {'filters' if filters else 'input'}")
    stack = shape[0] if ndim == 3 else 1
    return (stack, 1, *shape[-2:])
