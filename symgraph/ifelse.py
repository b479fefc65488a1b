"""ifelse: a lazy conditional, only the taken branch is computed (Theano's ``theano.ifelse``).

Design: the IfElse op holds both branches as closed inner graphs over one list of inner
inputs (placeholders for the free variables of both branches, found when the graph is
built). Its outer inputs are the condition and those free variables; `perform` tests the
condition and calls the compiled function of the taken branch only. Backends need no lazy
evaluation protocol: IfElse is an ordinary node whose perform calls one of two compiled
functions. The price: a subexpression used both inside a branch and elsewhere in the graph is
computed twice (the branch takes everything from the graph inputs to its outputs).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from symgraph.graph import Apply, Op, Variable, clone_replace
from symgraph.scan.inner import (
    check_closed,
    compile_inner,
    free_variables,
    infer_inner_shapes,
    placeholder,
)
from symgraph.types import DISCRETE_DTYPES, TensorType
from symgraph.variable import as_tensor_variable, constant

__all__ = ["IfElse", "ifelse"]


def _label(v: Variable) -> str:
    return f"{v.name or v}{v.where()}"


def _merge(a: TensorType, b: TensorType) -> TensorType:
    """The type of a value that may come from either branch."""
    return TensorType(a.dtype, tuple(x if x == y else None for x, y in zip(a.shape, b.shape)))


def _check_condition(cond: Variable) -> None:
    if cond.ndim != 0:
        raise TypeError(
            f"ifelse: the condition {_label(cond)} must be a scalar, but it has "
            f"{cond.ndim} dimensions ({cond.type}); reduce it, e.g. T.any(c), or "
            "use T.switch for an elementwise choice"
        )


@dataclass(frozen=True)
class IfElse(Op):
    """Outputs `then_outputs` if the condition (outer input 0) is nonzero, else `else_outputs`.

    Both are graphs of `inner_inputs`, which receive outer inputs 1, 2, ...
    """

    inner_inputs: tuple[Variable, ...]
    then_outputs: tuple[Variable, ...]
    else_outputs: tuple[Variable, ...]
    mode: Any = None
    name: str | None = None

    def __post_init__(self):
        if len(self.then_outputs) != len(self.else_outputs):
            raise ValueError("IfElse: both branches need the same number of outputs")
        check_closed(self.then_outputs + self.else_outputs, self.inner_inputs, str(self))

    def __str__(self) -> str:
        return f"IfElse{{{self.name}}}" if self.name else "IfElse"

    __repr__ = __str__

    def make_node(self, condition, *inputs) -> Apply:
        cond = as_tensor_variable(condition)
        _check_condition(cond)
        inputs = [as_tensor_variable(x) for x in inputs]
        if len(inputs) != len(self.inner_inputs):
            raise TypeError(
                f"{self} takes {len(self.inner_inputs)} inputs after the condition, "
                f"got {len(inputs)}"
            )
        for x, ph in zip(inputs, self.inner_inputs):
            if x.dtype != ph.dtype or x.ndim != ph.ndim:
                raise TypeError(
                    f"{self}: {_label(x)} of type {x.type} cannot feed the branch "
                    f"input {ph} of type {ph.type}"
                )
        outs = [_merge(a.type, b.type)() for a, b in zip(self.then_outputs, self.else_outputs)]
        return Apply(self, [cond] + inputs, outs)

    def branch(self, taken: bool):
        """The compiled function of one branch (compiled at first use, then kept)."""
        key = "_then" if taken else "_else"
        fn = self.__dict__.get(key)
        if fn is None:
            outs = self.then_outputs if taken else self.else_outputs
            fn = compile_inner(self.inner_inputs, outs, self.mode, borrow=False)
            object.__setattr__(self, key, fn)
        return fn

    def perform(self, node: Apply, inputs: list) -> list:
        if not self.then_outputs:
            return []
        return list(self.branch(bool(np.asarray(inputs[0])))(*inputs[1:]))

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_then", None)
        state.pop("_else", None)
        return state

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        from symgraph.ops.math import cast

        shapes = list(input_shapes[1:])
        then_s = infer_inner_shapes(self.inner_inputs, shapes, self.then_outputs)
        else_s = infer_inner_shapes(self.inner_inputs, shapes, self.else_outputs)
        result = []
        for ts, es in zip(then_s, else_s):
            entries = []
            for a, b in zip(ts, es):
                same = a is b or (
                    not isinstance(a, Variable) and not isinstance(b, Variable) and int(a) == int(b)
                )
                entries.append(
                    a if same else ifelse(node.inputs[0], cast(a, "int64"), cast(b, "int64"))
                )
            result.append(tuple(entries))
        return result

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        """ifelse(cond, gradient of the then branch, gradient of the else branch)."""
        from symgraph.gradient import grad
        from symgraph.ops.math import zeros_like

        wrt = [ph for ph in self.inner_inputs if ph.dtype not in DISCRETE_DTYPES]
        pairs = [
            (k, g)
            for k, (o, g) in enumerate(zip(outputs, output_grads))
            if o.dtype not in DISCRETE_DTYPES and g is not None
        ]
        if not wrt or not pairs:
            return [None] * len(inputs)
        g_phs = [
            placeholder(output_grads[k], outputs[k].type, f"d{outputs[k].name or k}")
            for k, _ in pairs
        ]
        branches = []
        for outs in (self.then_outputs, self.else_outputs):
            known = {}
            for (k, _), g in zip(pairs, g_phs):
                known[outs[k]] = known[outs[k]] + g if outs[k] in known else g
            grads = grad(
                None,
                wrt,
                known_grads=known,
                disconnected_inputs="ignore",
                return_disconnected="None",
            )
            branches.append([zeros_like(w) if g is None else g for w, g in zip(wrt, grads)])
        op = IfElse(
            self.inner_inputs + tuple(g_phs),
            tuple(branches[0]),
            tuple(branches[1]),
            self.mode,
            f"grad_of_{self.name}" if self.name else "grad_of_ifelse",
        )
        gouts = iter(op.make_node(inputs[0], *inputs[1:], *[g for _, g in pairs]).outputs)
        return [None] + [
            next(gouts) if ph.dtype not in DISCRETE_DTYPES else None for ph in self.inner_inputs
        ]


def _as_branch_value(value, other, k: int, which: str) -> Variable:
    """Python numbers take the other branch's dtype when they fit it exactly."""
    if isinstance(value, Variable) or not isinstance(other, Variable):
        return as_tensor_variable(value)
    if isinstance(value, (numbers.Number, np.generic)):
        converted = np.asarray(value, dtype=other.dtype)
        if converted != value:
            raise TypeError(
                f"ifelse: the {which} value {value!r} of output {k} does not fit the "
                f"other branch's dtype {other.dtype}"
            )
        return constant(converted, dtype=other.dtype)
    return as_tensor_variable(value)


def ifelse(condition, then_branch, else_branch, name: str | None = None):
    """`then_branch` if `condition` is nonzero, else `else_branch`; only one is computed.

    Parameters
    ----------
    condition : a scalar (any dtype; nonzero means true).
    then_branch, else_branch : a variable each, or lists of the same length whose entries have
        the same dtype and number of dimensions.
    name : shown in errors and printed graphs.

    Examples
    --------
    >>> import symgraph as sg, symgraph.tensor as T
    >>> from symgraph.ifelse import ifelse
    >>> a, b = T.dscalars("a", "b")
    >>> f = sg.function([a, b], ifelse(T.lt(a, b), a * 2, b * 2))
    >>> float(f(1.0, 5.0))
    2.0
    """
    cond = as_tensor_variable(condition)
    _check_condition(cond)
    is_list = isinstance(then_branch, (list, tuple))
    thens = list(then_branch) if is_list else [then_branch]
    elses = list(else_branch) if isinstance(else_branch, (list, tuple)) else [else_branch]
    if len(thens) != len(elses):
        raise ValueError(
            f"ifelse: the then branch has {len(thens)} outputs but the else branch "
            f"has {len(elses)}; give both the same number"
        )
    pairs = []
    for k, (t, e) in enumerate(zip(thens, elses)):
        t2 = _as_branch_value(t, e, k, "then")
        e2 = _as_branch_value(e, t2, k, "else")
        if t2.dtype != e2.dtype or t2.ndim != e2.ndim:
            raise TypeError(
                f"ifelse: output {k} of the then branch ({_label(t2)}) has type {t2.type}, but "
                f"the else branch's ({_label(e2)}) has type {e2.type}; both branches must have "
                f"the same dtype and number of dimensions (cast one, e.g. "
                f"x.astype('{e2.dtype}'))"
            )
        pairs.append((t2, e2))
    thens, elses = [t for t, _ in pairs], [e for _, e in pairs]
    free = free_variables(thens + elses, [])
    phs = [placeholder(v) for v in free]
    inner, _ = clone_replace(thens + elses, dict(zip(free, phs)))
    op = IfElse(tuple(phs), tuple(inner[: len(thens)]), tuple(inner[len(thens) :]), None, name)
    outs = op.make_node(cond, *free).outputs
    return outs if is_list else outs[0]
