"""2-d pooling over the last two axes (Theano's Pool) and its gradient ops.

Ops: Pool (modes 'max', 'sum', 'average_inc_pad', 'average_exc_pad'), MaxPoolGrad,
AveragePoolGrad and DownsampleFactorMaxGradGrad, with Theano's names and semantics:

- windows start at multiples of the stride in the zero-padded image; with
  ``ignore_border=False`` a last, partial window covers the remaining border;
- 'max' and 'sum' never see the padding; 'average_exc_pad' divides by the number of real
  (non-pad) elements in the window, 'average_inc_pad' by the window's size within the
  padded image;
- the max gradient goes to every element of a window equal to its maximum (ties each
  receive the full gradient, as in Theano's MaxPoolGrad, and like T.max's gradient).

Numerics: every perform loops over the ws[0] * ws[1] offsets of a window, each step one
strided numpy operation on the whole batch; there is no loop over pixels.
Second derivatives: the max gradient is piecewise linear in the output gradient with
coefficients constant in x, so MaxPoolGrad's own gradient is DownsampleFactorMaxGradGrad
(and vice versa); AveragePoolGrad's adjoint is the Pool itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symgraph.graph import Apply, Op
from symgraph.ops import math
from symgraph.ops.conv_kernels import Alloc, fresh, zeros
from symgraph.types import DISCRETE_DTYPES, FLOAT_DTYPES, TensorType
from symgraph.variable import as_tensor_variable

__all__ = ["Pool", "MaxPoolGrad", "AveragePoolGrad", "DownsampleFactorMaxGradGrad"]

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


def _pair(value, what: str, minimum: int) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
        raise NotImplementedError(
            f"pool_2d: {what} must be a pair of Python ints (symbolic sizes are not "
            f"supported), got {value!r}"
        )
    if any(v < minimum for v in pair):
        raise ValueError(f"pool_2d: {what} must be >= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def _clip0(n):
    return max(n, 0) if isinstance(n, (int, np.integer)) else math.maximum(n, 0)


def out_length(size, ws: int, st: int, pad: int, ignore_border: bool):
    """Number of windows along one axis (Theano's Pool.out_shape, for ints or scalars)."""
    size = size + 2 * pad
    if ignore_border:
        return _clip0((size - ws) // st + 1)
    if st >= ws:
        return (size - 1) // st + 1
    return _clip0((size - 1 - ws + st) // st) + 1  # the last window starts inside the image


@dataclass(frozen=True)
class PoolParams(Op):
    """Window, stride, padding, border rule and mode: shared by the pool op family."""

    ws: tuple[int, int]
    ignore_border: bool = False
    stride: tuple[int, int] | None = None
    pad: tuple[int, int] = (0, 0)
    mode: str = "max"

    def __post_init__(self):
        ws = _pair(self.ws, "ws", 1)
        stride = ws if self.stride is None else _pair(self.stride, "stride", 1)
        pad = _pair(self.pad, "pad", 0)
        if self.mode not in MODES:
            raise ValueError(f"pool_2d: mode must be one of {MODES}, got {self.mode!r}")
        if pad != (0, 0) and not self.ignore_border:
            raise NotImplementedError("pool_2d: padding works only with ignore_border=True")
        if pad[0] >= ws[0] or pad[1] >= ws[1]:
            raise NotImplementedError(
                f"pool_2d: padding must be smaller than the window: pad={pad}, ws={ws}"
            )
        object.__setattr__(self, "ws", ws)
        object.__setattr__(self, "stride", stride)
        object.__setattr__(self, "pad", pad)
        object.__setattr__(self, "ignore_border", bool(self.ignore_border))

    def params(self) -> dict:
        return dict(
            ws=self.ws,
            ignore_border=self.ignore_border,
            stride=self.stride,
            pad=self.pad,
            mode=self.mode,
        )

    def out_hw(self, h, w) -> tuple:
        """Pooled rows and columns (None where the input size is unknown)."""
        return tuple(
            None
            if size is None
            else out_length(size, self.ws[a], self.stride[a], self.pad[a], self.ignore_border)
            for a, size in enumerate((h, w))
        )

    # --- numpy helpers ---------------------------------------------------------------------

    def extended(self, x: np.ndarray, out_hw: tuple, fill) -> np.ndarray:
        """`x` padded with `fill` so that every window lies inside (pad, and partial windows)."""
        h, w = x.shape[-2:]
        (ph, pw) = self.pad
        shape = self.extended_hw((h, w), out_hw)
        if shape == (h, w):
            return x
        out = np.full(x.shape[:-2] + shape, fill, dtype=x.dtype)
        out[..., ph : ph + h, pw : pw + w] = x
        return out

    def extended_hw(self, hw: tuple, out_hw: tuple) -> tuple:
        """Rows and columns of the padded image grown to hold every (partial) window."""
        return tuple(
            max(hw[a] + 2 * self.pad[a], (out_hw[a] - 1) * self.stride[a] + self.ws[a])
            for a in range(2)
        )

    def offsets(self, out_hw: tuple):
        """(row slice, col slice) picking window element (i, j) of every window."""
        (sh, sw), (oh, ow) = self.stride, out_hw
        for i in range(self.ws[0]):
            for j in range(self.ws[1]):
                yield (slice(i, i + (oh - 1) * sh + 1, sh), slice(j, j + (ow - 1) * sw + 1, sw))

    def overlapping(self) -> bool:
        """Whether an element can lie in several windows (stride < window)."""
        return self.stride[0] < self.ws[0] or self.stride[1] < self.ws[1]

    def counts(self, hw: tuple, out_hw: tuple, dtype) -> np.ndarray:
        """(oh, ow) divisors of the average modes."""
        per_axis = []
        for a in range(2):
            start = np.arange(out_hw[a]) * self.stride[a]
            if self.mode == "average_inc_pad":
                lo, hi = 0, hw[a] + 2 * self.pad[a]
            else:
                lo, hi = self.pad[a], self.pad[a] + hw[a]
            per_axis.append(np.minimum(start + self.ws[a], hi) - np.maximum(start, lo))
        return np.outer(per_axis[0], per_axis[1]).astype(dtype)

    def crop(self, gx: np.ndarray, hw: tuple) -> np.ndarray:
        (ph, pw), (h, w) = self.pad, hw
        return np.ascontiguousarray(gx[..., ph : ph + h, pw : pw + w])

    def check_input(self, x, what: str):
        x = as_tensor_variable(x)
        if x.ndim < 2:
            raise NotImplementedError(
                f"{what}: the input {x}{x.where()} must have at least 2 dimensions (pooling "
                f"runs over the last two), got {x.ndim} ({x.type})"
            )
        if self.mode.startswith("average") and x.dtype not in FLOAT_DTYPES:
            raise TypeError(
                f"{what}: mode {self.mode!r} needs a float input; {x}{x.where()} "
                f"is {x.type} (cast it first)"
            )
        if x.dtype == "bool" or x.dtype.startswith("complex"):
            raise TypeError(f"{what}: cannot pool {x}{x.where()} of type {x.type}")
        return x


def _lowest(dtype):
    """The fill that never wins a max."""
    return -np.inf if np.dtype(dtype).kind == "f" else np.iinfo(dtype).min


@dataclass(frozen=True)
class Pool(PoolParams):
    """Pool the last two axes of a tensor with at least 2 dimensions."""

    def make_node(self, x) -> Apply:
        x = self.check_input(x, "pool_2d")
        oh, ow = self.out_hw(*x.type.shape[-2:])
        return Apply(self, [x], [TensorType(x.dtype, x.type.shape[:-2] + (oh, ow))()])

    def perform(self, node: Apply, inputs: list) -> list:
        return [self.compute(node, inputs, fresh)]

    def compute(self, node: Apply, inputs: list, alloc: Alloc) -> np.ndarray:
        """The output, its arrays taken from `alloc` (ops/conv_kernels.py)."""
        x = inputs[0]
        out_hw = self.out_hw(*x.shape[-2:])
        if 0 in out_hw or x.size == 0:
            return np.zeros(x.shape[:-2] + out_hw, dtype=x.dtype)
        is_max = self.mode == "max"
        xe = self.extended(x, out_hw, _lowest(x.dtype) if is_max else 0)
        out = alloc("out", x.shape[:-2] + out_hw, x.dtype)
        for k, (rows, cols) in enumerate(self.offsets(out_hw)):
            window = xe[..., rows, cols]
            if k == 0:
                np.copyto(out, window)
            elif is_max:
                np.maximum(out, window, out=out)
            else:
                out += window
        if self.mode.startswith("average"):
            out /= self.counts(x.shape[-2:], out_hw, x.dtype)
        return out

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        shape = input_shapes[0]
        return [tuple(shape[:-2]) + self.out_hw(*shape[-2:])]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        x = inputs[0]
        if x.dtype in DISCRETE_DTYPES:
            return [None]
        if self.mode == "max":
            return [MaxPoolGrad(**self.params())(x, outputs[0], output_grads[0])]
        return [AveragePoolGrad(**self.params())(x, output_grads[0])]

    def R_op(self, inputs: list, eval_points: list):
        if eval_points[0] is None:
            return [None]
        if self.mode == "max":
            x = inputs[0]
            return [DownsampleFactorMaxGradGrad(**self.params())(x, self(x), eval_points[0])]
        return [self(eval_points[0])]


def _same_as_input(op: PoolParams, x, others, what: str) -> tuple:
    """Check the pooled-shaped inputs against x's pooled static shape; common float dtype."""
    x = op.check_input(x, what)
    pooled = x.type.shape[:-2] + op.out_hw(*x.type.shape[-2:])
    out = []
    for v in others:
        v = as_tensor_variable(v)
        if v.ndim != x.ndim:
            raise TypeError(
                f"{what}: {v}{v.where()} must have {x.ndim} dimensions like the "
                f"input {x}, got {v.ndim}"
            )
        for axis, (a, b) in enumerate(zip(v.type.shape, pooled)):
            if a is not None and b is not None and a != b:
                raise ValueError(
                    f"{what}: {v}{v.where()} has static size {a} on axis {axis}, "
                    f"the pooled input {x} has {b}"
                )
        out.append(math.cast(v, x.dtype))
    return x, out


@dataclass(frozen=True)
class MaxPoolGrad(PoolParams):
    """(x, maxout, gz) -> gx: gz routed to every window element that equals the window's max."""

    def make_node(self, x, maxout, gz) -> Apply:
        if self.mode != "max":
            raise ValueError(f"MaxPoolGrad needs mode='max', got {self.mode!r}")
        x, (maxout, gz) = _same_as_input(self, x, (maxout, gz), "MaxPoolGrad")
        return Apply(self, [x, maxout, gz], [x.type()])

    def perform(self, node: Apply, inputs: list) -> list:
        return [self.compute(node, inputs, fresh)]

    def compute(self, node: Apply, inputs: list, alloc: Alloc) -> np.ndarray:
        """The output, its arrays taken from `alloc` (ops/conv_kernels.py)."""
        x, z, gz = inputs
        out_hw = z.shape[-2:]
        if 0 in out_hw or x.size == 0:
            return np.zeros_like(x)
        xe = self.extended(x, out_hw, _lowest(x.dtype))
        cropped = xe.shape != x.shape
        gx = zeros(alloc, "image" if cropped else "out", xe.shape, x.dtype)
        hit = alloc("hit", z.shape, np.bool_)
        # hit * gz is the fast form, but 0 * inf would put NaN where no max was hit.
        finite = bool(np.isfinite(gz).all())
        for rows, cols in self.offsets(out_hw):
            np.equal(xe[..., rows, cols], z, out=hit)
            if finite and not self.overlapping():
                np.multiply(hit, gz, out=gx[..., rows, cols])  # each element in one window
            else:
                gx[..., rows, cols] += hit * gz if finite else np.where(hit, gz, 0)
        if not cropped:
            return gx
        (ph, pw), (h, w) = self.pad, x.shape[-2:]
        out = alloc("out", x.shape, x.dtype)
        np.copyto(out, gx[..., ph : ph + h, pw : pw + w])
        return out

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [input_shapes[0]]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        x, z, _ = inputs
        ggz = DownsampleFactorMaxGradGrad(**self.params())(x, z, output_grads[0])
        return [math.zeros_like(x), math.zeros_like(z), ggz]


@dataclass(frozen=True)
class DownsampleFactorMaxGradGrad(PoolParams):
    """(x, maxout, ggx) -> ggz: per window, the sum of ggx where x equals the window's max."""

    def make_node(self, x, maxout, ggx) -> Apply:
        if self.mode != "max":
            raise ValueError(f"DownsampleFactorMaxGradGrad needs mode='max', got {self.mode!r}")
        x, (maxout,) = _same_as_input(self, x, (maxout,), "DownsampleFactorMaxGradGrad")
        ggx = math.cast(as_tensor_variable(ggx), x.dtype)
        return Apply(self, [x, maxout, ggx], [maxout.type()])

    def perform(self, node: Apply, inputs: list) -> list:
        x, z, ggx = inputs
        out_hw = z.shape[-2:]
        ggz = np.zeros(z.shape, dtype=z.dtype)
        if 0 in out_hw or x.size == 0:
            return [ggz]
        xe = self.extended(x, out_hw, _lowest(x.dtype))
        ge = self.extended(ggx, out_hw, 0)
        for rows, cols in self.offsets(out_hw):
            ggz += np.where(xe[..., rows, cols] == z, ge[..., rows, cols], 0)
        return [ggz]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [input_shapes[1]]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        x, z, _ = inputs
        ggx = MaxPoolGrad(**self.params())(x, z, output_grads[0])
        return [math.zeros_like(x), math.zeros_like(z), ggx]


@dataclass(frozen=True)
class AveragePoolGrad(PoolParams):
    """(x, gz) -> gx for the 'sum' and average modes (x gives only the shape)."""

    def make_node(self, x, gz) -> Apply:
        if self.mode == "max":
            raise ValueError("AveragePoolGrad is for the 'sum' and average modes, not 'max'")
        x, (gz,) = _same_as_input(self, x, (gz,), "AveragePoolGrad")
        return Apply(self, [x, gz], [x.type()])

    def perform(self, node: Apply, inputs: list) -> list:
        x, gz = inputs
        out_hw = gz.shape[-2:]
        if 0 in out_hw or x.size == 0:
            return [np.zeros_like(x)]
        if self.mode.startswith("average"):
            gz = gz / self.counts(x.shape[-2:], out_hw, x.dtype)
        gx = np.zeros(x.shape[:-2] + self.extended_hw(x.shape[-2:], out_hw), dtype=x.dtype)
        for rows, cols in self.offsets(out_hw):
            if self.overlapping():
                gx[..., rows, cols] += gz
            else:
                gx[..., rows, cols] = gz  # each element in one window at most
        return [self.crop(gx, x.shape[-2:])]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [input_shapes[0]]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        x = inputs[0]
        return [math.zeros_like(x), Pool(**self.params())(output_grads[0])]
