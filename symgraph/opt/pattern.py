"""The pattern DSL: P(op, *args), var, const, many, and Rules (a named table of rewrites).

A rewrite is one line of data, a pattern and a replacement::

    x = var("x")
    RULES = Rules("canonicalize", [
        (P(s.mul, [x, const(1)]), lambda x: x),      # x*1 -> x; a list = any order
        (P(s.neg, P(s.neg, x)), lambda x: x),         # -(-x) -> x
    ])

The first argument of P says which nodes match: a scalar op (``s.log``: an Elemwise of it), an
Op class (``DimShuffle``: any instance), an Op instance (equality), ``"module:Class"`` (a
class imported when the rules are first used; rules naming a missing module stay inactive),
or a tuple of these. Arguments are sub-patterns: a tuple of them matches the inputs in order,
one list matches them in any order (commutative ops), and ``many("rest")`` in a list takes
the remaining inputs (of a variadic op) combined by the same op. ``var`` captures a variable;
a name used twice must bind the same variable (``x - x``). ``const(1)`` matches a constant
whose every element is 1, also when broadcast by DimShuffle. ``P(..., name="n")`` binds the
matched variable itself. The replacement receives the captures it names as keyword arguments
(and ``fg`` if it asks for it) and returns the new variable, or None when the rule does not
apply after all, or a dict {old: new} to replace several variables of the graph at once.
"""

from __future__ import annotations

import importlib
import inspect
import linecache
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symgraph.graph import Constant, Op, Variable
from symgraph.ops.elemwise import DimShuffle, Elemwise
from symgraph.ops.scalar import ScalarOp

ANY = object()  # const(): any constant value


@dataclass(frozen=True)
class Var:
    """Capture any variable under `name`."""

    name: str


@dataclass(frozen=True)
class Const:
    """A constant (after broadcasting) whose elements all equal `value` (ANY: any constant)."""

    value: Any = ANY
    name: str | None = None


@dataclass(frozen=True)
class Many:
    """In a commutative list: the remaining inputs (one or more), combined by the same op."""

    name: str


def var(name: str) -> Var:
    return Var(name)


def const(value: Any = ANY, name: str | None = None) -> Const:
    return Const(value, name)


def many(name: str) -> Many:
    return Many(name)


class P:
    """A node pattern: `spec` says which ops match, `args` the inputs (see the module doc)."""

    def __init__(
        self,
        spec: Any,
        *args: Any,
        name: str | None = None,
        where: Callable[[Op], bool] | None = None,
    ):
        self.spec = spec
        self.commutative = len(args) == 1 and isinstance(args[0], list)
        self.args = tuple(args[0]) if self.commutative else args
        self.any_inputs = not args
        self.name = name
        self.where = where
        self.indexed_exactly = False
        self.fixed = tuple(a for a in self.args if not isinstance(a, Many))
        names = [a.name for a in self.args if isinstance(a, (Var, Const)) and a.name]
        self.flat = (not self.commutative and len(set(names)) == len(names) and name not in names
                     and all(isinstance(a, (Var, Const)) for a in self.args))
        self.has_rest = len(self.fixed) != len(self.args)
        if sum(isinstance(a, Many) for a in self.args) > (1 if self.commutative else 0):
            raise ValueError("many() may appear once, inside a commutative list")

    def __repr__(self) -> str:
        inner = ", ".join(map(repr, self.args))
        return f"P({_spec_name(self.spec)}, {'[' + inner + ']' if self.commutative else inner})"


def _spec_name(spec: Any) -> str:
    if isinstance(spec, type):
        return spec.__name__
    return str(spec)


# --- op specs ----------------------------------------------------------------------------------


class Missing:
    """An op class that could not be imported (its module is not written yet)."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = path, reason


def resolve(spec: Any) -> Any:
    """Lazy specs ("module:Class") to classes; a Missing marker when the import fails."""
    if isinstance(spec, tuple):
        return tuple(resolve(s) for s in spec)
    if isinstance(spec, str):
        module, _, attr = spec.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            return Missing(spec, str(exc))
    return spec


def op_matches(spec: Any, op: Op) -> bool:
    """Whether `op` is described by the (resolved) spec."""
    if isinstance(spec, ScalarOp):
        return isinstance(op, Elemwise) and (op.scalar_op is spec or op.scalar_op == spec)
    if isinstance(spec, type):
        return isinstance(op, spec)
    if isinstance(spec, tuple):
        return any(op_matches(s, op) for s in spec)
    if isinstance(spec, Missing):
        return False
    return op == spec


def index_keys(spec: Any) -> list:
    """The engine's index keys for a resolved spec: ('elemwise', name) or an Op class."""
    if isinstance(spec, ScalarOp):
        return [("elemwise", spec.name)]
    if isinstance(spec, type):
        return [spec]
    if isinstance(spec, tuple):
        return [k for s in spec for k in index_keys(s)]
    if isinstance(spec, Missing):
        return []
    return [type(spec)]


def missing_specs(pattern: Any) -> list[Missing]:
    """The Missing op classes a (resolved) pattern refers to."""
    if not isinstance(pattern, P):
        return []
    specs = pattern.spec if isinstance(pattern.spec, tuple) else (pattern.spec,)
    own = (
        [s for s in specs if isinstance(s, Missing)]
        if all(isinstance(s, Missing) for s in specs)
        else []
    )
    return own + [m for a in pattern.args for m in missing_specs(a)]


def resolve_pattern(pattern: Any) -> Any:
    if not isinstance(pattern, P):
        return pattern
    new = P.__new__(P)
    new.__dict__.update(pattern.__dict__)
    new.spec = resolve(pattern.spec)
    new.args = tuple(resolve_pattern(a) for a in pattern.args)
    new.fixed = tuple(a for a in new.args if not isinstance(a, Many))
    specs = new.spec if isinstance(new.spec, tuple) else (new.spec,)
    # the engine's index keys say exactly which ops these specs match (not so for instances)
    new.indexed_exactly = all(isinstance(s, (ScalarOp, type)) for s in specs)
    return new


# --- constants ---------------------------------------------------------------------------------


def constant_data(v: Variable) -> np.ndarray | None:
    """The data of a constant seen through DimShuffles (a broadcast constant), else None."""
    while v.owner is not None and isinstance(v.owner.op, DimShuffle):
        v = v.owner.inputs[0]
    return np.asarray(v.data) if isinstance(v, Constant) else None


def scalar_value(v: Variable) -> Any:
    """The one value of a constant whose elements are all equal (seen through DimShuffles)."""
    data = constant_data(v)
    if data is None or data.size == 0:
        return None
    first = data.flat[0]
    if data.size > 1 and not np.all(data == first):
        return None
    return first.item()


def _const_matches(pat: Const, v: Variable) -> bool:
    data = constant_data(v)
    if data is None:
        return False
    if pat.value is ANY:
        return True
    return data.size > 0 and bool(np.all(data == pat.value))


# --- matching ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rest:
    """The inputs bound by many(): combined by `op` when the replacement asks for them."""

    inputs: tuple[Variable, ...]
    op: Op

    def variable(self) -> Variable:
        return self.inputs[0] if len(self.inputs) == 1 else self.op(*self.inputs)


def match(pattern: Any, v: Variable, root_checked: bool = False) -> dict | None:
    """The captures of the first way `pattern` matches `v`, or None.

    `root_checked`: the caller (the engine's index) knows v's op is of the root spec's kind.
    """
    if not isinstance(pattern, P):
        return next(_match(pattern, v, {}), None)
    if not _viable(pattern, v, root_checked):
        return None  # the common case, decided without the backtracking machinery
    if pattern.flat:  # inputs are captures and constants only: no search needed
        out = {pattern.name: v} if pattern.name else {}
        for pat, inp in zip(pattern.args, v.owner.inputs):
            if isinstance(pat, Var):
                out[pat.name] = inp
            elif pat.name:
                out[pat.name] = inp
        return out
    return next(_match(pattern, v, {}), None)


def _viable(pat: P, v: Variable, root_checked: bool = False) -> bool:
    """Cheap necessary conditions for `pat` to match `v`: its op and its direct inputs."""
    node = v.owner
    if node is None:
        return False
    if not (root_checked and pat.indexed_exactly) and not op_matches(pat.spec, node.op):
        return False
    if pat.where is not None and not pat.where(node.op):
        return False
    if pat.any_inputs:
        return True
    inputs = node.inputs
    if not pat.commutative:
        return len(pat.args) == len(inputs) and all(map(_shallow, pat.args, inputs))
    fixed = pat.fixed
    if (len(inputs) <= len(fixed)) if pat.has_rest else (len(inputs) != len(fixed)):
        return False
    return all(any(_shallow(p, i) for i in inputs) for p in fixed)


def _shallow(pat: Any, v: Variable) -> bool:
    if isinstance(pat, P):
        return v.owner is not None and op_matches(pat.spec, v.owner.op)
    if isinstance(pat, Const):
        return _const_matches(pat, v)
    return True


def _bind(name: str, v: Any, b: dict) -> Iterator[dict]:
    old = b.get(name)
    if old is None:
        yield {**b, name: v}
    elif old is v:
        yield b


def _match(pat: Any, v: Variable, b: dict) -> Iterator[dict]:
    if isinstance(pat, Var):
        yield from _bind(pat.name, v, b)
    elif isinstance(pat, Const):
        if _const_matches(pat, v):
            yield from (_bind(pat.name, v, b) if pat.name else [b])
    elif isinstance(pat, P):
        node = v.owner
        if node is None or not op_matches(pat.spec, node.op):
            return
        if pat.where is not None and not pat.where(node.op):
            return
        for b2 in _bind(pat.name, v, b) if pat.name else [b]:
            if pat.any_inputs:
                yield b2
            elif pat.commutative:
                yield from _match_any_order(pat.args, list(node.inputs), node.op, b2)
            elif len(pat.args) == len(node.inputs):
                yield from _match_in_order(pat.args, node.inputs, b2)
    else:
        raise TypeError(f"not a pattern: {pat!r}")


def _match_in_order(pats: Sequence, inputs: Sequence[Variable], b: dict) -> Iterator[dict]:
    if not pats:
        yield b
        return
    for b2 in _match(pats[0], inputs[0], b):
        yield from _match_in_order(pats[1:], inputs[1:], b2)


def _match_any_order(pats: Sequence, inputs: list, op: Op, b: dict) -> Iterator[dict]:
    fixed = [p for p in pats if not isinstance(p, Many)]
    rest = next((p for p in pats if isinstance(p, Many)), None)
    if (len(inputs) != len(fixed)) if rest is None else (len(inputs) <= len(fixed)):
        return
    yield from _assign(fixed, inputs, [False] * len(inputs), rest, op, b)


def _assign(
    pats: Sequence, inputs: list, used: list, rest: Many | None, op: Op, b: dict
) -> Iterator[dict]:
    if not pats:
        if rest is None:
            yield b
        else:
            left = tuple(v for v, u in zip(inputs, used) if not u)
            yield from _bind(rest.name, Rest(left, op), b)
        return
    for k, v in enumerate(inputs):
        if used[k]:
            continue
        used[k] = True
        for b2 in _match(pats[0], v, b):
            yield from _assign(pats[1:], inputs, used, rest, op, b2)
        used[k] = False


# --- rule tables -------------------------------------------------------------------------------


@dataclass
class Rule:
    """One rewrite: where it is (pass, name), its pattern and its replacement function."""

    pattern: P
    fn: Callable[..., Variable | dict | None]
    name: str
    params: frozenset[str] = field(default_factory=frozenset)

    def apply(self, captures: dict, fg: Any) -> Variable | dict | None:
        kwargs = {
            k: (v.variable() if isinstance(v, Rest) else v)
            for k, v in captures.items()
            if k in self.params
        }
        if "fg" in self.params:
            kwargs["fg"] = fg
        return self.fn(**kwargs)


def _source_comment(fn: Callable) -> str | None:
    """The '# identity' comment on the line of a rule's lambda: the rule's readable name."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    line = linecache.getline(code.co_filename, code.co_firstlineno)
    _, sep, comment = line.partition("  # ")
    return comment.strip() or None if sep else None


def _parameters(fn: Callable) -> frozenset[str]:
    """The parameter names of a replacement function. Read from its code object: a table's
    first use resolves every rule, and inspect.signature made that a visible part of a warm
    compile (~0.1 ms a rule)."""
    code = getattr(fn, "__code__", None)
    if code is None or not isinstance(code, types.CodeType):
        return frozenset(inspect.signature(fn).parameters)
    count = code.co_argcount + code.co_kwonlyargcount
    for flag in (inspect.CO_VARARGS, inspect.CO_VARKEYWORDS):
        count += bool(code.co_flags & flag)
    return frozenset(code.co_varnames[:count])


class Rules:
    """A named table of (pattern, replacement[, name]) rewrites, resolved on first use."""

    def __init__(self, name: str, table: Sequence[tuple]):
        self.name = name
        self._table = list(table)
        self._rules: list[Rule] | None = None
        self.inactive: dict[str, str] = {}  # rule name -> why (an op class that is missing)

    def __add__(self, other: Rules) -> Rules:
        return Rules(f"{self.name}+{other.name}", self._table + other._table)

    @property
    def rules(self) -> list[Rule]:
        if self._rules is None:
            self._rules = []
            for k, entry in enumerate(self._table):
                pattern, fn = entry[0], entry[1]
                name = entry[2] if len(entry) > 2 else (_source_comment(fn) or f"{self.name}[{k}]")
                pattern = resolve_pattern(pattern)
                missing = missing_specs(pattern)
                if missing:
                    self.inactive[name] = "; ".join(f"{m.path}: {m.reason}" for m in missing)
                    continue
                params = _parameters(fn)
                self._rules.append(Rule(pattern, fn, name, params))
        return self._rules

    def names(self) -> list[str]:
        return [r.name for r in self.rules]

    def __len__(self) -> int:
        return len(self._table)

    def __repr__(self) -> str:
        return f"Rules({self.name!r}, {len(self._table)} rules)"
