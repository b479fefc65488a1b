"""The whole-function cache: a function's rewritten graph, on disk, keyed by the graph it was
given, so that compiling the same graph again (in this or a later process) skips the rewrites.

Key: the sha256 (codegen/cache.py ``cache_key``) of a structural token of the graph that
``function`` builds its FunctionGraph from (after givens and default updates): its inputs, then
the shared variables by position (class, type and name, never their values), each node's op
(class and every parameter), variables' types and names, constants by value, the outputs and
the update mapping; plus the mode (backend, passes), every config flag but ``compiledir``, and
the symgraph sources (name, size and mtime of each file, the test Python trusts for bytecode).
An op with an inner graph (scan's loop body: ``inner_inputs`` / ``inner_outputs``) is tokened
by that graph's structure, the same way, and its layout (a frozen dataclass) field by field.
A graph that holds something the token cannot describe faithfully (an op or variable class from
outside symgraph, a parameter that is a Python callable, as in as_op) is never cached.

Value: the rewritten graph as a flat, pickled list of nodes in the order the linker schedules
them (the in-place safety orderings included), whose inputs refer to the function's inputs by
position: ``load`` rebinds them to this call's inputs and shared variables. User traces are
stored as positions in the user's graph, so errors name this process's lines.

Entries live in ``config.compiledir`` beside the kernels and share codegen/cache.py's safety:
per-key lock, atomic rename, a checksum on each read (a corrupt entry is a miss, rebuilt).
"""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
import threading
from collections.abc import Sequence

import numpy as np

from symgraph.config import config
from symgraph.graph import Apply, Constant, Variable, toposort

FORMAT = "1"
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SOURCES: list[str] = []
_VAR_FIELDS = ("type", "owner", "index", "name", "trace", "tag", "auto_name")
_SCALARS = (type(None), bool, int, str, bytes)
# An op whose parameters hold these is keyed by its inner graph's structure (scan's body)
_INNER_GRAPH = frozenset({"inner_inputs", "inner_outputs"})


class Uncacheable(Exception):
    """The graph holds something a key cannot describe faithfully."""


def sources_fingerprint() -> str:
    """Name, size and mtime of every symgraph source file (computed once per process)."""
    if not _SOURCES:
        parts = []
        for root, dirs, files in os.walk(_PACKAGE_DIR):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith((".py", ".c", ".cu", ".h")):
                    st = os.stat(os.path.join(root, name))
                    parts.append(
                        f"{root[len(_PACKAGE_DIR) :]}/{name}:{st.st_size}:{st.st_mtime_ns}"
                    )
        _SOURCES.append("\n".join(parts))
    return _SOURCES[0]


def _symgraph_class(cls: type) -> str:
    module = cls.__module__
    if module != "symgraph" and not module.startswith("symgraph."):
        raise Uncacheable(f"{cls.__qualname__} is defined outside symgraph ({module})")
    return f"{module}.{cls.__qualname__}"


class _Tokens:
    """Tokens of op parameters, memoized per op object for one key."""

    def __init__(self) -> None:
        self.ops: dict[int, str] = {}

    def value(self, x) -> str:
        if isinstance(x, _SCALARS):
            return f"{type(x).__name__}:{x!r}"
        if isinstance(x, float):
            return f"float:{x.hex()}"
        if isinstance(x, (tuple, list)):
            return f"{type(x).__name__}({','.join(map(self.value, x))})"
        if isinstance(x, (frozenset, set)):
            return f"{type(x).__name__}({','.join(sorted(map(self.value, x)))})"
        if isinstance(x, dict):
            items = sorted(f"{self.value(k)}:{self.value(v)}" for k, v in x.items())
            return f"dict({','.join(items)})"
        if isinstance(x, np.dtype):
            if x.fields is not None or x.hasobject:
                raise Uncacheable(f"structured dtype {x}")
            return f"dtype:{x.str}"
        if isinstance(x, (np.ndarray, np.generic)):
            return _data(x)
        if isinstance(x, slice):
            return f"slice({self.value(x.start)},{self.value(x.stop)},{self.value(x.step)})"
        if isinstance(x, type):
            if x.__module__ in ("builtins", "numpy"):
                return f"class:{x.__module__}.{x.__qualname__}"
            return f"class:{_symgraph_class(x)}"
        from symgraph.graph import Op
        from symgraph.ops.composite import Composite
        from symgraph.ops.scalar import SCALAR_OPS, ScalarOp
        from symgraph.types import TensorType

        if isinstance(x, TensorType):
            return f"T({x.dtype},{x.shape})"
        if isinstance(x, Op):
            return self.op(x)
        if type(x) is Composite:  # its meaning is its inner graph (traces name lines only)
            return f"Composite{self.value((x.nin, x.nodes, x.output))}"
        if isinstance(x, ScalarOp) and SCALAR_OPS.get(x.name) is x:  # a registered scalar op
            return f"ScalarOp:{x.name}"
        if dataclasses.is_dataclass(x) and not isinstance(x, type):  # a layout, as ScanInfo
            fields = ",".join(f"{f.name}={self.value(getattr(x, f.name))}"
                              for f in dataclasses.fields(x))
            return f"{_symgraph_class(type(x))}({fields})"
        raise Uncacheable(f"a parameter of type {type(x).__qualname__}: {x!r}"[:200])

    def op(self, op) -> str:
        known = self.ops.get(id(op))
        if known is not None:
            return known
        names = set(getattr(op, "__props__", ()))
        if dataclasses.is_dataclass(op):
            names.update(f.name for f in dataclasses.fields(op))
        names.update(_op_state(op))
        inner = ""
        if _INNER_GRAPH <= names:  # a loop's body: tokened as a graph, like the user's
            names -= _INNER_GRAPH
            lines, _, _ = _graph_lines(op.inner_inputs, op.inner_outputs, self)
            inner = ",graph=[" + ";".join(lines) + "]"
        params = ",".join(f"{n}={self.value(getattr(op, n))}" for n in sorted(names))
        token = self.ops[id(op)] = f"{_symgraph_class(type(op))}({params}{inner})"
        return token


def _op_state(op) -> dict:
    """An op's attributes as it pickles them: an op leaves out what it keeps for this process
    only (Scan its compiled body, IfElse its branches), and so does its key."""
    getstate = getattr(type(op), "__getstate__", None)
    if getstate is not None and getstate is not getattr(object, "__getstate__", None):
        state = getstate(op)
        if isinstance(state, dict):
            return state
    return getattr(op, "__dict__", {})


def _data(x) -> str:
    a = np.asarray(x)
    if a.dtype.hasobject or a.dtype.fields is not None:
        raise Uncacheable(f"constant of dtype {a.dtype}")
    return f"{type(x).__name__}:{a.dtype.str}{a.shape}:{np.ascontiguousarray(a).tobytes().hex()}"


def _variable(v: Variable) -> str:
    from symgraph.types import TensorType

    if not isinstance(v.type, TensorType):
        raise Uncacheable(f"variable of type {type(v.type).__qualname__}")
    return f"{_symgraph_class(type(v))}:{v.type.dtype}{v.type.shape}:{v.name!r}"


def _graph_lines(inputs: Sequence[Variable], outputs: Sequence[Variable], tokens: _Tokens
                 ) -> tuple[list[str], list[Variable], dict[int, int]]:
    """The token lines of the graph from `inputs` to `outputs` (inputs, then each node in
    topological order with its op, argument positions and output types, constants by value,
    then the outputs), the variables in the order they were numbered, and their positions by
    id. Raises Uncacheable when a node reads a variable that is neither an input, a constant
    nor computed in the graph."""
    index: dict[int, int] = {}
    variables: list[Variable] = []
    lines = []

    def add(v: Variable) -> int:
        index[id(v)] = len(variables)
        variables.append(v)
        return index[id(v)]

    for v in inputs:
        lines.append(f"in {add(v)} {_variable(v)}")
    for node in toposort(outputs):
        args = []
        for v in node.inputs:
            k = index.get(id(v))
            if k is None:
                if not isinstance(v, Constant):
                    raise Uncacheable(f"input {v} of {node.op} is not in the graph")
                k = add(v)
                lines.append(f"const {k} {_variable(v)} {_data(v.data)}")
            args.append(str(k))
        outs = " ".join(f"{add(o)}:{_variable(o)}" for o in node.outputs)
        lines.append(f"node {tokens.op(node.op)} ({' '.join(args)}) -> {outs}")
    for v in outputs:
        if id(v) not in index:  # an output that is an input-less constant
            if not isinstance(v, Constant):
                raise Uncacheable(f"output {v} is not in the graph")
            lines.append(f"const {add(v)} {_variable(v)} {_data(v.data)}")
    lines.append(f"outputs {[index[id(v)] for v in outputs]}")
    return lines, variables, index


class UserGraph:
    """The graph given to ``function`` in a canonical order: its key and its variables."""

    def __init__(
        self,
        inputs: Sequence[Variable],
        outputs: Sequence[Variable],
        update_mapping: dict[int, int],
        mode,
    ) -> None:
        from symgraph.compile.mode import Mode
        from symgraph.opt import pipeline

        if type(mode) is not Mode:  # check modes inspect every node: never cached
            raise Uncacheable(f"mode {type(mode).__qualname__}")
        lines, self.variables, self.index = _graph_lines(inputs, outputs, _Tokens())
        lines.append(f"updates {sorted(update_mapping.items())}")
        passes = [
            (n, f"{getattr(f, '__module__', '')}.{getattr(f, '__qualname__', f)}")
            for n, f in pipeline.PIPELINE
        ]
        lines.append(f"mode {mode.backend} {mode.optimizer} {mode.pass_names()} {passes}")
        flags = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
        flags.pop("compiledir")
        lines.append(f"config {sorted(flags.items())}")
        self.source = "\n".join(lines)

    def key(self) -> str:
        from symgraph.codegen.cache import cache_key

        return cache_key(self.source, "function", [f"format:{FORMAT}", sources_fingerprint()])


def user_graph(inputs, outputs, update_mapping, mode) -> UserGraph | None:
    """The canonical user graph, or None when it cannot be cached."""
    if not config.function_cache or config.print_rewrites or config.compute_test_value != "off":
        return None
    try:
        return UserGraph(inputs, outputs, update_mapping, mode)
    except Uncacheable:
        return None


def _cache():
    from symgraph.codegen.cache import DiskCache

    return DiskCache()


# --- the value: the rewritten graph ------------------------------------------------------------


def store(graph: UserGraph, key: str, fg, call_site: str | None, name: str | None) -> bool:
    """Write the rewritten `fg` (whose inputs are the user graph's inputs, in order) under
    `key`; False when it cannot be pickled (then nothing is written)."""
    traces: dict[str, int] = {}
    for k, v in enumerate(graph.variables):
        if v.trace is not None:
            traces.setdefault(v.trace, k)
    refs: dict[int, tuple] = {id(v): ("i", k) for k, v in enumerate(fg.inputs)}
    constants: list = []

    def ref(v: Variable) -> tuple:
        found = refs.get(id(v))
        if found is None:
            if not isinstance(v, Constant):
                raise Uncacheable(f"{v} is used before it is computed")
            found = refs[id(v)] = ("k", len(constants))
            constants.append(_var_state(v, traces, call_site))
        return found

    nodes = []
    try:
        for n, node in enumerate(fg.toposort()):
            ins = [ref(v) for v in node.inputs]
            outs = []
            for k, o in enumerate(node.outputs):
                refs[id(o)] = ("n", n, k)
                outs.append(_var_state(o, traces, call_site))
            nodes.append((node.op, ins, outs))
        outputs = [ref(v) for v in fg.outputs]
        value = {
            "nodes": nodes,
            "constants": constants,
            "outputs": outputs,
            "update_mapping": dict(getattr(fg, "update_mapping", None) or {}),
            "rewrites": getattr(fg, "rewrites", {}),
        }
        buffer = io.BytesIO()
        _Pickler(buffer, lambda t: _where(t, traces, call_site)).dump(value)
    except (Uncacheable, pickle.PicklingError, TypeError, AttributeError, RecursionError):
        return False
    data = buffer.getvalue()
    _cache().put_bytes(key, data, meta={"function": name or ""})
    return True


def _where(trace: str | None, traces: dict[str, int], call_site: str | None) -> tuple:
    """A user trace as the position of a user-graph variable made there, or the function
    call's line, so that a later process names its own lines."""
    if trace is not None and trace in traces:
        return ("u", traces[trace])
    if trace is not None and trace == call_site:
        return ("c", None)
    return ("s", trace)


def _trace(where: tuple, user: list[Variable], call_site: str | None) -> str | None:
    kind, arg = where
    return user[arg].trace if kind == "u" else call_site if kind == "c" else arg


class _Pickler(pickle.Pickler):
    """Pickles fused ops with their traces as user-graph positions (see `_where`)."""

    def __init__(self, file, where) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.where = where
        from symgraph.ops.composite import Composite

        self.composite = Composite

    def reducer_override(self, obj):
        if type(obj) is self.composite:
            traces = tuple(self.where(t) for t in obj.traces)
            return _composite, (obj.nin, obj.nodes, obj.output, traces)
        return NotImplemented


_LOADING = threading.local()  # (user variables, call site) of the entry being unpickled


def _composite(nin, nodes, output, wheres):
    from symgraph.ops.composite import Composite

    user, call_site = _LOADING.context
    return Composite(nin, nodes, output, tuple(_trace(w, user, call_site) for w in wheres))


def _var_state(v: Variable, traces: dict[str, int], call_site: str | None) -> tuple:
    """What rebuilds `v`: class, attributes, trace (as a user-graph position when it can)."""
    attrs = {k: x for k, x in vars(v).items() if k not in _VAR_FIELDS}
    tag = vars(v.tag) if getattr(v, "tag", None) is not None else {}
    return (type(v), v.type, v.name, attrs, _where(v.trace, traces, call_site), dict(tag))


def load(graph: UserGraph, key: str, inputs: Sequence[Variable], call_site: str | None):
    """The cached rewritten FunctionGraph over clones of `inputs` (as FunctionGraph makes),
    or None on a miss (or an entry that cannot be read: it is rebuilt)."""
    data = _cache().get_bytes(key)
    if data is None:
        return None
    _LOADING.context = (graph.variables, call_site)
    try:
        value = pickle.loads(data)
        return _rebuild(value, graph, inputs, call_site)
    except Exception:  # an entry this build cannot read: a miss, overwritten by the store
        return None
    finally:
        _LOADING.context = None


def _rebuild(value: dict, graph: UserGraph, inputs: Sequence[Variable], call_site):
    from types import SimpleNamespace

    from symgraph.fgraph import FunctionGraph

    user = graph.variables

    def make(state, owner=None, index=None) -> Variable:
        cls, vtype, name, attrs, where, tag = state
        v = cls.__new__(cls)
        trace = _trace(where, user, call_site)
        v.__dict__.update(attrs)
        v.__dict__.update(
            type=vtype,
            owner=owner,
            index=index,
            name=name,
            trace=trace,
            tag=SimpleNamespace(**tag),
            auto_name=f"cached_{id(v):x}",
        )
        return v

    fg_inputs = [v.clone() for v in inputs]
    constants = []
    for state in value["constants"]:
        c = make(state)
        constants.append(c)
    nodes: list[Apply] = []

    def get(ref) -> Variable:
        if ref[0] == "i":
            return fg_inputs[ref[1]]
        if ref[0] == "k":
            return constants[ref[1]]
        return nodes[ref[1]].outputs[ref[2]]

    for op, ins, outs in value["nodes"]:
        node = Apply.__new__(Apply)
        node.op, node.inputs = op, [get(r) for r in ins]
        node.outputs = [make(s, node, k) for k, s in enumerate(outs)]
        nodes.append(node)
    fg = FunctionGraph(fg_inputs, [get(r) for r in value["outputs"]], clone=False)
    fg.update_mapping = value["update_mapping"]
    fg.rewrites = value["rewrites"]
    fg._order = [n for n in nodes if n in fg.apply_nodes]  # the stored (in-place safe) order
    return fg


def rewritten_graph(inputs, outputs, update_mapping, mode, name):
    """(fg, hit, store): the rewritten graph from the function cache (hit True), or the
    FunctionGraph to rewrite and `store(fg)` that caches it afterwards (None: uncacheable)."""
    from symgraph.fgraph import FunctionGraph
    from symgraph.graph import user_trace

    graph = user_graph(inputs, outputs, update_mapping, mode)
    if graph is not None:
        key, call_site = graph.key(), user_trace()
        fg = load(graph, key, inputs, call_site)
        if fg is not None:
            return fg, True, None
    fg = FunctionGraph(inputs, outputs)
    fg.update_mapping = update_mapping
    if graph is None:
        return fg, False, None
    return fg, False, lambda done: store(graph, key, done, call_site, name)
