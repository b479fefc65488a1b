"""Composite: a small scalar graph used as one scalar op (what fusion builds); FusedReduce.

A Composite holds a topological list of inner nodes over its inputs ``i0 .. i{nin-1}``:
``CNode(op, args, dtype)`` applies the scalar op named `op` (a key of SCALAR_OPS) to `args`
(indices into inputs + earlier node results) and gives `dtype`; ``op == "constant"`` is a
literal (`value`). ``Elemwise(Composite(...))`` runs on the python backend unchanged: `impl`
evaluates the nodes with the same numpy calls, casts and dtypes as the unfused Elemwise
nodes, so results are bit-identical. A backend renders the list as one loop body.

``FusedReduce`` is a CAReduce whose input is computed by a Composite: one loop nest that
maps and accumulates (``sum(exp(x))``).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, NamedTuple

import numpy as np

from symgraph.graph import Apply, Op
from symgraph.ops.elemwise import Elemwise
from symgraph.ops.reduce import CAReduce, reduce_dtype
from symgraph.ops.scalar import SCALAR_OPS, ScalarOp
from symgraph.types import TensorType

CONSTANT = "constant"


class CNode(NamedTuple):
    """One inner node: scalar op name, argument indices, output dtype (and a literal's value)."""

    op: str
    args: tuple[int, ...]
    dtype: str
    value: Any = None


_MAX_TEXT = 200  # longer sub-expressions are cut in names and messages

_INFIX = {"add": ("+", 1), "sub": ("-", 1), "mul": ("*", 2), "true_div": ("/", 2)}


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number it holds (readable, hashable, picklable)."""
    return value if value is None else np.asarray(value).item()


class Composite(ScalarOp):
    """A scalar graph as one scalar op; equal (and hashed) by structure, so merge works.

    Parameters
    ----------
    nin : number of inputs.
    nodes : the inner CNodes in topological order; node k is referenced as ``nin + k``.
    output : the index of the result (an inner node).
    traces : per node, the user's 'file:line' of the expression it came from (errors only).
    """

    def __init__(
        self, nin: int, nodes: tuple[CNode, ...], output: int, traces: tuple[str | None, ...] = ()
    ):
        nodes = tuple(
            CNode(n[0], tuple(n[1]), n[2], _plain(n[3] if len(n) > 3 else None)) for n in nodes
        )
        for k, n in enumerate(nodes):
            if n.op != CONSTANT and n.op not in SCALAR_OPS:
                raise ValueError(f"Composite: unknown scalar op {n.op!r} in node {k}")
            if any(not 0 <= a < nin + k for a in n.args):
                raise ValueError(f"Composite: node {k} ({n.op}) refers to a later value {n.args}")
        if not nin <= output < nin + len(nodes):
            raise ValueError(f"Composite: output {output} is not an inner node")
        set_ = object.__setattr__
        set_(self, "nin", nin)
        set_(self, "nodes", nodes)
        set_(self, "output", output)
        set_(self, "traces", tuple(traces) + (None,) * (len(nodes) - len(traces)))
        set_(self, "dtype_rule", "composite")
        set_(self, "grad", None)
        set_(self, "commutative", False)
        set_(self, "associative", False)
        set_(self, "identity", None)
        set_(self, "_memo", {})
        set_(self, "_key", (nin, nodes, output))
        literals = [np.asarray(n.value, dtype=n.dtype) if n.op == CONSTANT else None for n in nodes]
        set_(self, "_literals", literals)

    @property
    def expr(self) -> str:
        """The inner expression, e.g. ``tanh(i0*i1+i2)*sigmoid(i0)`` (rendered on first use)."""
        return self._render(self.output)

    @property
    def name(self) -> str:  # type: ignore[override]
        name = self.__dict__.get("_name")
        if name is None:
            name = f"Composite{{{self.expr}}}"
            object.__setattr__(self, "_name", name)
        return name

    # --- identity ---
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Composite) and other._key == self._key

    def __hash__(self) -> int:
        return hash(("Composite", self._key))

    def __reduce__(self):
        return (Composite, (self.nin, self.nodes, self.output, self.traces))

    def __str__(self) -> str:
        return self.name

    __repr__ = __str__

    def output_dtype(self, *dtypes: str) -> str:
        return self.nodes[self.output - self.nin].dtype

    @property
    def casts_inputs(self) -> bool:
        return False  # each inner node casts its own arguments

    # --- evaluation ---
    def impl(self, *inputs):
        """The result, computed node by node exactly as the unfused Elemwise nodes would."""
        return self.evaluate(inputs)[self.output]

    def evaluate(self, inputs) -> list:
        """Every value: the inputs, then one per inner node (NanGuardMode looks inside)."""
        values = list(inputs)
        for k, node in enumerate(self.nodes):
            if node.op == CONSTANT:
                values.append(self._literals[k])
                continue
            op = SCALAR_OPS[node.op]
            args = [values[a] for a in node.args]
            try:
                if op.casts_inputs:
                    args = [np.asarray(a).astype(node.dtype, copy=False) for a in args]
                result = np.asarray(op.impl(*args), dtype=node.dtype)
            except Exception as exc:
                raise self.inner_error(k, exc) from exc
            if not result.flags.writeable or any(result is a for a in args):
                result = result.copy()  # identity / broadcast views: results own their buffers
            values.append(result)
        return values

    def inner_error(self, k: int, exc: Exception) -> Exception:
        """`exc` raised by inner node `k`, naming its expression and the user's line."""
        where = self.traces[k] or "an unknown line"
        text = f"{exc}\n  in the fused expression {self._render(self.nin + k)} (created at {where})"
        try:
            return type(exc)(text)
        except Exception:
            return RuntimeError(text)

    # --- printing ---
    def _render(self, ref: int, parent_prec: int = 0) -> str:
        key = (ref, parent_prec)
        if key not in self._memo:
            text = self._render_node(ref, parent_prec)
            self._memo[key] = text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."
        return self._memo[key]

    def _render_node(self, ref: int, parent_prec: int) -> str:
        if ref < self.nin:
            return f"i{ref}"
        node = self.nodes[ref - self.nin]
        if node.op == CONSTANT:
            return repr(node.value) if np.ndim(node.value) == 0 else "c"
        if node.op == "neg":
            return f"-{self._render(node.args[0], 3)}"
        if node.op in _INFIX:
            sym, prec = _INFIX[node.op]
            right_prec = prec + 1 if node.op in ("sub", "true_div") else prec
            parts = [self._render(node.args[0], prec)]
            parts += [self._render(a, right_prec) for a in node.args[1:]]
            text = sym.join(parts)
            return f"({text})" if prec < parent_prec else text
        return f"{node.op}({', '.join(self._render(a) for a in node.args)})"


def copy_of(v):
    """A new buffer holding the value of `v` (the identity, computed into fresh memory)."""
    return Elemwise(Composite(1, (CNode("identity", (0,), v.dtype),), 1))(v)


@dataclass(frozen=True)
class FusedReduce(Op):
    """``reduce(Elemwise(scalar_op)(*inputs))`` as one node: an elementwise map fused into a
    CAReduce (`reduce`), so a backend emits one loop nest and no temporary."""

    scalar_op: Composite
    reduce: CAReduce
    elem_type: TensorType

    def __str__(self) -> str:
        return f"{self.reduce}{{{self.scalar_op.expr}}}"

    def make_node(self, *inputs) -> Apply:
        elem = Elemwise(self.scalar_op).make_node(*inputs)
        if elem.outputs[0].type != self.elem_type:
            raise TypeError(
                f"{self}: inputs give {elem.outputs[0].type}, expected {self.elem_type}"
            )
        red = self.reduce
        dtype = red.dtype or reduce_dtype(red.scalar_op.name, self.elem_type.dtype)
        shape = tuple(s for a, s in enumerate(self.elem_type.shape) if a not in red.axis)
        return Apply(self, elem.inputs, [TensorType(dtype, shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        inner = SimpleNamespace(inputs=node.inputs, outputs=[SimpleNamespace(type=self.elem_type)])
        mapped = Elemwise(self.scalar_op).perform(inner, inputs)[0]
        return self.reduce.perform(node, [mapped])

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        inner = SimpleNamespace(inputs=node.inputs, outputs=[SimpleNamespace(type=self.elem_type)])
        (shape,) = Elemwise(self.scalar_op).infer_shape(inner, input_shapes)
        return [tuple(s for a, s in enumerate(shape) if a not in self.reduce.axis)]
