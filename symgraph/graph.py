"""The graph: Variable, Constant, Apply, Op, and walks over them (toposort, ancestors, clone)."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from itertools import count
from types import SimpleNamespace
from typing import Any

import numpy as np

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_ids = count()


def user_trace() -> str | None:
    """The 'file:line' of the first stack frame outside symgraph: where the user made a variable."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_PACKAGE_DIR) and "importlib" not in filename:
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back
    return None


class Variable:
    """A symbolic value: output `index` of `owner` (an Apply), or a graph input if owner is None."""

    def __init__(
        self, type, owner: Apply | None = None, index: int | None = None, name: str | None = None
    ):
        self.type = type
        self.owner = owner
        self.index = index
        self.name = name
        self.trace = user_trace()
        self.tag = SimpleNamespace()
        self.auto_name = f"auto_{next(_ids)}"

    def clone(self) -> Variable:
        """A new ownerless variable of the same type, name and trace."""
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.owner, new.index = None, None
        new.tag = SimpleNamespace(**vars(self.tag))
        new.auto_name = f"auto_{next(_ids)}"
        return new

    def where(self) -> str:
        return f" (created at {self.trace})" if self.trace else ""

    def __str__(self) -> str:
        if self.name is not None:
            return self.name
        if self.owner is not None:
            op = self.owner.op
            if len(self.owner.outputs) == 1:
                return f"{op}.0"
            return f"{op}.{self.index}"
        return f"<{self.type}>"

    def __repr__(self) -> str:
        return str(self)


class Constant(Variable):
    """A graph input with a fixed value; equal constants merge."""

    def __init__(self, type, data: Any, name: str | None = None):
        super().__init__(type, None, None, name)
        self.data = data

    @property
    def value(self) -> Any:
        return self.data

    def signature(self) -> tuple:
        data = self.data
        if isinstance(data, np.ndarray):
            return (self.type, data.shape, data.tobytes())
        return (self.type, data)

    def equals(self, other: object) -> bool:
        return isinstance(other, Constant) and self.signature() == other.signature()

    def clone(self) -> Constant:
        return self  # constants are immutable and shareable between graphs

    def __str__(self) -> str:
        if self.name is not None:
            return self.name
        data = self.data
        if isinstance(data, np.ndarray) and data.size > 8:
            return f"TensorConstant{{{data.dtype}, shape={data.shape}}}"
        text = np.array2string(np.asarray(data), separator=", ", threshold=8)
        return f"TensorConstant{{{text}}}"


class Apply:
    """One application of an Op to input Variables, producing output Variables."""

    def __init__(self, op: Op, inputs: Sequence[Variable], outputs: Sequence[Variable]):
        self.op = op
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        for i, out in enumerate(self.outputs):
            if out.owner is not None and (out.owner is not self or out.index != i):
                raise ValueError(f"output {i} of {op} already belongs to another node")
            out.owner, out.index = self, i

    @property
    def out(self) -> Variable:
        if len(self.outputs) != 1:
            raise ValueError(f"{self.op} has {len(self.outputs)} outputs; use .outputs")
        return self.outputs[0]

    @property
    def nin(self) -> int:
        return len(self.inputs)

    @property
    def nout(self) -> int:
        return len(self.outputs)

    def clone_with_new_inputs(self, inputs: Sequence[Variable], strict: bool = True) -> Apply:
        """The same op applied to `inputs`; outputs are fresh variables keeping names and traces."""
        if strict:
            new = Apply(self.op, inputs, [_fresh_output(o) for o in self.outputs])
        else:
            new = self.op.make_node(*inputs)
            for old, out in zip(self.outputs, new.outputs):
                out.name, out.trace = old.name, old.trace
        return new

    def __str__(self) -> str:
        return f"{self.op}({', '.join(map(str, self.inputs))})"

    __repr__ = __str__


def _fresh_output(old: Variable) -> Variable:
    new = old.clone()
    new.owner = None
    return new


class Op:
    """Base of all operations.

    Subclasses are frozen dataclasses whose fields are the op's parameters (so equal ops
    merge), or classes listing their parameters in ``__props__`` as in Theano. The meaning of
    an op lives in one class: ``make_node`` (types), ``perform`` (the numpy reference),
    ``infer_shape``, ``L_op`` / ``grad`` and ``R_op``.
    """

    __props__: tuple[str, ...] = ()
    default_output: int | None = None
    view_map: dict[int, list[int]] = {}
    destroy_map: dict[int, list[int]] = {}

    def _props(self) -> tuple:
        if dataclasses.is_dataclass(self):
            return tuple(getattr(self, f.name) for f in dataclasses.fields(self))
        return tuple(getattr(self, p) for p in self.__props__)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._props() == other._props()

    def __hash__(self) -> int:
        return hash((type(self), self._props()))

    def __str__(self) -> str:
        props = self._props()
        name = type(self).__name__
        return f"{name}{{{', '.join(map(str, props))}}}" if props else name

    __repr__ = __str__

    def make_node(self, *inputs) -> Apply:
        itypes, otypes = getattr(self, "itypes", None), getattr(self, "otypes", None)
        if itypes is None or otypes is None:
            raise NotImplementedError(f"{type(self).__name__} does not define make_node")
        from symgraph.variable import as_tensor_variable

        itypes, otypes = as_types(itypes), as_types(otypes)
        inputs = [as_tensor_variable(x) for x in inputs]
        if len(inputs) != len(itypes):
            raise TypeError(f"{self} takes {len(itypes)} inputs, got {len(inputs)}")
        for i, (x, t) in enumerate(zip(inputs, itypes)):
            if not t.is_super(x.type):
                raise TypeError(
                    f"{self}: input {i} ({x}{x.where()}) has type {x.type}, expected {t}"
                )
        return Apply(self, inputs, [t() for t in otypes])

    def __call__(self, *inputs, **kwargs):
        node = self.make_node(*inputs, **kwargs)
        compute_test_values(node)
        if self.default_output is not None:
            return node.outputs[self.default_output]
        return node.outputs[0] if len(node.outputs) == 1 else list(node.outputs)

    def perform(self, node: Apply, inputs: list) -> Sequence:
        raise NotImplementedError(f"{type(self).__name__} has no perform (numpy reference)")

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        raise NotImplementedError(f"{type(self).__name__} has no infer_shape")

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        grad = type(self).__dict__.get("grad") or _inherited(type(self), "grad")
        if grad is None:
            raise NotImplementedError(f"{type(self).__name__} has no gradient (L_op or grad)")
        return grad(self, inputs, output_grads)

    def R_op(self, inputs: list, eval_points: list):
        return None  # None: use the generic rule (R_op from two L_ops) in gradient.Rop


def compute_test_values(node: Apply) -> None:
    """Theano's test values (config.compute_test_value): run `node` on its inputs'
    ``tag.test_value`` as the graph is built, so a shape or type error points at the line
    that builds the faulty expression."""
    from symgraph.config import config

    policy = config.compute_test_value
    if policy == "off":
        return
    values = []
    for x in node.inputs:
        if isinstance(x, Constant):
            values.append(x.data)
        elif getattr(x, "is_shared", False):
            values.append(x.get_value(borrow=True))
        elif hasattr(x.tag, "test_value"):
            values.append(x.tag.test_value)
        else:
            if policy == "raise":
                raise ValueError(
                    f"{x}{x.where()} has no test value (config.compute_test_value='raise'): "
                    "set x.tag.test_value = <a numpy array> on each input"
                )
            if policy == "warn":
                import warnings

                warnings.warn(f"{x}{x.where()} has no test value", stacklevel=4)
            return
    from symgraph.codegen.python import perform_function

    results = perform_function(node.op)(node, values)
    for out, value in zip(node.outputs, results):
        out.tag.test_value = value


def as_types(types: Sequence) -> list:
    """Types from Theano's ``itypes`` / ``otypes`` lists, where ``T.dmatrix`` is a type.

    Here the constructors (``T.dmatrix``) are functions, so one is called to get its type.
    """
    out = []
    for t in types:
        if callable(t) and not hasattr(t, "is_super"):
            t = t().type
        out.append(t)
    return out


def _inherited(cls: type, name: str):
    for klass in cls.__mro__:
        if klass is Op:
            return None
        if name in klass.__dict__:
            return klass.__dict__[name]
    return None


# --- walks ---------------------------------------------------------------------------------


def toposort(outputs: Iterable[Variable], stop: Iterable[Variable] = ()) -> list[Apply]:
    """Apply nodes needed for `outputs`, each after the nodes it depends on (stops at `stop`)."""
    order: list[Apply] = []
    seen: set[int] = set()
    stop_ids = {id(v) for v in stop}
    for out in outputs:
        if out.owner is None or id(out) in stop_ids or id(out.owner) in seen:
            continue
        stack = [(out.owner, iter(out.owner.inputs))]
        seen.add(id(out.owner))
        while stack:
            node, it = stack[-1]
            for inp in it:
                owner = inp.owner
                if owner is not None and id(owner) not in seen and id(inp) not in stop_ids:
                    seen.add(id(owner))
                    stack.append((owner, iter(owner.inputs)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def ancestors(outputs: Iterable[Variable], stop: Iterable[Variable] = ()) -> list[Variable]:
    """Every variable that `outputs` depend on, outputs included."""
    outputs = list(outputs)
    result, seen = [], set()
    for v in outputs:
        if id(v) not in seen:
            seen.add(id(v))
            result.append(v)
    for node in toposort(outputs, stop):
        for v in node.inputs + node.outputs:
            if id(v) not in seen:
                seen.add(id(v))
                result.append(v)
    return result


def graph_inputs(outputs: Iterable[Variable], stop: Iterable[Variable] = ()) -> list[Variable]:
    """Ownerless variables (and `stop` variables) that `outputs` depend on."""
    stop_ids = {id(v) for v in stop}
    return [v for v in ancestors(outputs, stop) if v.owner is None or id(v) in stop_ids]


def clone_replace(
    outputs: Sequence[Variable],
    replace: Mapping[Variable, Variable] | None = None,
    copy_inputs: bool = False,
) -> tuple[list[Variable], dict[Variable, Variable]]:
    """Copy the graph of `outputs`, substituting `replace` (old -> new); returns (outputs, memo)."""
    memo: dict[Variable, Variable] = dict(replace or {})
    stop = list(memo)
    for node in toposort(outputs, stop):
        new_inputs = []
        for v in node.inputs:
            if v not in memo:
                memo[v] = v.clone() if (copy_inputs and not isinstance(v, Constant)) else v
            new_inputs.append(memo[v])
        if (
            all(a is b for a, b in zip(new_inputs, node.inputs))
            and not copy_inputs
            and not any(o in memo for o in node.outputs)
        ):
            for o in node.outputs:
                memo.setdefault(o, o)
            continue
        new = node.clone_with_new_inputs(new_inputs, strict=False)
        for old, out in zip(node.outputs, new.outputs):
            memo.setdefault(old, out)
    for v in outputs:
        if v not in memo:
            memo[v] = (
                v.clone()
                if (copy_inputs and v.owner is None and not isinstance(v, Constant))
                else v
            )
    return [memo[v] for v in outputs], memo


def clone(output, replace=None, strict: bool = True, share_inputs: bool = True):
    """A copy of the graph of `output` (a variable or a list) with `replace` substituted.

    Theano's ``theano.clone``: `replace` is a dict or a list of (old, new) pairs; with
    `strict` a replacement must have the type of the variable it replaces; with
    `share_inputs=False` the graph inputs are copied too.
    """
    from symgraph.variable import as_tensor_variable

    pairs = list(replace.items()) if isinstance(replace, Mapping) else list(replace or ())
    memo = {}
    for old, new in pairs:
        new = new if isinstance(new, Variable) else as_tensor_variable(new)
        if strict and new.type != old.type:
            raise TypeError(
                f"clone: the replacement {new}{new.where()} has type {new.type}, but "
                f"{old}{old.where()} has type {old.type} (pass strict=False to allow this)"
            )
        memo[old] = new
    outputs = output if isinstance(output, (list, tuple)) else [output]
    new_outputs, _ = clone_replace(list(outputs), memo, copy_inputs=not share_inputs)
    if isinstance(output, (list, tuple)):
        return type(output)(new_outputs)
    return new_outputs[0]


def is_same_graph(a: Variable, b: Variable, givens: Iterable[tuple[Variable, Variable]] = ()
                  ) -> bool:
    """Structural equality of two expression graphs (same ops, same inputs or equal constants;
    each pair in `givens` counts as the same input)."""
    memo: dict[tuple[int, int], bool] = {(id(x), id(y)): True for x, y in givens}

    def same(x: Variable, y: Variable) -> bool:
        key = (id(x), id(y))
        if key in memo:
            return memo[key]
        if x is y:
            result = True
        elif isinstance(x, Constant) or isinstance(y, Constant):
            result = isinstance(x, Constant) and x.equals(y)
        elif x.owner is None or y.owner is None:
            result = False
        else:
            result = (
                x.owner.op == y.owner.op
                and x.index == y.index
                and len(x.owner.inputs) == len(y.owner.inputs)
                and all(same(p, q) for p, q in zip(x.owner.inputs, y.owner.inputs))
            )
        memo[key] = result
        return result

    return same(a, b)


def equal_computations(xs: Sequence[Variable], ys: Sequence[Variable],
                       in_xs: Sequence[Variable] | None = None,
                       in_ys: Sequence[Variable] | None = None) -> bool:
    """Whether each graph of `xs` computes what the graph of `ys` at its position computes
    (Theano's scan_utils.equal_computations): the same ops on the same inputs or equal
    constants, the variables of `in_xs` standing for those of `in_ys` at the same positions."""
    in_xs, in_ys = list(in_xs or ()), list(in_ys or ())
    if len(xs) != len(ys) or len(in_xs) != len(in_ys):
        return False
    givens = list(zip(in_xs, in_ys))
    return all(x.type == y.type and is_same_graph(x, y, givens) for x, y in zip(xs, ys))
