"""2-d convolution at Theano's abstract-conv spelling: AbstractConv2d and `conv2d`.

Layouts are Theano's: images NCHW, filters OIHW (with groups: O x C/groups x H x W).
``filter_flip=True`` (the default, as in Theano) is a true convolution: the filters are
flipped; ``filter_flip=False`` is cross-correlation.

Numerics: every op of the family (this forward and the two gradient ops in conv_grad.py)
is im2col + one GEMM over the whole batch per group (conv_kernels.py).

Gradient design: the three ops are bilinear maps sharing one parameter set, so each one's
L_op is again one of the three (conv <-> gradInputs <-> gradWeights), and derivatives of
any order stay convolutions rather than unrolled graphs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from symgraph.graph import Apply, Op
from symgraph.ops import math
from symgraph.ops.conv_kernels import Alloc, conv_forward, fresh
from symgraph.ops.shape import shape_i, specify_shape
from symgraph.types import DISCRETE_DTYPES, TensorType, upcast, upgrade_to_float
from symgraph.variable import as_tensor_variable

__all__ = ["AbstractConv2d", "conv2d"]

BorderMode = str | tuple[tuple[int, int], tuple[int, int]]


# --- parameters --------------------------------------------------------------------------------


def _pair(value, what: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each >= minimum, as a tuple of two ints."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
        raise ValueError(f"conv2d: {what} must be an int or a pair of ints, got {value!r}")
    if any(v < minimum for v in pair):
        raise ValueError(f"conv2d: {what} must be >= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def normalize_border_mode(border_mode) -> BorderMode:
    """'valid' / 'full' / 'half', or explicit padding as ((top, bottom), (left, right))."""
    if isinstance(border_mode, str):
        if border_mode not in ("valid", "full", "half"):
            raise ValueError(
                f"conv2d: border_mode must be 'valid', 'full', 'half' (Theano's name for "
                f"'same'), an int or a pair of ints, got {border_mode!r}"
            )
        return border_mode
    if isinstance(border_mode, (int, np.integer)):
        border_mode = (border_mode, border_mode)
    if not isinstance(border_mode, (tuple, list)) or len(border_mode) != 2:
        raise ValueError(
            f"conv2d: border_mode must be 'valid', 'full', 'half', an int, (pad_rows, "
            f"pad_cols) or ((top, bottom), (left, right)), got {border_mode!r}"
        )
    pads = tuple(_pair(p, "each border_mode padding", 0) for p in border_mode)
    return "valid" if pads == ((0, 0), (0, 0)) else pads


def effective_size(k, dilation: int):
    """Extent of a dilated filter tap span (plain arithmetic: ints or symbolic scalars)."""
    return (k - 1) * dilation + 1


def output_size(size, pad: tuple, k, stride: int, dilation: int):
    """Rows (or columns) of the convolution output; works on ints and symbolic scalars."""
    return (size + pad[0] + pad[1] - effective_size(k, dilation)) // stride + 1


@dataclass(frozen=True)
class ConvParams(Op):
    """The parameters shared by AbstractConv2d, its gradInputs and its gradWeights."""

    border_mode: BorderMode = "valid"
    subsample: tuple[int, int] = (1, 1)
    filter_flip: bool = True
    filter_dilation: tuple[int, int] = (1, 1)
    num_groups: int = 1
    # Theano's shape hints (AbstractConv2d(imshp=..., kshp=...), as Lasagne passes them):
    # accepted by keyword, not part of the op's identity
    imshp: tuple | None = field(default=None, compare=False, repr=False)
    kshp: tuple | None = field(default=None, compare=False, repr=False)
    unshared: bool = field(default=False, compare=False, repr=False)

    def _props(self) -> tuple:
        return (self.border_mode, self.subsample, self.filter_flip, self.filter_dilation,
                self.num_groups)

    def __post_init__(self):
        if self.unshared:
            raise NotImplementedError("conv2d: unshared=True (locally connected) is not supported")
        object.__setattr__(self, "border_mode", normalize_border_mode(self.border_mode))
        object.__setattr__(self, "subsample", _pair(self.subsample, "subsample", 1))
        object.__setattr__(
            self, "filter_dilation", _pair(self.filter_dilation, "filter_dilation", 1)
        )
        object.__setattr__(self, "filter_flip", bool(self.filter_flip))
        if not isinstance(self.num_groups, (int, np.integer)) or self.num_groups < 1:
            raise ValueError(f"conv2d: num_groups must be an int >= 1, got {self.num_groups!r}")
        object.__setattr__(self, "num_groups", int(self.num_groups))

    def params(self) -> dict:
        return dict(
            border_mode=self.border_mode,
            subsample=self.subsample,
            filter_flip=self.filter_flip,
            filter_dilation=self.filter_dilation,
            num_groups=self.num_groups,
        )

    def pads(self, kh, kw) -> tuple[tuple, tuple]:
        """((top, bottom), (left, right)) for filters of kh x kw taps (ints or symbolic)."""
        eh = effective_size(kh, self.filter_dilation[0])
        ew = effective_size(kw, self.filter_dilation[1])
        if self.border_mode == "valid":
            return (0, 0), (0, 0)
        if self.border_mode == "full":
            return (eh - 1, eh - 1), (ew - 1, ew - 1)
        if self.border_mode == "half":
            return (eh // 2, eh // 2), (ew // 2, ew // 2)
        return self.border_mode

    def out_hw(self, h, w, kh, kw) -> tuple:
        """Output rows and columns for an h x w image and kh x kw filters (None: unknown)."""
        return self.out_dim(h, kh, 0), self.out_dim(w, kw, 1)

    def out_dim(self, size, k, axis: int):
        """Output length along spatial `axis` (0: rows, 1: columns); None if unknown."""
        if size is None or k is None:
            return None
        pad = self.pads(k, k)[axis]
        return output_size(size, pad, k, self.subsample[axis], self.filter_dilation[axis])

    def flipped(self, w: np.ndarray) -> np.ndarray:
        """The filters as the cross-correlation uses them."""
        return w[:, :, ::-1, ::-1] if self.filter_flip else w

    def describe(self) -> str:
        return (
            f"border_mode={self.border_mode!r}, subsample={self.subsample}, "
            f"filter_dilation={self.filter_dilation}, num_groups={self.num_groups}"
        )


# --- run-time checks ---------------------------------------------------------------------------


def check_runtime(op: ConvParams, node: Apply, x_shape: tuple, w_shape: tuple) -> tuple:
    """Output (oh, ow) for these real shapes, or a ValueError naming both inputs."""
    x, w = node.inputs[0], node.inputs[1]
    if x_shape[1] != w_shape[1] * op.num_groups:
        raise ValueError(
            f"conv2d: the input {x}{x.where()} has shape {x_shape} ({x_shape[1]} channels) but "
            f"the filters {w}{w.where()} have shape {w_shape}, which expects "
            f"{w_shape[1] * op.num_groups} channels ({w_shape[1]} per group x {op.num_groups} "
            f"groups)"
        )
    oh, ow = op.out_hw(x_shape[2], x_shape[3], w_shape[2], w_shape[3])
    if oh < 1 or ow < 1:
        raise ValueError(
            f"conv2d: the filters {w}{w.where()} of shape {w_shape} do not fit in the input "
            f"{x}{x.where()} of shape {x_shape} ({op.describe()}): the output would be "
            f"{oh} x {ow}"
        )
    return oh, ow


# --- the op ---------------------------------------------------------------------------------------


def float_dtype(*xs) -> str:
    """The common float dtype of the inputs (integers upgrade as in Theano)."""
    return upgrade_to_float(upcast(*[x.dtype for x in xs]))


def four_d(x, what: str, role: str, layout: str):
    """`x` as a 4-d float tensor, or a TypeError naming it."""
    x = as_tensor_variable(x)
    if x.ndim != 4:
        raise TypeError(
            f"{what}: the {role} {x}{x.where()} must be a 4-d tensor ({layout}), got "
            f"{x.ndim} dimensions ({x.type})"
        )
    if x.dtype in DISCRETE_DTYPES or x.dtype.startswith("complex"):
        raise TypeError(f"{what}: the {role} {x}{x.where()} must be a float tensor, got {x.type}")
    return x


def shape_text(x) -> str:
    return f"({x.type.short_shape()})"


@dataclass(frozen=True)
class AbstractConv2d(ConvParams):
    """conv2d(img, kern) for NCHW images and OIHW filters (Theano's AbstractConv2d)."""

    def make_node(self, img, kern) -> Apply:
        img = four_d(img, "conv2d", "input", "batch, channels, rows, columns")
        kern = four_d(kern, "conv2d", "filters", "out channels, in channels, rows, columns")
        dtype = float_dtype(img, kern)
        img, kern = math.cast(img, dtype), math.cast(kern, dtype)
        n, c, h, w = img.type.shape
        o, cg, kh, kw = kern.type.shape
        g = self.num_groups
        if c is not None and cg is not None and c != cg * g:
            raise ValueError(
                f"conv2d: the input {img}{img.where()} has shape {shape_text(img)} ({c} "
                f"channels) but the filters {kern}{kern.where()} have shape {shape_text(kern)}, "
                f"which expects {cg * g} input channels ({cg} per group x {g} groups)"
            )
        for size, label, var in ((c, "input channels", img), (o, "filters", kern)):
            if size is not None and size % g:
                raise ValueError(
                    f"conv2d: num_groups={g} must divide the number of {label} ({size}) of "
                    f"{var}{var.where()}, shape {shape_text(var)}"
                )
        oh, ow = self.out_hw(h, w, kh, kw)
        if (oh is not None and oh < 1) or (ow is not None and ow < 1):
            raise ValueError(
                f"conv2d: the filters {kern}{kern.where()} of shape {shape_text(kern)} do not "
                f"fit in the input {img}{img.where()} of shape {shape_text(img)} "
                f"({self.describe()}): the output would be {oh} x {ow}"
            )
        return Apply(self, [img, kern], [TensorType(dtype, (n, o, oh, ow))()])

    def perform(self, node: Apply, inputs: list) -> list:
        return [self.compute(node, inputs, fresh)]

    def compute(self, node: Apply, inputs: list, alloc: Alloc) -> np.ndarray:
        """The output, its arrays taken from `alloc` (conv_kernels.py)."""
        x, w = inputs
        oh, ow = check_runtime(self, node, x.shape, w.shape)
        return conv_forward(self, x, w, oh, ow, alloc=alloc)

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        (n, _, h, w), (o, _, kh, kw) = input_shapes
        oh, ow = self.out_hw(h, w, kh, kw)
        return [(n, o, oh, ow)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        from symgraph.ops.conv_grad import AbstractConv2d_gradInputs, AbstractConv2d_gradWeights

        img, kern = inputs
        gy = output_grads[0]
        g_img = AbstractConv2d_gradInputs(**self.params())(kern, gy, spatial_shape(img))
        g_kern = AbstractConv2d_gradWeights(**self.params())(img, gy, spatial_shape(kern))
        return [g_img, g_kern]


def spatial_shape(x) -> tuple:
    """(rows, columns) of a 4-d tensor: ints where static, int64 scalars otherwise."""
    return shape_i(x, 2), shape_i(x, 3)


# --- the user function ----------------------------------------------------------------------------


def hint_shape(x, shape, what: str, role: str):
    """`x` with the int entries of a Theano shape hint asserted (and known statically)."""
    if shape is None:
        return x
    shape = tuple(shape)
    if len(shape) != 4:
        raise ValueError(f"{what}: {role} must have 4 entries, got {shape!r}")
    ints = tuple(int(s) if isinstance(s, (int, np.integer)) else None for s in shape)
    for axis, (hint, static) in enumerate(zip(ints, x.type.shape)):
        if hint is not None and static is not None and hint != static:
            raise ValueError(
                f"{what}: {role} {shape} disagrees with {x}{x.where()} of shape "
                f"{shape_text(x)} on axis {axis}"
            )
    if all(h is None or h == s for h, s in zip(ints, x.type.shape)):
        return x
    return specify_shape(x, ints)


def conv2d(
    input,
    filters,
    input_shape=None,
    filter_shape=None,
    border_mode="valid",
    subsample=(1, 1),
    filter_flip=True,
    image_shape=None,
    filter_dilation=(1, 1),
    num_groups=1,
    unshared=False,
):
    """2-d convolution of a batch of images with a bank of filters (Theano's ``conv2d``).

    Parameters
    ----------
    input : 4-d float tensor (batch, channels, rows, columns).
    filters : 4-d float tensor (out channels, in channels / num_groups, rows, columns).
    input_shape, filter_shape : optional 4-tuples of ints or None: shapes asserted at run time
        (``image_shape`` is Theano's older name for ``input_shape``).
    border_mode : 'valid' (no padding), 'full' (pad by filter size - 1), 'half' (pad by
        filter size // 2: same size for odd filters), an int, (pad_rows, pad_cols), or
        ((top, bottom), (left, right)).
    subsample : strides (rows, columns).
    filter_flip : True (default): true convolution, the filters are flipped;
        False: cross-correlation (what most other frameworks call convolution).
    filter_dilation : spacing between filter taps (rows, columns).
    num_groups : split channels into this many groups convolved separately.

    Examples
    --------
    >>> import numpy as np, symgraph.tensor as T
    >>> x, w = T.tensor4("x"), T.tensor4("w")
    >>> y = T.nnet.conv2d(x, w, border_mode="half")
    >>> y.eval({x: np.ones((1, 1, 3, 3)), w: np.ones((1, 1, 3, 3))})[0, 0]
    array([[4., 6., 4.],
           [6., 9., 6.],
           [4., 6., 4.]])
    """
    if unshared:
        raise NotImplementedError(
            "conv2d: unshared=True (locally connected filters) is not supported"
        )
    if image_shape is not None:
        if input_shape is not None:
            raise ValueError("conv2d: give input_shape or its old name image_shape, not both")
        input_shape = image_shape
    op = AbstractConv2d(border_mode, subsample, filter_flip, filter_dilation, num_groups)
    img = four_d(input, "conv2d", "input", "batch, channels, rows, columns")
    kern = four_d(filters, "conv2d", "filters", "out channels, in channels, rows, columns")
    img = hint_shape(img, input_shape, "conv2d", "input_shape")
    kern = hint_shape(kern, filter_shape, "conv2d", "filter_shape")
    return op(img, kern)


def get_conv_output_shape(image_shape, kernel_shape, border_mode, subsample,
                          filter_dilation=None):
    """The output shape of conv2d (Theano's helper): (batch, filters, rows, cols), None where
    a size is unknown."""
    params = ConvParams(border_mode, subsample, True, filter_dilation or (1, 1))
    kh, kw = kernel_shape[-2:]
    rows = params.out_dim(image_shape[-2], kh, 0)
    cols = params.out_dim(image_shape[-1], kw, 1)
    return (image_shape[0], kernel_shape[0], rows, cols)
