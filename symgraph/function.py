"""function(): check, rebuild, optimize and compile a graph; Function: the callable it returns.

The flow (see DESIGN.md): check inputs and updates -> substitute givens -> collect shared
variables -> FunctionGraph(inputs + shareds, outputs + update values) -> rewrite passes of the
mode -> backend.compile -> Function. A call filters its arguments, runs the program and swaps
the update values into the shared storages.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from typing import Any

from symgraph.compile.mode import Mode, get_mode
from symgraph.fgraph import FunctionGraph
from symgraph.graph import Constant, Variable, clone_replace, graph_inputs, toposort
from symgraph.shared import SharedVariable
from symgraph.variable import as_tensor_variable


class In:
    """A function input with an optional default `value` and keyword `name`."""

    def __init__(
        self,
        variable: Variable,
        name: str | None = None,
        value: Any = None,
        update=None,
        mutable: bool = False,
        strict: bool = False,
        allow_downcast: bool | None = None,
        autoname: bool = True,
        implicit=None,
        borrow: bool = False,
        shared: bool = False,
    ):
        if not isinstance(variable, Variable):
            raise TypeError(f"In() needs a symbolic variable, got {type(variable).__name__}")
        self.variable = variable
        self.name = name if name is not None else (variable.name if autoname else None)
        if update is not None:
            raise NotImplementedError(
                f"In({_describe(variable)}, update=...): inputs that carry state are not "
                "supported; keep the state in a shared variable and pass updates=[(s, new)]"
            )
        self.value = value
        self.update = update
        self.mutable = mutable
        self.strict = strict
        self.allow_downcast = allow_downcast
        self.borrow = borrow


class Out:
    """A function output; with `borrow=True` the returned array may be reused by the next call."""

    def __init__(self, variable: Variable, borrow: bool = False):
        self.variable = variable
        self.borrow = borrow


class UnusedInputError(ValueError):
    """An input of the function does not influence any output or update."""


def _describe(v: Variable) -> str:
    return f"{repr(v.name) if v.name else v}{v.where()}"


def _normalize_updates(updates) -> list[tuple[SharedVariable, Variable]]:
    if updates is None:
        return []
    if isinstance(updates, dict):
        pairs = list(updates.items())
    else:
        pairs = list(updates)
    out, seen = [], set()
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"updates must be (shared_variable, new_value) pairs, got {pair!r}")
        var, expr = pair
        if not isinstance(var, SharedVariable):
            raise TypeError(
                f"update target {var}{getattr(var, 'where', lambda: '')()} is not a shared "
                "variable: only shared variables (symgraph.shared) can be updated"
            )
        if var in seen:
            raise ValueError(f"the shared variable {_describe(var)} is updated twice")
        seen.add(var)
        if not isinstance(expr, Variable):  # a value: made a constant of the variable's type
            from symgraph.variable import constant

            expr = constant(var.type.filter(expr, var=var))
        expr = as_tensor_variable(expr)
        out.append((var, _check_update_type(var, expr)))
    return out


def _check_update_type(var: SharedVariable, expr: Variable) -> Variable:
    if expr.type == var.type:
        return expr
    if (
        expr.dtype != var.dtype
        or expr.ndim != var.ndim
        or any(
            a is not None and b is not None and a != b
            for a, b in zip(var.type.shape, expr.type.shape)
        )
    ):
        hint = ""
        if expr.dtype != var.dtype:
            hint = (
                f" Cast the update with .astype('{var.dtype}') or build it from "
                f"{var.dtype} values (with floatX={var.dtype})."
            )
        raise TypeError(
            f"An update must have the same type as the shared variable it updates: "
            f"{_describe(var)} is {var.type}, but its update {_describe(expr)} is {expr.type}."
            + hint
        )
    from symgraph.ops.shape import specify_shape

    if any(a is not None and b is None for a, b in zip(var.type.shape, expr.type.shape)):
        expr = specify_shape(expr, var.type.shape)
    return expr


def function(
    inputs: Sequence = (),
    outputs=None,
    mode=None,
    updates=None,
    givens=None,
    no_default_updates: bool | Sequence = False,
    accept_inplace: bool = False,
    name: str | None = None,
    rebuild_strict: bool = True,
    allow_input_downcast: bool | None = None,
    profile=None,
    on_unused_input: str | None = None,
    trust_input: bool = False,
) -> Function:
    """Compile a callable that computes `outputs` from `inputs` and applies `updates`.

    Parameters
    ----------
    inputs : list of Variables or In
    outputs : a Variable, a list of them, Out objects, or None
    updates : (shared_variable, new_expression) pairs or a dict; all are computed first and
        then applied together after the outputs (Theano semantics).
    givens : (variable, replacement) pairs substituted into the graph before compiling.
    mode : a Mode or its name ('FAST_RUN', 'FAST_COMPILE', 'DebugMode', ...).

    Examples
    --------
    >>> import symgraph as sg, symgraph.tensor as T
    >>> x, y = T.dscalars("x", "y")
    >>> f = sg.function([x, y], x + y)
    >>> float(f(2, 3))
    5.0
    """
    from symgraph.config import config

    spec = dict(
        inputs=inputs,
        outputs=outputs,
        mode=mode,
        updates=updates,
        givens=givens,
        no_default_updates=no_default_updates,
        name=name,
        allow_input_downcast=allow_input_downcast,
        on_unused_input=on_unused_input,
        trust_input=trust_input,
        profile=profile,
    )
    if not isinstance(inputs, (list, tuple)):
        raise TypeError("function() takes a list of inputs (use [x] for a single input)")
    ins = [i if isinstance(i, In) else In(i) for i in inputs]
    _check_inputs(ins)
    output_keys = None
    if isinstance(outputs, dict):  # Theano: a dict of outputs, returned as a dict
        if not all(isinstance(k, str) for k in outputs):
            raise TypeError(f"function(): the keys of an outputs dict must be strings, got "
                            f"{sorted(map(repr, outputs))}")
        output_keys = sorted(outputs)
        outputs = [outputs[k] for k in output_keys]
    single = outputs is not None and not isinstance(outputs, (list, tuple))
    outs = [] if outputs is None else ([outputs] if single else list(outputs))
    outs = [o if isinstance(o, Out) else Out(o) for o in outs]
    out_vars = [as_tensor_variable(o.variable) for o in outs]
    update_pairs = _normalize_updates(updates)
    update_pairs += _default_updates(
        out_vars + [e for _, e in update_pairs], update_pairs, no_default_updates
    )
    new_values = [e for _, e in update_pairs]
    if givens:
        out_vars, new_values = _apply_givens(givens, out_vars, new_values)
    ins, out_vars, new_values = _cut_at_inputs(ins, out_vars, new_values)
    in_vars = [i.variable for i in ins]
    everything = out_vars + new_values
    _check_used(in_vars, everything, on_unused_input or config.on_unused_input)
    shareds = [v for v in graph_inputs(everything) if isinstance(v, SharedVariable)]
    for var, _ in update_pairs:
        if var not in shareds:
            shareds.append(var)
    shareds = [v for v in shareds if v not in in_vars]
    _check_missing(in_vars, shareds, everything)
    if config.warn_float64 != "ignore":
        _check_float64(in_vars + shareds, everything, config.warn_float64)
    if profile is None and config.profile:
        profile = True
    # output position -> input position of each update: the in-place pass may let an update
    # overwrite its shared variable's buffer (Theano's fgraph.update_mapping)
    position = {v: len(in_vars) + k for k, v in enumerate(shareds)}
    update_mapping = {len(out_vars) + k: position[v] for k, (v, _) in enumerate(update_pairs)}
    the_mode = get_mode(mode)
    the_mode.prepare(everything)
    from symgraph.compile.function_cache import rewritten_graph

    fg, hit, store = rewritten_graph(in_vars + shareds, everything, update_mapping, the_mode, name)
    return Function(
        spec,
        ins,
        outs,
        single,
        shareds,
        [v for v, _ in update_pairs],
        fg,
        the_mode,
        allow_input_downcast,
        trust_input,
        name,
        profile,
        hit,
        store,
        output_keys,
    )


def _check_inputs(ins: list[In]) -> None:
    seen: dict[Variable, int] = {}
    for k, i in enumerate(ins):
        v = i.variable
        if isinstance(v, SharedVariable):
            raise TypeError(
                f"Cannot use the shared variable {_describe(v)} as an explicit input: its value "
                "is implicit. Substitute a non-shared variable with `givens` instead."
            )
        if isinstance(v, Constant):
            raise TypeError(f"input {k} is a constant ({v}); inputs must be symbolic variables")
        if v in seen:
            raise ValueError(
                f"the variable {_describe(v)} is given twice as an input "
                f"(positions {seen[v]} and {k})"
            )
        seen[v] = k


def _cut_at_inputs(ins: list[In], outs: list, new_values: list) -> tuple[list, list, list]:
    """An input computed from other variables cuts the graph there, as in Theano: the function
    takes its value, and what computes it is not part of the function. Each such input is
    replaced by a fresh variable of its type (same name, same line)."""
    cut = {}
    for i in ins:
        v = i.variable
        if v.owner is not None:
            fresh = v.type(name=v.name)
            fresh.trace = v.trace
            cut[v] = fresh
    if not cut:
        return ins, outs, new_values
    ins = list(ins)
    for k, i in enumerate(ins):
        if i.variable in cut:
            ins[k] = copy.copy(i)
            ins[k].variable = cut[i.variable]
    return (ins, *_replaced(outs, new_values, cut))


def _default_updates(exprs, explicit, no_default_updates) -> list:
    if no_default_updates is True:
        return []
    skip = set(no_default_updates or ()) | {v for v, _ in explicit}
    extra = []
    for v in graph_inputs(exprs):
        if isinstance(v, SharedVariable) and v not in skip and v.default_update is not None:
            extra.append((v, _check_update_type(v, as_tensor_variable(v.default_update))))
            skip.add(v)
    return extra


def _apply_givens(givens, outs, new_values):
    pairs = list(givens.items()) if isinstance(givens, dict) else list(givens)
    replace = {}
    for old, new in pairs:
        if not isinstance(old, Variable):
            raise TypeError(f"givens keys must be symbolic variables, got {old!r}")
        new = as_tensor_variable(new)
        if new.dtype != old.dtype or new.ndim != old.ndim:
            raise TypeError(
                f"givens: {_describe(old)} of type {old.type} cannot be replaced by "
                f"{_describe(new)} of type {new.type} (dtype and ndim must match)"
            )
        replace[old] = new
    return _replaced(outs, new_values, replace)


def _replaced(outs: list, new_values: list, replace: dict) -> tuple[list, list]:
    """The outputs and update values with the variables of `replace` substituted."""
    replaced, _ = clone_replace(outs + new_values, replace)
    return replaced[: len(outs)], replaced[len(outs) :]


def _check_used(in_vars, exprs, policy: str) -> None:
    used = set(graph_inputs(exprs))
    for k, v in enumerate(in_vars):
        if v not in used:
            msg = (
                f"symgraph.function was asked to create a function computing outputs given "
                f"certain inputs, but input {k} ({_describe(v)}) is not part of the "
                "computational graph needed to compute the outputs. Pass "
                "on_unused_input='warn' or 'ignore' to allow it."
            )
            if policy == "raise":
                raise UnusedInputError(msg)
            if policy == "warn":
                warnings.warn(msg, stacklevel=3)


def _check_float64(inputs, outputs, action: str) -> None:
    """config.warn_float64: name the first float64 variable of the graph (often a float32
    model upcast by a Python float or a float64 array)."""
    for v in list(inputs) + [o for n in toposort(outputs) for o in n.outputs]:
        if getattr(v, "dtype", None) == "float64":
            made = f" by {v.owner.op}" if v.owner is not None else ""
            msg = f"config.warn_float64: the graph holds the float64 variable {_describe(v)}{made}"
            if action == "raise":
                raise TypeError(msg)
            warnings.warn(msg, stacklevel=3)
            return


def _check_missing(in_vars, shareds, exprs) -> None:
    from symgraph.fgraph import MissingInputError

    known = set(in_vars) | set(shareds)
    for v in graph_inputs(exprs):
        if v not in known and not isinstance(v, Constant):
            raise MissingInputError(v)


class Function:
    """A compiled function: call it with numeric values in the order of its inputs."""

    def __init__(
        self,
        spec,
        ins,
        outs,
        single,
        shareds,
        updated,
        fg,
        mode,
        allow_downcast,
        trust_input,
        name,
        profile,
        from_cache=False,
        store=None,
        output_keys=None,
    ):
        self._spec = spec
        self.name = name
        self.inputs = ins
        self.outputs = outs
        self._single = single
        self._storages = [v.container for v in shareds]
        update_index = {v: k for k, v in enumerate(shareds)}
        self._update_targets = [self._storages[update_index[v]] for v in updated]
        self.maker = FunctionMaker(fg, mode, ins, outs)
        self.from_cache = from_cache  # fg came rewritten from the function cache
        if not from_cache:
            self.maker.optimize()
            if store is not None:
                store(fg)
        self.program = mode.link(fg, name=name, profile=profile)
        self._filters = [
            (
                i.variable.type.filter,
                i.strict,
                i.allow_downcast if i.allow_downcast is not None else allow_downcast,
                i.variable,
            )
            for i in ins
        ]
        self._defaults = [i.value for i in ins]
        self._positions = {i.name: k for k, i in enumerate(ins) if i.name}
        self.profile = getattr(self.program, "profile", None)
        self._copies = self._output_copies(fg)
        self._trust_input = trust_input
        self.output_keys = output_keys  # an outputs dict's sorted keys: calls return a dict
        self._build_call()

    def _output_copies(self, fg: FunctionGraph) -> list[bool]:
        """Per output: whether it is copied before it is returned (see compile/caller.py)."""
        fresh = getattr(self.program, "fresh_outputs", None) or [False] * len(fg.outputs)
        outputs = list(fg.outputs)
        return [
            not (out.borrow or (fresh[k] and outputs.count(outputs[k]) == 1))
            for k, out in enumerate(self.outputs)
        ]

    def _build_call(self) -> None:
        from symgraph.compile.caller import build_caller

        self._call = build_caller(
            self._filters,
            self._storages,
            self._update_targets,
            self._copies,
            self._single,
            self._trust_input,
            # the LLVM driver's generated `run` directly, sparing its __call__ frame
            getattr(self.program, "run", self.program),
            self._bind,
            getattr(self.program, "inline", None),  # the LLVM driver's body, run in place
        )
        keys = self.output_keys
        if keys is not None:
            call = self._call
            self._call = lambda *args, **kwargs: dict(zip(keys, call(*args, **kwargs)))

    @property
    def trust_input(self) -> bool:
        """Skip the input checks (set it after compiling, as in Theano)."""
        return self._trust_input

    @trust_input.setter
    def trust_input(self, value: bool) -> None:
        self._trust_input = bool(value)
        if hasattr(self, "_call"):
            self._build_call()

    # Python finds __call__ on the class and binds it through the descriptor protocol, so a
    # property hands out the generated call directly: one Python frame less per call.
    @property
    def __call__(self):
        return self._call

    def _bind(self, args, kwargs) -> list:
        n = len(self.inputs)
        if len(args) > n:
            raise TypeError(f"function {self.name or ''} takes {n} inputs, got {len(args)}")
        if not kwargs and len(args) == n:
            return list(args)
        values = list(args) + [_MISSING] * (n - len(args))
        for key, value in kwargs.items():
            if key not in self._positions:
                raise TypeError(
                    f"unknown keyword argument {key!r}; inputs: {list(self._positions)}"
                )
            pos = self._positions[key]
            if values[pos] is not _MISSING:
                raise TypeError(f"input {key!r} given both by position and by keyword")
            values[pos] = value
        for k, value in enumerate(values):
            if value is _MISSING:
                if self._defaults[k] is None:
                    v = self.inputs[k].variable
                    raise TypeError(f"missing required input {_describe(v)} (position {k})")
                values[k] = self._defaults[k]
        return values

    def copy(
        self,
        share_memory: bool = False,
        swap: dict | None = None,
        delete_updates: bool = False,
        name: str | None = None,
        profile=None,
    ) -> Function:
        """A new function computing the same thing; `swap` maps shared variables to others."""
        spec = dict(self._spec)
        if name is not None:
            spec["name"] = name
        if delete_updates:
            spec["updates"] = None
            spec["no_default_updates"] = True
            spec["on_unused_input"] = "ignore"  # inputs used only by the updates stay inputs
        if swap:
            for old, new in swap.items():
                if old.type != new.type:
                    raise TypeError(f"swap: {old} ({old.type}) and {new} ({new.type}) differ")
            givens = list(swap.items()) + list(
                (spec.get("givens") or {}).items()
                if isinstance(spec.get("givens"), dict)
                else spec.get("givens") or []
            )
            spec["givens"] = givens
            if spec.get("updates"):
                ups = spec["updates"]
                ups = ups.items() if isinstance(ups, dict) else ups
                spec["updates"] = [(swap.get(k, k), v) for k, v in ups]
        return function(**spec)

    def __getstate__(self):
        return {"spec": self._spec}

    def __setstate__(self, state):
        new = function(**state["spec"])
        self.__dict__.update(new.__dict__)

    def __repr__(self) -> str:
        return f"<symgraph.Function {self.name or ''} backend={self.maker.mode.backend}>"


class _Missing:
    pass


_MISSING = _Missing()


class FunctionMaker:
    """What a Function was built from (Theano's `fn.maker`): its graph, mode and in/outputs."""

    def __init__(self, fgraph: FunctionGraph, mode: Mode, inputs, outputs):
        self.fgraph = fgraph
        self.mode = mode
        self.inputs = inputs
        self.outputs = outputs

    def optimize(self) -> None:
        self.mode.optimize(self.fgraph)
