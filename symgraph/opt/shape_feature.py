"""ShapeFeature: the symbolic shape of every variable of a graph, from static types and each
op's infer_shape, so ``shape(x)`` can be replaced by constants or by the shapes of inputs."""

from __future__ import annotations

from symgraph.fgraph import FunctionGraph
from symgraph.graph import Variable
from symgraph.types import TensorType


def _int64(entry, owner: Variable, axis: int) -> Variable:
    """One shape entry as an int64 scalar variable (a constant when static)."""
    from symgraph.ops.math import cast
    from symgraph.ops.shape import Shape_i
    from symgraph.variable import as_tensor_variable, constant

    static = owner.type.shape[axis]
    if static is not None:
        return constant(static, dtype="int64")
    if entry is None:
        return Shape_i(axis)(owner)
    if not isinstance(entry, Variable):
        return constant(int(entry), dtype="int64")
    entry = as_tensor_variable(entry)
    if entry.ndim != 0 or not entry.dtype.startswith(("int", "uint")):
        return Shape_i(axis)(owner)
    return cast(entry, "int64")


class ShapeFeature:
    """Lazily computed, cached symbolic shapes (a tuple of int64 scalars per variable)."""

    def __init__(self):
        self.cache: dict[Variable, tuple] = {}

    def shape_of(self, v: Variable) -> tuple | None:
        """The symbolic shape of `v`, or None when it is not a tensor."""
        if not isinstance(v.type, TensorType):
            return None
        stack = [v]
        while stack:
            u = stack[-1]
            if u in self.cache:
                stack.pop()
                continue
            node = u.owner
            if node is None:
                self.cache[u] = tuple(_int64(None, u, a) for a in range(u.type.ndim))
                stack.pop()
                continue
            missing = [i for i in node.inputs if i not in self.cache]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            self._infer(node)
        return self.cache[v]

    def _infer(self, node) -> None:
        tensors = [isinstance(o.type, TensorType) for o in node.outputs]
        try:
            shapes = node.op.infer_shape(node, [self.cache[i] for i in node.inputs])
            shapes = [
                tuple(_int64(e, o, a) for a, e in enumerate(shp)) if t else None
                for o, shp, t in zip(node.outputs, shapes, tensors)
            ]
        except Exception:
            shapes = [
                tuple(_int64(None, o, a) for a in range(o.type.ndim)) if t else None
                for o, t in zip(node.outputs, tensors)
            ]
        for o, shp in zip(node.outputs, shapes):
            self.cache[o] = shp


def shape_feature(fg: FunctionGraph) -> ShapeFeature:
    """The graph's ShapeFeature (created on first use; shapes never change under rewrites)."""
    feature = fg.__dict__.get("shape_feature")
    if feature is None:
        feature = fg.__dict__["shape_feature"] = ShapeFeature()
    return feature


def shape_i_of(fg: FunctionGraph, x: Variable, i: int) -> Variable | None:
    """A simpler expression for ``Shape_i(i)(x)``: a constant or the shape of an earlier
    variable; None when nothing simpler is known."""
    from symgraph.ops.shape import Shape_i

    shape = shape_feature(fg).shape_of(x)
    if shape is None:
        return None
    entry = shape[i]
    owner = entry.owner
    if owner is not None and isinstance(owner.op, Shape_i) and owner.inputs[0] is x:
        return None
    return entry
