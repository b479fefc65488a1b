"""The gradients of conv2d as ops of their own, and the functions built on them.

AbstractConv2d_gradInputs (a transposed convolution) and AbstractConv2d_gradWeights, as in
Theano, each im2col/col2im + one GEMM (conv_kernels.py). With y = conv(x, w) bilinear:

- gradInputs(w, gy) is the adjoint of x -> conv(x, w) applied to gy;
- gradWeights(x, gy) is the adjoint of w -> conv(x, w) applied to gy.

So their own gradients are again convolutions (see each L_op): second derivatives (double
backprop, Hessian-vector products) never unroll a graph. Both take the spatial size of the
result as two int64 scalars, since with strides it cannot be recovered from the other inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symgraph.graph import Apply, Constant
from symgraph.ops import math
from symgraph.ops.conv import (
    AbstractConv2d,
    ConvParams,
    float_dtype,
    four_d,
    shape_text,
    spatial_shape,
)
from symgraph.ops.conv_kernels import Alloc, conv_grad_inputs, conv_grad_weights, fresh
from symgraph.types import INTEGER_DTYPES, TensorType
from symgraph.variable import as_tensor_variable, constant

__all__ = [
    "AbstractConv2d_gradInputs",
    "AbstractConv2d_gradWeights",
    "conv2d_grad_wrt_inputs",
    "conv2d_grad_wrt_weights",
    "conv2d_transpose",
]


def _size_scalars(shape, what: str) -> list:
    """The last two entries of a shape (ints, int scalars or an int vector) as int64 scalars."""
    if hasattr(shape, "type"):
        shape = as_tensor_variable(shape)
        if shape.ndim != 1:
            raise TypeError(f"{what}: the shape {shape}{shape.where()} must be an int vector")
        entries = [shape[-2], shape[-1]]
    else:
        entries = list(shape)[-2:]
    if len(entries) != 2 or any(e is None for e in entries):
        raise ValueError(f"{what}: the output rows and columns must be given, got {shape!r}")
    out = []
    for e in entries:
        if isinstance(e, (int, np.integer)):
            out.append(constant(int(e), dtype="int64"))  # stays a Constant: a static size
            continue
        e = as_tensor_variable(e)
        if e.ndim != 0 or e.dtype not in INTEGER_DTYPES:
            raise TypeError(
                f"{what}: shape entries must be int scalars, got {e}{e.where()} ({e.type})"
            )
        out.append(math.cast(e, "int64"))
    return out


def _static(v) -> int | None:
    return int(v.data) if isinstance(v, Constant) else None


def _symbolic_or_int(v):
    """A size input for infer_shape: its int value when constant, else the variable itself."""
    return _static(v) if isinstance(v, Constant) else v


def _check_topgrad(op: ConvParams, what: str, gy: np.ndarray, oh: int, ow: int, node: Apply):
    if gy.shape[2:] != (oh, ow):
        raise ValueError(
            f"{what}: the output gradient {node.inputs[1]} has shape {gy.shape}, but a "
            f"convolution ({op.describe()}) of the requested size gives {oh} x {ow} outputs"
        )


@dataclass(frozen=True)
class AbstractConv2d_gradInputs(ConvParams):
    """The gradient of conv2d wrt its input (a transposed convolution): (kern, topgrad, h, w)."""

    def make_node(self, kern, topgrad, shape, cols=None) -> Apply:
        """`shape`: the input's (rows, cols), or its last 2 entries; or rows, with `cols`."""
        what = "conv2d_grad_wrt_inputs"
        kern = four_d(kern, what, "filters", "out channels, in channels, rows, columns")
        topgrad = four_d(topgrad, what, "output gradient", "batch, channels, rows, columns")
        dtype = float_dtype(kern, topgrad)
        kern, topgrad = math.cast(kern, dtype), math.cast(topgrad, dtype)
        h, w = _size_scalars(shape if cols is None else (shape, cols), what)
        o, cg = kern.type.shape[:2]
        if o is not None and topgrad.type.shape[1] not in (None, o):
            raise ValueError(
                f"{what}: the output gradient {topgrad}{topgrad.where()} of shape "
                f"{shape_text(topgrad)} has {topgrad.type.shape[1]} channels but the filters "
                f"{kern}{kern.where()} of shape {shape_text(kern)} make {o}"
            )
        c = None if cg is None else cg * self.num_groups
        out = TensorType(dtype, (topgrad.type.shape[0], c, _static(h), _static(w)))
        return Apply(self, [kern, topgrad, h, w], [out()])

    def perform(self, node: Apply, inputs: list) -> list:
        return [self.compute(node, inputs, fresh)]

    def compute(self, node: Apply, inputs: list, alloc: Alloc) -> np.ndarray:
        """The output, its arrays taken from `alloc` (conv_kernels.py)."""
        w, gy, h, wd = inputs
        h, wd = int(h), int(wd)
        o, _, kh, kw = w.shape
        if gy.shape[1] != o:
            raise ValueError(
                f"conv2d_grad_wrt_inputs: the output gradient {node.inputs[1]} has "
                f"shape {gy.shape} but the filters {node.inputs[0]} have shape "
                f"{w.shape}"
            )
        oh, ow = self.out_hw(h, wd, kh, kw)
        _check_topgrad(self, "conv2d_grad_wrt_inputs", gy, oh, ow, node)
        return conv_grad_inputs(self, w, gy, h, wd, alloc=alloc)

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        kern_shape, top_shape = input_shapes[:2]
        h, w = node.inputs[2:]
        return [
            (
                top_shape[0],
                kern_shape[1] * self.num_groups,
                _symbolic_or_int(h),
                _symbolic_or_int(w),
            )
        ]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        kern, topgrad = inputs[:2]
        gz = output_grads[0]
        g_kern = AbstractConv2d_gradWeights(**self.params())(gz, topgrad, spatial_shape(kern))
        g_top = AbstractConv2d(**self.params())(gz, kern)
        return [g_kern, g_top, None, None]


@dataclass(frozen=True)
class AbstractConv2d_gradWeights(ConvParams):
    """The gradient of conv2d wrt its filters: (img, topgrad, kh, kw)."""

    def make_node(self, img, topgrad, shape, cols=None) -> Apply:
        """`shape`: the filters' (rows, cols), or its last 2 entries; or rows, with `cols`."""
        what = "conv2d_grad_wrt_weights"
        img = four_d(img, what, "input", "batch, channels, rows, columns")
        topgrad = four_d(topgrad, what, "output gradient", "batch, channels, rows, columns")
        dtype = float_dtype(img, topgrad)
        img, topgrad = math.cast(img, dtype), math.cast(topgrad, dtype)
        kh, kw = _size_scalars(shape if cols is None else (shape, cols), what)
        g = self.num_groups
        for var, axis in ((img, 1), (topgrad, 1)):
            size = var.type.shape[axis]
            if size is not None and size % g:
                raise ValueError(
                    f"{what}: num_groups={g} must divide the {size} channels of "
                    f"{var}{var.where()}, shape {shape_text(var)}"
                )
        c = img.type.shape[1]
        out = TensorType(
            dtype, (topgrad.type.shape[1], None if c is None else c // g, _static(kh), _static(kw))
        )
        return Apply(self, [img, topgrad, kh, kw], [out()])

    def perform(self, node: Apply, inputs: list) -> list:
        return [self.compute(node, inputs, fresh)]

    def compute(self, node: Apply, inputs: list, alloc: Alloc) -> np.ndarray:
        """The output, its arrays taken from `alloc` (conv_kernels.py)."""
        x, gy, kh, kw = inputs
        kh, kw = int(kh), int(kw)
        n, c = x.shape[:2]
        o = gy.shape[1]
        g = self.num_groups
        if gy.shape[0] != n or c % g or o % g:
            raise ValueError(
                f"conv2d_grad_wrt_weights: the input {node.inputs[0]} of shape "
                f"{x.shape} and the output gradient {node.inputs[1]} of shape "
                f"{gy.shape} do not match ({self.describe()})"
            )
        oh, ow = self.out_hw(x.shape[2], x.shape[3], kh, kw)
        _check_topgrad(self, "conv2d_grad_wrt_weights", gy, oh, ow, node)
        return conv_grad_weights(self, x, gy, kh, kw, alloc=alloc)

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        img_shape, top_shape = input_shapes[:2]
        kh, kw = node.inputs[2:]
        return [
            (
                top_shape[1],
                img_shape[1] // self.num_groups,
                _symbolic_or_int(kh),
                _symbolic_or_int(kw),
            )
        ]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        img, topgrad = inputs[:2]
        gz = output_grads[0]
        g_img = AbstractConv2d_gradInputs(**self.params())(gz, topgrad, spatial_shape(img))
        g_top = AbstractConv2d(**self.params())(img, gz)
        return [g_img, g_top, None, None]


def conv2d_grad_wrt_inputs(
    output_grad,
    filters,
    input_shape,
    filter_shape=None,
    border_mode="valid",
    subsample=(1, 1),
    filter_flip=True,
    filter_dilation=(1, 1),
    num_groups=1,
):
    """The gradient of conv2d with respect to its input (Theano's name and signature).

    `input_shape` is the input's shape (4 entries; the last two, the rows and columns, must be
    ints or int scalars, since with strides they cannot be deduced). The other arguments are
    those of the forward conv2d.
    """
    op = AbstractConv2d_gradInputs(border_mode, subsample, filter_flip, filter_dilation, num_groups)
    return op(_hinted(filters, filter_shape), output_grad, input_shape)


def conv2d_grad_wrt_weights(
    input,
    output_grad,
    filter_shape,
    input_shape=None,
    border_mode="valid",
    subsample=(1, 1),
    filter_flip=True,
    filter_dilation=(1, 1),
    num_groups=1,
):
    """The gradient of conv2d with respect to its filters (Theano's name and signature).

    `filter_shape` gives the filters' shape (the last two entries, the filter rows and
    columns, must be ints or int scalars).
    """
    op = AbstractConv2d_gradWeights(
        border_mode, subsample, filter_flip, filter_dilation, num_groups
    )
    from symgraph.ops.conv import hint_shape

    img = four_d(input, "conv2d_grad_wrt_weights", "input", "batch, channels, rows, columns")
    return op(
        hint_shape(img, input_shape, "conv2d_grad_wrt_weights", "input_shape"),
        output_grad,
        filter_shape,
    )


def conv2d_transpose(
    input,
    filters,
    output_shape,
    filter_shape=None,
    border_mode="valid",
    input_dilation=(1, 1),
    filter_flip=True,
    filter_dilation=(1, 1),
    num_groups=1,
):
    """Transposed convolution ("deconvolution"), Theano's ``conv2d_transpose``.

    The gradient of a conv2d with these `filters` (out channels = input's channels) taken with
    respect to an image of `output_shape`; `input_dilation` is that conv2d's subsample.
    """
    return conv2d_grad_wrt_inputs(
        input,
        filters,
        output_shape,
        filter_shape,
        border_mode,
        input_dilation,
        filter_flip,
        filter_dilation,
        num_groups,
    )


def _hinted(filters, filter_shape):
    from symgraph.ops.conv import hint_shape

    kern = four_d(
        filters, "conv2d_grad_wrt_inputs", "filters", "out channels, in channels, rows, columns"
    )
    return hint_shape(kern, filter_shape, "conv2d_grad_wrt_inputs", "filter_shape")
