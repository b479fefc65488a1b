"""Elemwise (a scalar op lifted to tensors with numpy broadcasting) and DimShuffle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symgraph.graph import Apply, Op, Variable
from symgraph.ops.scalar import ZERO, ScalarOp
from symgraph.types import DISCRETE_DTYPES, TensorType
from symgraph.variable import as_tensor_variable


def broadcast_static_shapes(shapes: list[tuple], what: str) -> tuple:
    """Combine static shapes by numpy's rules; a known clash raises naming `what`."""
    ndim = max((len(s) for s in shapes), default=0)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    out = []
    for axis in range(ndim):
        sizes = {s[axis] for s in padded}
        known = {s for s in sizes if s is not None and s != 1}
        if len(known) > 1:
            shown = ", ".join(
                f"({', '.join('?' if d is None else str(d) for d in s)})" for s in shapes
            )
            raise ValueError(
                f"{what}: shapes {shown} cannot be broadcast together (axis {axis} has sizes "
                f"{sorted(known)})"
            )
        if known:
            out.append(known.pop())
        elif None in sizes:
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


@dataclass(frozen=True)
class Elemwise(Op):
    """Apply `scalar_op` elementwise with broadcasting; `inplace_pattern` maps output -> input."""

    scalar_op: ScalarOp
    inplace_pattern: tuple[tuple[int, int], ...] = ()

    @property
    def destroy_map(self) -> dict[int, list[int]]:  # type: ignore[override]
        return {o: [i] for o, i in self.inplace_pattern}

    def __str__(self) -> str:
        if self.inplace_pattern:
            return f"Elemwise{{{self.scalar_op},inplace}}"
        return f"Elemwise{{{self.scalar_op}}}"

    def make_node(self, *inputs) -> Apply:
        from symgraph.ops.shape import dimshuffle

        nin = self.scalar_op.nin
        if nin is not None and len(inputs) != nin:
            raise TypeError(f"{self.scalar_op} takes {nin} inputs, got {len(inputs)}")
        if not inputs:
            raise TypeError(f"{self.scalar_op} needs at least one input")
        inputs = [as_tensor_variable(x) for x in inputs]
        ndim = max(x.ndim for x in inputs)
        inputs = [
            x if x.ndim == ndim else dimshuffle(x, ("x",) * (ndim - x.ndim) + tuple(range(x.ndim)))
            for x in inputs
        ]
        where = next((x.where() for x in inputs if x.owner is None and x.trace), "")
        shape = broadcast_static_shapes([x.type.shape for x in inputs], f"{self.scalar_op}{where}")
        dtype = self.scalar_op.output_dtype(*[x.dtype for x in inputs])
        return Apply(self, inputs, [TensorType(dtype, shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        out = node.outputs[0]
        dtype = out.type.dtype
        if self.scalar_op.casts_inputs:
            inputs = [x.astype(dtype, copy=False) for x in inputs]
        _check_runtime_broadcast(node, inputs)
        result = self.scalar_op.impl(*inputs)
        if self.inplace_pattern:
            target = inputs[self.inplace_pattern[0][1]]
            if target.shape == np.shape(result) and target.dtype == dtype:
                target[...] = result
                return [target]
        out = np.asarray(result, dtype=dtype)
        # identity-like impls (identity, unary add/mul, second) may return an input or a
        # read-only broadcast view: the output must be a fresh, writable buffer.
        if not out.flags.writeable or any(
            np.may_share_memory(out, x) for x in inputs if isinstance(x, np.ndarray)
        ):
            out = np.array(out, dtype=dtype)
        return [out]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        out = []
        for axis, size in enumerate(node.outputs[0].type.shape):
            if size is not None:
                out.append(size)
                continue
            for x, shp in zip(node.inputs, input_shapes):
                if x.type.shape[axis] != 1:
                    out.append(shp[axis])
                    break
            else:
                out.append(1)
        return [tuple(out)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        from symgraph.ops import math

        out, gz = outputs[0], output_grads[0]
        rule = self.scalar_op.grad
        if out.dtype in DISCRETE_DTYPES and rule is None:
            return [None] * len(inputs)
        if rule is None:
            raise NotImplementedError(f"the elementwise op {self.scalar_op} has no gradient")
        if rule == ZERO:
            grads = [math.zeros_like(x) for x in inputs]
        else:
            grads = rule(list(inputs), out, gz)
        result = []
        for x, g in zip(inputs, grads):
            if g is None or x.dtype in DISCRETE_DTYPES:
                result.append(None)
                continue
            g = as_tensor_variable(g)
            axes = [
                a
                for a, (sx, sg) in enumerate(zip(x.type.shape, g.type.shape))
                if sx == 1 and sg != 1
            ]
            if axes:
                g = math.sum(g, axis=axes, keepdims=True)
            if g.dtype != x.dtype:
                g = math.cast(g, x.dtype)
            result.append(g)
        return result


def _check_runtime_broadcast(node: Apply, inputs: list) -> None:
    """Theano semantics: only dimensions of static size 1 broadcast; others must match."""
    if len(inputs) < 2:
        return
    first = inputs[0].shape
    if all(x.shape == first for x in inputs):
        return
    for axis, size in enumerate(node.outputs[0].type.shape):
        if size == 1:
            continue
        sizes = {x.shape[axis] for x, v in zip(inputs, node.inputs) if v.type.shape[axis] != 1}
        if len(sizes) > 1 or (
            sizes
            and any(
                x.shape[axis] != 1 for x, v in zip(inputs, node.inputs) if v.type.shape[axis] == 1
            )
        ):
            shapes = ", ".join(str(x.shape) for x in inputs)
            raise ValueError(
                f"Input dimension mismatch in {node.op}: input shapes {shapes} disagree on axis "
                f"{axis}. Only dimensions that are broadcastable in the graph (static size 1, "
                "e.g. from T.row / dimshuffle('x', ...)) may broadcast."
            )


@dataclass(frozen=True)
class DimShuffle(Op):
    """Reorder dimensions, drop broadcastable ones and insert new ones ('x'), Theano style."""

    input_ndim: int
    new_order: tuple

    view_map = {0: [0]}

    def __str__(self) -> str:
        if self.new_order == tuple(reversed(range(self.input_ndim))) and self.input_ndim > 1:
            return "Transpose" if self.input_ndim == 2 else f"Transpose{{{self.new_order}}}"
        return f"DimShuffle{{{','.join(map(str, self.new_order))}}}"

    @property
    def shuffle(self) -> list[int]:
        return [d for d in self.new_order if d != "x"]

    @property
    def drop(self) -> list[int]:
        kept = set(self.shuffle)
        return [d for d in range(self.input_ndim) if d not in kept]

    @property
    def augment(self) -> list[int]:
        return [i for i, d in enumerate(self.new_order) if d == "x"]

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        if x.ndim != self.input_ndim:
            raise TypeError(
                f"dimshuffle{self.new_order}: {x}{x.where()} has {x.ndim} dimensions, the pattern "
                f"expects {self.input_ndim}"
            )
        shuffle = self.shuffle
        if len(set(shuffle)) != len(shuffle) or any(
            not isinstance(d, (int, np.integer)) or not 0 <= d < x.ndim for d in shuffle
        ):
            raise ValueError(f"invalid dimshuffle pattern {self.new_order} for a {x.ndim}-d input")
        for d in self.drop:
            if x.type.shape[d] != 1:
                raise ValueError(
                    f"dimshuffle{self.new_order} drops dimension {d} of {x}{x.where()}, whose size "
                    f"is not known to be 1 (type {x.type}); use squeeze/specify_shape first"
                )
        shape = tuple(1 if d == "x" else x.type.shape[d] for d in self.new_order)
        return Apply(self, [x], [TensorType(x.dtype, shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        x = inputs[0]
        res = (
            x.transpose(self.shuffle + self.drop)
            if self.drop or self.shuffle != sorted(self.shuffle)
            else x
        )
        shape = tuple(1 if d == "x" else x.shape[d] for d in self.new_order)
        return [res.reshape(shape)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        shp = input_shapes[0]
        return [tuple(1 if d == "x" else shp[d] for d in self.new_order)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        from symgraph.ops import math
        from symgraph.ops.shape import dimshuffle

        (x,), (gz,) = inputs, output_grads
        if x.dtype in DISCRETE_DTYPES:
            return [None]
        if self.augment:
            gz = math.sum(gz, axis=self.augment)
        # gz's axes now follow self.shuffle; put each back where it came from.
        position = {d: i for i, d in enumerate(self.shuffle)}
        order = tuple(position.get(d, "x") for d in range(self.input_ndim))
        return [dimshuffle(gz, order)]


def is_elemwise(var: Variable, name: str | None = None) -> bool:
    """True if `var` is made by an Elemwise (of the scalar op `name`, if given)."""
    owner = var.owner
    return (
        owner is not None
        and isinstance(owner.op, Elemwise)
        and (name is None or owner.op.scalar_op.name == name)
    )
