"""The loop-nest kernel IR and the lowering of Elemwise (and Composite) and CAReduce to it.

A kernel is one loop nest over ``ndim`` axes. Its body is a small DAG of ``Node``\\ s, the one
node type of the IR: frozen and hash-consed (structurally equal nodes are the same object, so
common subexpressions are shared for free). A node is

    Node(op, dtype, src, arg)

with ``op`` one of ``"load"`` (arg: input position), ``"const"`` (arg: the value),
``"cast"`` (to ``dtype``) or the name of a scalar op of ``SCALAR_OPS`` whose inputs all have
one compute dtype (lowering inserts the casts, so renderers never guess numpy's type rules).

``Kernel`` puts the loop around the DAG: an elementwise kernel stores ``values[k]`` into output
``k`` at every index; a reduce kernel folds ``values[0]`` into its output over ``axes`` with
the scalar op ``reduce_op``. ``str(kernel)`` is a readable listing; its hash names the kernel.
"""

from __future__ import annotations

import functools
import hashlib
import math
from typing import Any, NamedTuple

import numpy as np

from symgraph.graph import Apply, Constant
from symgraph.ops.scalar import SCALAR_OPS, ScalarOp
from symgraph.types import DISCRETE_DTYPES, TensorType, upcast


class NotLowerable(NotImplementedError):
    """This node has no kernel lowering (the program runs its `perform` instead)."""


class Node:
    """One value of the kernel body; build with `node()`, which hash-conses (so two Nodes
    are equal only when they are the same object). Never changed once made.

    Plain classes here and below rather than dataclasses: making a dataclass costs ~1 ms, and
    this module is imported by every process's first compiled function."""

    __slots__ = ("op", "dtype", "src", "arg")

    def __init__(self, op: str, dtype: str, src: tuple[Node, ...] = (), arg: Any = None):
        self.op, self.dtype, self.src, self.arg = op, dtype, src, arg

    def __repr__(self) -> str:
        return f"Node({self.op!r}, {self.dtype!r}, {len(self.src)} sources, arg={self.arg!r})"


_INTERN: dict[tuple, Node] = {}


def node(op: str, dtype: str, src: tuple[Node, ...] = (), arg: Any = None) -> Node:
    """The unique Node with these fields (identity equality is structural equality)."""
    # repr keeps 0.0 and -0.0 (equal and equally hashed floats) apart; src by identity
    key = (op, dtype, tuple(map(id, src)), type(arg).__name__, repr(arg))
    found = _INTERN.get(key)
    if found is None:
        found = _INTERN[key] = Node(op, dtype, tuple(src), arg)
    return found


def const(value: Any, dtype: str) -> Node:
    """A constant of `dtype`, stored as the matching Python scalar."""
    return node("const", dtype, (), np.asarray(value, dtype=dtype).item())


def cast(x: Node, dtype: str) -> Node:
    """`x` converted to `dtype` with numpy's astype semantics (no-op if it has it already)."""
    if x.dtype == dtype:
        return x
    if x.op == "const":
        with np.errstate(all="ignore"):
            return const(np.asarray(x.arg, dtype=x.dtype).astype(dtype), dtype)
    return node("cast", dtype, (x,))


# Dtype rules of ScalarOp, restated as "which dtype the inputs are computed in".
def _compute_dtype(op: ScalarOp, in_dtypes: list[str], out_dtype: str) -> str:
    rule = op.dtype_rule
    if rule == "bool":  # comparisons and tests: numpy compares in the common type
        return upcast(*in_dtypes)
    if rule == "real":  # abs, real, imag: the input's own type
        return in_dtypes[0]
    if rule.startswith("cast_"):
        return in_dtypes[0]
    return out_dtype


def apply_scalar(op: ScalarOp, args: list[Node], out_dtype: str) -> Node:
    """The node computing `op(*args)` as numpy's Elemwise.perform does, casts made explicit."""
    name = op.name
    if any(a.dtype.startswith("complex") for a in args) or out_dtype.startswith("complex"):
        raise NotLowerable(f"{name} on complex numbers")
    if name.startswith("cast_"):
        return cast(args[0], out_dtype)
    if name == "switch":  # the condition's truth value, then values in the output dtype
        return node(
            name,
            out_dtype,
            (cast(args[0], "bool"), cast(args[1], out_dtype), cast(args[2], out_dtype)),
        )
    if name == "second":
        return cast(args[1], out_dtype)
    if name == "identity":
        return cast(args[0], out_dtype)
    dtype = _compute_dtype(op, [a.dtype for a in args], out_dtype)
    if name in ("lt", "gt", "le", "ge", "eq", "neq") and {a.dtype for a in args} >= {
        "int64",
        "uint64",
    }:
        raise NotLowerable("comparing int64 with uint64 (numpy compares them exactly)")
    srcs = tuple(cast(a, dtype) for a in args)
    if op.nin is None and len(srcs) > 2:  # variadic add / mul: a left fold, as numpy's
        acc = node(name, dtype, srcs[:2])
        for s in srcs[2:]:
            acc = node(name, dtype, (acc, s))
        return cast(acc, out_dtype)
    if op.nin is None and len(srcs) == 1:
        return cast(srcs[0], out_dtype)
    return node(name, out_dtype, srcs)


class Operand(NamedTuple):
    """An array the kernel reads or writes: its dtype and axes of static size 1 (broadcast)."""

    dtype: str
    bcast: tuple[bool, ...]

    @property
    def is_scalar(self) -> bool:
        """Every axis broadcasts: one element, read once."""
        return all(self.bcast)


class Kernel:
    """One loop nest: `kind` is 'elemwise' or 'reduce' (`values[0]` folded over `axes`).
    Equal (and hashed) by its fields; never changed once made."""

    def __init__(self, kind: str, ndim: int, inputs: tuple[Operand, ...],
                 outputs: tuple[Operand, ...], values: tuple[Node, ...],
                 reduce_op: str | None = None, axes: tuple[int, ...] = ()):
        self.kind, self.ndim, self.inputs, self.outputs = kind, ndim, inputs, outputs
        self.values, self.reduce_op, self.axes = values, reduce_op, axes

    def _fields(self) -> tuple:
        return (self.kind, self.ndim, self.inputs, self.outputs, self.values, self.reduce_op,
                self.axes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Kernel) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return f"Kernel({self.kind!r}, ndim={self.ndim}, name={self.name!r})"

    def listing(self) -> str:
        """The kernel as text: a header, then one line per node in evaluation order."""
        return self._listing

    @functools.cached_property
    def _listing(self) -> str:

        def shape(o: Operand) -> str:
            return "[" + ", ".join("1" if b else "n" + str(k) for k, b in enumerate(o.bcast)) + "]"

        lines = [
            f"{self.kind} ndim={self.ndim}"
            + (f" reduce={self.reduce_op} axes={list(self.axes)}" if self.kind == "reduce" else "")
        ]
        lines += [f"  in{k}: {o.dtype}{shape(o)}" for k, o in enumerate(self.inputs)]
        lines += [f"  out{k}: {o.dtype}{shape(o)}" for k, o in enumerate(self.outputs)]
        names: dict[int, str] = {}
        for n in toposort(self.values):
            names[id(n)] = f"%{len(names)}"
            if n.op == "load":
                rhs = f"load in{n.arg}"
            elif n.op == "const":
                rhs = f"const {n.arg!r}"
            else:
                rhs = f"{n.op} " + ", ".join(names[id(s)] for s in n.src)
            lines.append(f"  {names[id(n)]} = {rhs} : {n.dtype}")
        verb = "fold into" if self.kind == "reduce" else "store"
        lines += [f"  {verb} out{k} <- {names[id(v)]}" for k, v in enumerate(self.values)]
        return "\n".join(lines)

    @functools.cached_property
    def name(self) -> str:
        """A process-unique and cache-stable name: the hash of the listing."""
        return "k" + hashlib.sha256(self.listing().encode()).hexdigest()[:20]

    def __str__(self) -> str:
        return self.listing()


def toposort(values: tuple[Node, ...]) -> list[Node]:
    """Nodes reachable from `values`, each after its sources, each once."""
    order: list[Node] = []
    seen: set[int] = set()

    def visit(n: Node) -> None:
        if id(n) in seen:
            return
        seen.add(id(n))
        for s in n.src:
            visit(s)
        order.append(n)

    for v in values:
        visit(v)
    return order


# --- lowering -----------------------------------------------------------------------------


def _tensor_type(var) -> TensorType:
    if not isinstance(var.type, TensorType):
        raise NotLowerable(f"{var} is not a tensor ({var.type})")
    return var.type


def _scalar_constant(var) -> Any | None:
    """The value of a constant with one element (inlined into the kernel), else None; also
    through DimShuffles (Elemwise adds them to align ranks)."""
    while var.owner is not None and type(var.owner.op).__name__ == "DimShuffle":
        var = var.owner.inputs[0]
    if isinstance(var, Constant):
        data = np.asarray(var.data)
        if data.size == 1:
            return data.reshape(()).item()
    return None


def elemwise_operands(apply: Apply) -> tuple[list[int], list[Node]]:
    """Which node inputs the kernel reads as arrays, and the leaf Node of every node input."""
    arrays, leaves = [], []
    for i, var in enumerate(apply.inputs):
        ttype = _tensor_type(var)
        value = _scalar_constant(var)
        if value is not None:
            leaves.append(const(value, ttype.dtype))
        else:
            leaves.append(node("load", ttype.dtype, (), len(arrays)))
            arrays.append(i)
    return arrays, leaves


def lower_elemwise(apply: Apply) -> tuple[Kernel, list[int]]:
    """The kernel of an Elemwise node, and the node inputs it takes (in kernel order)."""
    op = apply.op
    out_types = [_tensor_type(v) for v in apply.outputs]
    ndim = out_types[0].ndim
    arrays, leaves = elemwise_operands(apply)
    scalar_op = op.scalar_op
    if _is_composite(scalar_op):
        values = _lower_composite(scalar_op, leaves, [t.dtype for t in out_types])
    else:
        if scalar_op.name not in SCALAR_OPS:
            raise NotLowerable(f"unknown scalar op {scalar_op}")
        values = [apply_scalar(scalar_op, leaves, out_types[0].dtype)]
    inputs = tuple(
        Operand(apply.inputs[i].type.dtype, apply.inputs[i].type.broadcastable) for i in arrays
    )
    outputs = tuple(Operand(t.dtype, t.broadcastable) for t in out_types)
    if any(o.dtype.startswith("complex") for o in inputs + outputs):
        raise NotLowerable("complex numbers")
    return Kernel("elemwise", ndim, inputs, outputs, tuple(values)), arrays


def _is_composite(scalar_op) -> bool:
    """A Composite (ops/composite.py): a scalar graph in `nodes`, result at `output`."""
    return hasattr(scalar_op, "nodes") and hasattr(scalar_op, "output")


def _lower_composite(comp, leaves: list[Node], out_dtypes: list[str]) -> list[Node]:
    """A Composite's scalar graph: `nodes` is a topological list of CNode(op, args, dtype,
    value), args indexing the composite's inputs and then earlier nodes' results."""
    vals = list(leaves)
    for inner in comp.nodes:
        if inner.op == "constant":
            if np.ndim(inner.value) != 0:
                raise NotLowerable("a Composite with an array literal")
            vals.append(const(inner.value, inner.dtype))
            continue
        sop = SCALAR_OPS.get(inner.op)
        if sop is None:
            raise NotLowerable(f"unknown scalar op {inner.op!r} in {comp}")
        vals.append(apply_scalar(sop, [vals[i] for i in inner.args], inner.dtype))
    return [cast(vals[comp.output], d) for d in out_dtypes]


# Reductions: numpy's start values; max / min of an empty axis is an error (perform raises).
def reduce_identity(name: str, dtype: str) -> Any:
    """The neutral element of reduce op `name` in `dtype`."""
    if name == "add":
        return 0
    if name == "mul":
        return 1
    if name in ("and_", "or_"):
        return name == "and_"
    if name in ("maximum", "minimum"):
        sign = -1 if name == "maximum" else 1
        if dtype == "bool":
            return name == "minimum"
        if dtype in DISCRETE_DTYPES:
            info = np.iinfo(dtype)
            return int(info.min if sign < 0 else info.max)
        return sign * math.inf
    raise NotLowerable(f"no native reduction with {name}")


def lower_fused_reduce(apply: Apply) -> tuple[Kernel, list[int]]:
    """A FusedReduce (ops/composite.py): the Composite's value folded over the axes."""
    op = apply.op
    red, otype = op.reduce, _tensor_type(apply.outputs[0])
    name = red.scalar_op.name
    if name not in ("add", "mul", "maximum", "minimum", "and_", "or_") or not red.axis:
        raise NotLowerable(f"fused reduction with {name} over {red.axis}")
    arrays, leaves = elemwise_operands(apply)
    (value,) = _lower_composite(op.scalar_op, leaves, [otype.dtype])
    reduce_identity(name, otype.dtype)
    inputs = tuple(
        Operand(apply.inputs[i].type.dtype, apply.inputs[i].type.broadcastable) for i in arrays
    )
    keep = tuple(b for a, b in enumerate(op.elem_type.broadcastable) if a not in red.axis)
    if any(o.dtype.startswith("complex") for o in inputs) or otype.dtype.startswith("complex"):
        raise NotLowerable("complex numbers")
    kernel = Kernel(
        "reduce",
        op.elem_type.ndim,
        inputs,
        (Operand(otype.dtype, keep),),
        (value,),
        name,
        tuple(red.axis),
    )
    return kernel, arrays


def lower_careduce(apply: Apply) -> Kernel:
    """The kernel of a CAReduce node: cast(x) folded over the reduced axes into the output."""
    op = apply.op
    x, out = apply.inputs[0], apply.outputs[0]
    xtype, otype = _tensor_type(x), _tensor_type(out)
    name = op.scalar_op.name
    if name not in ("add", "mul", "maximum", "minimum", "and_", "or_"):
        raise NotLowerable(f"reduction with {name}")
    if xtype.dtype.startswith("complex") or otype.dtype.startswith("complex"):
        raise NotLowerable("complex numbers")
    value = cast(node("load", xtype.dtype, (), 0), otype.dtype)
    if not op.axis:  # nothing to fold: numpy's astype
        operand = Operand(xtype.dtype, xtype.broadcastable)
        return Kernel(
            "elemwise",
            xtype.ndim,
            (operand,),
            (Operand(otype.dtype, otype.broadcastable),),
            (value,),
        )
    reduce_identity(name, otype.dtype)
    keep = tuple(b for a, b in enumerate(xtype.broadcastable) if a not in op.axis)
    return Kernel(
        "reduce",
        xtype.ndim,
        (Operand(xtype.dtype, xtype.broadcastable),),
        (Operand(otype.dtype, keep),),
        (value,),
        name,
        tuple(op.axis),
    )
