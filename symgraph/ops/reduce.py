"""Reductions: CAReduce (sum, prod, max, min, all, any over any axes) and Argmax."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from symgraph.graph import Apply, Op
from symgraph.ops.scalar import ScalarOp
from symgraph.types import DISCRETE_DTYPES, TensorType
from symgraph.variable import as_tensor_variable

_NUMPY_REDUCE: dict[str, Callable] = {
    "add": np.sum,
    "mul": np.prod,
    "maximum": np.max,
    "minimum": np.min,
    "and_": np.all,
    "or_": np.any,
    "xor": np.bitwise_xor.reduce,
}


def normalize_axis(axis, ndim: int, what: str) -> tuple[int, ...]:
    """Axis argument (None, int or sequence; negatives allowed) to a sorted tuple of axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)):
            raise TypeError(f"{what}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"{what}: axis {a} is out of range for a {ndim}-d input")
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{what}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def reduce_dtype(op_name: str, dtype: str) -> str:
    """Sums and products of small ints accumulate in 64 bits, as numpy does."""
    if op_name in ("add", "mul"):
        if dtype == "bool" or dtype.startswith("int"):
            return "int64"
        if dtype.startswith("uint"):
            return "uint64"
    if op_name in ("and_", "or_"):
        return "bool"
    return dtype


@dataclass(frozen=True)
class CAReduce(Op):
    """Reduce over `axis` (a sorted tuple) with a commutative, associative scalar op."""

    scalar_op: ScalarOp
    axis: tuple[int, ...]
    dtype: str | None = None

    def __str__(self) -> str:
        name = {
            "add": "Sum",
            "mul": "Prod",
            "maximum": "Max",
            "minimum": "Min",
            "and_": "All",
            "or_": "Any",
        }.get(self.scalar_op.name, f"CAReduce{{{self.scalar_op}}}")
        return f"{name}{{axis={list(self.axis)}}}"

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        if any(a >= x.ndim for a in self.axis) and not (x.ndim == 0 and self.axis == ()):
            raise ValueError(f"{self}: axis out of range for {x}{x.where()} with {x.ndim} dims")
        dtype = self.dtype or reduce_dtype(self.scalar_op.name, x.dtype)
        shape = tuple(s for a, s in enumerate(x.type.shape) if a not in self.axis)
        return Apply(self, [x], [TensorType(dtype, shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        x = inputs[0]
        out = node.outputs[0]
        if not self.axis:
            return [x.astype(out.dtype)]
        fn = _NUMPY_REDUCE[self.scalar_op.name]
        if self.scalar_op.name in ("maximum", "minimum") and any(
            x.shape[a] == 0 for a in self.axis
        ):
            raise ValueError(
                f"{self}: cannot take the {self.scalar_op.name} of an empty axis (input shape "
                f"{x.shape})"
            )
        if fn in (np.sum, np.prod):
            res = fn(x, axis=self.axis, dtype=out.dtype)
        else:
            res = fn(x, axis=self.axis)
        return [np.asarray(res, dtype=out.dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [tuple(s for a, s in enumerate(input_shapes[0]) if a not in self.axis)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        x = inputs[0]
        if x.dtype in DISCRETE_DTYPES:
            return [None]
        rule = _GRADS.get(self.scalar_op.name)
        if rule is None:
            raise NotImplementedError(f"{self} has no gradient")
        return [rule(self, x, outputs[0], output_grads[0])]


def keep_dims(x, v, axes: Sequence[int]):
    """Put the reduced `axes` of `x` back into `v` as broadcastable dimensions."""
    from symgraph.ops.shape import dimshuffle

    order, k = [], 0
    for a in range(x.ndim):
        if a in axes:
            order.append("x")
        else:
            order.append(k)
            k += 1
    return dimshuffle(v, tuple(order))


def _sum_grad(op, x, out, gz):
    from symgraph.ops import math

    return math.second(x, math.cast(keep_dims(x, gz, op.axis), x.dtype))


def _prod_grad(op, x, out, gz):
    # d prod / d x_i = prod of the others; with zeros present only a lone zero gets a gradient.
    from symgraph.ops import math

    is_zero = math.eq(x, 0)
    n_zero = keep_dims(x, math.sum(is_zero, axis=op.axis), op.axis)
    prod_nonzero = keep_dims(x, math.prod(math.switch(is_zero, 1, x), axis=op.axis), op.axis)
    gz_e = keep_dims(x, gz, op.axis)
    no_zero = gz_e * keep_dims(x, out, op.axis) / math.switch(is_zero, 1, x)
    one_zero = math.switch(is_zero, gz_e * prod_nonzero, 0)
    return math.switch(math.eq(n_zero, 0), no_zero, math.switch(math.eq(n_zero, 1), one_zero, 0))


def _extremum_grad(op, x, out, gz):
    from symgraph.ops import math

    return math.cast(math.eq(x, keep_dims(x, out, op.axis)), x.dtype) * keep_dims(x, gz, op.axis)


_GRADS = {"add": _sum_grad, "mul": _prod_grad, "maximum": _extremum_grad, "minimum": _extremum_grad}


@dataclass(frozen=True)
class Argmax(Op):
    """Index of the maximum (or minimum, with `minimum=True`) over `axis`; int64 output."""

    axis: tuple[int, ...]
    minimum: bool = False

    def __str__(self) -> str:
        return f"{'Argmin' if self.minimum else 'Argmax'}{{axis={list(self.axis)}}}"

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        shape = tuple(s for a, s in enumerate(x.type.shape) if a not in self.axis)
        return Apply(self, [x], [TensorType("int64", shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        x = inputs[0]
        keep = [a for a in range(x.ndim) if a not in self.axis]
        moved = x.transpose(keep + list(self.axis))
        flat = moved.reshape(moved.shape[: len(keep)] + (-1,))
        fn = np.argmin if self.minimum else np.argmax
        return [np.asarray(fn(flat, axis=-1), dtype="int64")]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [tuple(s for a, s in enumerate(input_shapes[0]) if a not in self.axis)]

    def L_op(self, inputs, outputs, output_grads):
        return [None]
