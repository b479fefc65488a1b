"""The per-function driver of the native backend: schedule, storage plan, generated Python.

Each node of the optimized FunctionGraph, in topological order, becomes one step:

- a native kernel (Elemwise / Composite / CAReduce, codegen/kernel.py + codegen/llvm.py);
- a view (DimShuffle: numpy transpose and indexing, no copy);
- a BLAS call (codegen/blas_calls.py, when the op is known there);
- or a fallback to the op's numpy ``perform`` (counted in ``program.fallback_nodes``).

The driver is Python source generated once per function (``program.source``), one short block
per step and no dispatch at call time. A kernel step first tries the fast path: the output
buffer of the previous call, if nobody else holds it (its reference count shows only ours),
and the kernel's entry point, which runs when every operand is a plain ndarray of the right
dtype and shape. Anything else (first call, new shapes, odd layouts, work large enough for
threads, errors) goes to the step's general path in codegen/program_steps.py.

Buffers: each step owns its output buffers and reuses them while no one else references them,
so intermediates are written into touched memory, and a returned array is never overwritten
while the caller still holds it (Function copies outputs, or keeps them with borrow=True).
"""

from __future__ import annotations

import functools
import importlib.util
import marshal
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from symgraph.codegen import llvm_abi
from symgraph.codegen.kernel import NotLowerable, lower_careduce, lower_elemwise, lower_fused_reduce
from symgraph.codegen.program_steps import (
    PARALLEL_MIN_WITH_BLAS,
    ElemwiseStep,
    ReduceStep,
    compile_steps,
    dimshuffle_expression,
    dimshuffle_view,
    free_buffer_lines,
)
from symgraph.codegen.python import node_error, perform_function
from symgraph.fgraph import FunctionGraph
from symgraph.graph import Apply, Constant, Variable
from symgraph.ops.elemwise import DimShuffle, Elemwise
from symgraph.ops.reduce import CAReduce
from symgraph.ops.shape import Shape_i


def driver_code(source: str, filename: str):
    """The code object of a driver's Python source, cached on disk as marshal data (keyed by
    the source and the interpreter's bytecode version): compiling the ~10 KB driver of an MLP
    step took ~4 ms of a warm start, loading it well under one."""
    from symgraph.codegen.cache import DiskCache, cache_key

    key = cache_key(source + filename, "python-driver",
                    versions={"bytecode": importlib.util.MAGIC_NUMBER.hex()})
    data, _ = DiskCache().get_or_build_bytes(
        key, lambda: marshal.dumps(compile(source, filename, "exec")), meta={"kernel": filename})
    return marshal.loads(data)


class Emit:
    """What a step contributes to the driver: source lines and the globals they name."""

    def __init__(self, scope: str) -> None:
        self.scope = scope  # prefixes the step's global names: unique in the driver
        self.lines: list[str] = []
        self.globals: dict[str, Any] = {}
        self.uses: list[Variable] | None = None  # the node inputs read; None: all of them
        self.step: Any = None  # a kernel step (for stats and dumps)
        # the outputs are arrays of the step's own buffers, never handed out twice while
        # referenced elsewhere (so Function need not copy them)
        self.fresh = False
        self.blas = False  # the step calls BLAS (whose threads spin after each call)
        self.split: str | None = None  # the global holding the step's one-slice bound

    def name(self, prefix: str, value: Any) -> str:
        key = f"{self.scope}{prefix}{len(self.globals)}"
        self.globals[key] = value
        return key

    def python_call(self, call: Callable, node: Apply, ins: list[str], outs: list[str],
                    fresh: bool, blas: bool = False) -> bool:
        """A step that is one Python call `outs[0] = call(*ins)`; errors name the node.
        `fresh`: the result is an array of the call's own, never handed out twice; `blas`:
        the call runs BLAS."""
        fn, apply = self.name("X", call), self.name("N", node)
        self.fresh, self.blas = fresh, blas
        args = ", ".join(ins)
        self.lines += [
            "try:",
            f"    {outs[0]} = {fn}({args})",
            "except Exception as exc:",
            f"    raise node_error({apply}, exc, [{args}]) from exc",
        ]
        return True


class EntryOf:
    """A driver global that is a kernel step's entry point: known once the program's kernels
    are compiled, all together (compile_steps builds them on several threads)."""

    def __init__(self, step) -> None:
        self.step = step


@functools.singledispatch
def lower(op, node: Apply, ins: list[str], outs: list[str], emit: Emit) -> bool:
    """Emit the native step of `node`; False: no lowering (the program falls back)."""
    return False


@lower.register
def _(op: Elemwise, node, ins, outs, emit) -> bool:
    kernel, arrays = lower_elemwise(node)
    return _elemwise(node, kernel, arrays, ins, outs, emit)


def _elemwise(node: Apply, kernel, arrays: list[int], ins, outs, emit) -> bool:
    step = emit.step = ElemwiseStep(node, kernel, arrays)
    args = [ins[i] for i in arrays]
    fast, general = emit.name("K", EntryOf(step)), emit.name("G", step.general)
    inplace = step.inplace_input
    split = emit.name("M", None)  # set by LLVMProgram once the step's parallel_min is final
    emit.split = split
    if inplace is not None:  # the output is written into input `inplace`
        target = ins[inplace]
        call = ", ".join(args + [target])
        emit.lines += [
            f"c = {fast}({call})",
            f"if c == 3 and {target}.size < {split}:",  # big, but one slice all the same
            f"    c = {fast}({call}, 0, 1)",
            "if not c:",
            f"    {outs[0]} = {target}",
            "else:",
            f"    {outs[0]} = {general}({', '.join(args)})",
        ]
        emit.uses = [node.inputs[i] for i in arrays]
        return True
    emit.fresh = True
    bufs = emit.name("B", step.buffers)
    if len(outs) == 1:
        emit.lines += _one_buffer_call(bufs, fast, general, args, outs[0], split)
    else:
        free = " and ".join(f"getrefcount({bufs}[{k}]) == 2" for k in range(len(outs)))
        call_args = ", ".join(args + [f"{bufs}[{k}]" for k in range(len(outs))])
        emit.lines += [
            f"if {free} and not {fast}({call_args}):",
            f"    {', '.join(outs)} = {bufs}[:{len(outs)}]",
            "else:",
            f"    {', '.join(outs)} = {general}({', '.join(args)})",
        ]
    emit.uses = [node.inputs[i] for i in arrays]
    return True


def _one_buffer_call(bufs: str, fast: str, general: str, args: list[str], out: str,
                     split: str | None = None) -> list[str]:
    """The fast path of a one-output kernel step: the current buffer, or its spare when the
    caller still holds the current one (a result kept across calls: the two alternate), and
    the kernel's entry point; the general path otherwise. With `split` (elementwise kernels),
    work that the entry would split (code 3) but that is under `split` elements runs as one
    slice here rather than through the general path."""
    call = ", ".join(args + ["o"])
    lines = free_buffer_lines(bufs)
    if split is None:
        lines.append(f"if o is not None and not {fast}({call}):")
    else:
        lines += [
            "c = 1",
            "if o is not None:",
            f"    c = {fast}({call})",
            f"    if c == 3 and o.size < {split}:",
            f"        c = {fast}({call}, 0, 1)",
            "if not c:",
        ]
    return lines + [
        f"    {out} = o",
        "else:",
        "    o = None",  # so that the general path sees the buffers free
        f"    {out} = {general}({', '.join(args)})",
    ]


@lower.register
def _(op: CAReduce, node, ins, outs, emit) -> bool:
    kernel = lower_careduce(node)
    if kernel.kind == "elemwise":  # no axes: a cast
        return _elemwise(node, kernel, [0], ins, outs, emit)
    return _reduce(node, kernel, [0], ins, outs, emit)


def _reduce(node: Apply, kernel, arrays: list[int], ins, outs, emit) -> bool:
    step = emit.step = ReduceStep(node, kernel, arrays)
    emit.fresh = True
    fast, general = emit.name("K", EntryOf(step)), emit.name("G", step.general)
    bufs = emit.name("B", step.buffers)
    emit.lines += _one_buffer_call(bufs, fast, general, [ins[i] for i in arrays], outs[0])
    emit.uses = [node.inputs[i] for i in arrays]
    return True


def _fused_reduce_lowering() -> None:
    """FusedReduce (a Composite folded by a CAReduce, made by fusion) as one reduce kernel."""
    try:
        from symgraph.ops.composite import FusedReduce
    except ImportError:
        return

    @lower.register(FusedReduce)
    def _(op, node, ins, outs, emit) -> bool:
        kernel, arrays = lower_fused_reduce(node)
        return _reduce(node, kernel, arrays, ins, outs, emit)


_fused_reduce_lowering()


@lower.register
def _(op: DimShuffle, node, ins, outs, emit) -> bool:
    expression = dimshuffle_expression(op, ins[0])
    if expression is None:
        expression = f"{emit.name('D', dimshuffle_view(op))}({ins[0]})"
    emit.lines.append(f"{outs[0]} = {expression}")
    return True


class _Sizes(dict):
    """Read-only 0-d int64 arrays by value, made on first use: a Shape_i step's result is a
    dict lookup (~0.05 us) where np.asarray took ~0.3 us hot and ~9 us in an MLP step, whose
    GEMMs leave numpy's array-making code out of cache. Read-only, so that no consumer alters
    the shared array (the driver copies a non-fresh output before handing it out)."""

    LIMIT = 4096  # distinct sizes kept (a program fed ever new shapes starts over)

    def __missing__(self, n: int) -> np.ndarray:
        if len(self) >= self.LIMIT:
            self.clear()
        size = np.array(n, dtype=np.int64)
        size.flags.writeable = False
        self[n] = size
        return size


_SIZES = _Sizes()


@lower.register
def _(op: Shape_i, node, ins, outs, emit) -> bool:
    # every value the driver holds has a .shape (arrays, or numpy scalars of rank 0)
    sizes = emit.name("S", _SIZES)
    emit.lines.append(f"{outs[0]} = {sizes}[{ins[0]}.shape[{op.i}]]")
    emit.uses = list(node.inputs)
    return True


def _blas_lowering() -> None:
    """Register the BLAS steps of codegen/blas_calls.py, if it knows this build's ops."""
    try:
        from symgraph.codegen import blas_calls
    except ImportError:
        return
    blas_calls.register(lower, Emit)


_blas_lowering()


def _conv_lowering() -> None:
    """Register the conv / pool steps of codegen/conv_calls.py (buffers reused across calls)."""
    from symgraph.codegen import conv_calls

    conv_calls.register(lower, Emit)


_conv_lowering()


def _ahead(fg: FunctionGraph) -> Callable[[], None] | None:
    """What some ops would compile at their first run (a scan's inner function, through
    their `compile_ahead`), as one call, run while this program's kernels build: its
    rewrites and rendering, in Python, then overlap LLVM's work, which releases the GIL. A
    failure there is dropped: the op's first run compiles again and raises it in the
    user's call."""
    hooks = [node.op.compile_ahead for node in fg.apply_nodes if hasattr(node.op, "compile_ahead")]
    if not hooks:
        return None

    def run() -> None:
        for hook in hooks:
            try:
                hook()
            except Exception:  # noqa: BLE001 (raised again at the op's first run)
                pass

    return run


class LLVMProgram:
    """The compiled function: ``program(list_of_input_values) -> list_of_outputs``."""

    def __init__(self, fg: FunctionGraph, name: str | None = None, profile=None):
        self.fgraph = fg
        self.name = name
        self.profile = profile
        names: dict[Variable, str] = {}
        namespace: dict[str, Any] = {
            "getrefcount": sys.getrefcount,
            "node_error": node_error,
            "np": np,
        }
        body: list[str] = []
        self.fallbacks: list[Apply] = []
        self.steps: list[tuple[Apply, str]] = []
        self.kernel_steps: list = []
        fresh: set[Variable] = set()
        calls_blas = False
        splits: list[tuple[str, Any]] = []  # (global, step): elementwise one-slice bounds

        def ref(v: Variable) -> str:
            if v not in names:
                if not isinstance(v, Constant):
                    raise ValueError(f"{v} is used before it is computed")
                names[v] = f"c{len(names)}"
                namespace[names[v]] = v.data
            return names[v]

        for k, v in enumerate(fg.inputs):
            names[v] = f"v{k}"
        planned = []
        for node in fg.toposort():
            ins = [ref(v) for v in node.inputs]
            outs = []
            for v in node.outputs:
                names[v] = f"v{len(names)}"
                outs.append(names[v])
            scope = f"s{len(planned)}_"
            emit = Emit(scope)
            try:
                native = lower(node.op, node, ins, outs, emit)
            except NotLowerable:
                native = False
            if not native:
                emit = Emit(scope)
                self._fallback(node, ins, outs, emit)
            planned.append((node, native, emit, ins, outs))
        # The kernels are compiled all at once (on threads); one the renderer cannot express
        # leaves its node to numpy.
        steps = [e.step for _, _, e, _, _ in planned if e.step is not None]
        failed = compile_steps(steps, meanwhile=_ahead(fg))
        for k, (node, _, emit, ins, outs) in enumerate(planned):
            if emit.step is not None and emit.step in failed:
                emit = Emit(emit.scope)
                self._fallback(node, ins, outs, emit)
                planned[k] = (node, False, emit, ins, outs)
        # Steps whose results nobody reads are dropped: e.g. the DimShuffle of a constant that
        # kernels inline. Fallbacks stay (a perform may have effects).
        live = set(fg.outputs)
        kept = []
        for node, native, emit, _, _ in reversed(planned):
            if native and not any(v in live for v in node.outputs):
                continue
            live.update(node.inputs if emit.uses is None else emit.uses)
            kept.append((node, native, emit))
        for node, native, emit in reversed(kept):
            for key, value in emit.globals.items():
                namespace[key] = value.step.entry if isinstance(value, EntryOf) else value
            lines = emit.lines
            label = " ".join(str(node).split())  # constants may print on several lines
            label = label if len(label) <= 160 else label[:157] + "..."
            body.append(f"# {label}" + ("  [numpy fallback]" if not native else ""))
            if profile is not None:  # time each step: only in profiled functions
                lines = ["_t = _perf()", *lines, f"_prof_node({len(self.steps)}, _t)"]
            body += lines
            self.steps.append((node, "native" if native else "fallback"))
            if emit.fresh:
                fresh.update(node.outputs)
            calls_blas = calls_blas or emit.blas
            if emit.step is not None:
                self.kernel_steps.append(emit.step)
            if emit.split is not None:
                splits.append((emit.split, emit.step))
        if calls_blas:
            for step in self.kernel_steps:
                step.parallel_min = PARALLEL_MIN_WITH_BLAS
            if llvm_abi.entry_loaded():  # else the entry adopts the team when it loads
                llvm_abi.adopt_blas_team()
        for key, step in splits:  # work under twice the split size runs as one slice
            namespace[key] = 2 * step.parallel_min
        outputs = ", ".join(ref(v) for v in fg.outputs)
        self.fresh_outputs = [v in fresh for v in fg.outputs]
        inputs = ", ".join(names[v] for v in fg.inputs)
        inner = []  # the body of `run` after it unpacks its inputs, before it returns
        if profile is not None:
            import time

            namespace.update(
                _perf=time.perf_counter, _prof_node=profile.add_node, _prof_call=profile.add_call
            )
            inner.append("    _tc = _perf()")
            profile.attach(self.steps)
        indent = "        " if self.fallbacks else "    "
        if self.fallbacks:  # numpy's warnings are silenced as in the python backend
            inner.append("    with np.errstate(all='ignore'):")
        inner += [indent + line for line in body] or [indent + "pass"]
        if profile is not None:
            inner.append("    _prof_call(_tc)")
        lines = ["def run(values):"]
        if fg.inputs:
            lines.append(f"    {inputs}{',' if len(fg.inputs) == 1 else ''} = values")
        lines += inner
        lines.append(f"    return [{outputs}]")
        self.source = "\n".join(lines) + "\n"
        exec(driver_code(self.source, f"<symgraph driver {name or ''}>"), namespace)
        self.run: Callable[[list], list] = namespace["run"]
        self.namespace = namespace
        # What a caller may run in place of `run` (compile/caller.py): the body, which reads
        # inputs v0, v1, ... (fg.inputs in order), the outputs' names, and its globals.
        self.inline = (inner, [ref(v) for v in fg.outputs], namespace)

    def _fallback(self, node: Apply, ins: list[str], outs: list[str], emit: Emit) -> None:
        perform, apply = emit.name("P", perform_function(node.op)), emit.name("N", node)
        args = f"[{', '.join(ins)}]"
        emit.lines += [
            "try:",
            f"    {', '.join(outs)}{',' if len(outs) == 1 else ''} = {perform}({apply}, {args})",
            "except Exception as exc:",
            f"    raise node_error({apply}, exc, {args}) from exc",
        ]
        self.fallbacks.append(node)

    def __call__(self, values: list) -> list:
        return self.run(values)

    @property
    def fallback_nodes(self) -> int:
        """How many nodes run their numpy `perform` (no native lowering)."""
        return len(self.fallbacks)

    @property
    def kernels(self) -> list:
        """The CompiledKernels this program calls."""
        return [step.compiled for step in self.kernel_steps]

    @property
    def cache_hits(self) -> int:
        """Kernels whose object code came from the disk cache (not compiled in this process)."""
        return sum(k.cache_hit for k in self.kernels)

    def dump(self) -> str:
        """The driver, then each kernel's listing and LLVM IR: what a person debugs."""
        parts = [self.source]
        for k in self.kernels:
            parts.append(k.ir)
        return "\n\n".join(parts)


class LLVMBackend:
    """The native CPU backend: LLVM kernels, BLAS, and numpy for the rest."""

    name = "llvm"

    def compile(self, fg: FunctionGraph, **options) -> LLVMProgram:
        import time

        from symgraph.compile.profiling import make_profile

        profile = make_profile(options.get("profile"), options.get("name"))
        start = time.perf_counter()
        program = LLVMProgram(fg, options.get("name"), profile)
        if profile is not None:
            profile.add_compile("codegen", time.perf_counter() - start)
            profile.kernels += len(program.kernels)
            profile.cache_hits += program.cache_hits
        return program
