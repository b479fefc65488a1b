"""The LLVM renderer of the kernel IR: loop nests with llvmlite's IRBuilder, JIT-compiled.

Each kernel becomes one small LLVM module (operands: inputs, then outputs), the functions of
kernels/c_kernel.h's ``sg_kernel_info``:

``void <name>_flat(i64 start, i64 stop, i8** data)``
    elementwise kernels: every operand C-contiguous with the output's shape (or one broadcast
    element), elements [start, stop) of the flat range; the loop the vectorizer likes (in
    ``<name>_loop``, whose operands are noalias). Reductions: one row, every input of unit
    stride (or read once), folded into the output (``render_reduce``).
    Other layouts run it too, row by row or on gathered blocks: the entry's strided loop
    (llvm_entry.py), shared by all kernels, walks the other axes.
``void <name>_init(i8* out, i64 start, i64 stop)``
    reductions: output elements [start, stop) set to the identity of the fold.

The Python entry point that checks the arrays and calls these is one function for all
kernels (llvm_entry.py), compiled once per machine.

Compiled objects are cached on disk (codegen/cache.py) by the hash of the kernel listing and
of the renderer's source, so a second process neither renders nor optimizes: it only links
them (llvm_load.py, which imports none of the renderer). `compile_kernel` returns a
process-wide `CompiledKernel`; `compile_kernels` has a function's missing kernels built on
several threads at once (llvm_build.py), which a cold compile spends most of its time on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import llvmlite.ir as ir
import numpy as np

from symgraph.codegen import llvm_jit
from symgraph.codegen.kernel import Kernel, Node, reduce_identity, toposort
from symgraph.codegen.llvm_load import (  # noqa: F401  (the compile state and key, re-exported)
    _CACHE,
    _COMPILED,
    _LOCK,
    RENDERER_VERSION,
    STATS,
    CompiledKernel,
    compile_kernel,
    compile_kernels,
    kernel_key,
    renderer_fingerprint,
)
from symgraph.codegen.llvm_scalar import constant, emit_cast, emit_scalar, is_float, ll_type

I64 = ir.IntType(64)
I8P = ir.IntType(8).as_pointer()
REDUCE_CHUNK = 1024  # float sums add blocks of this many elements, then the blocks (accuracy)


def i64(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


def storage_type(dtype: str) -> ir.Type:
    """The in-memory type of one element (numpy's bool is a byte)."""
    return ir.IntType(8) if dtype == "bool" else ll_type(dtype)


def itemsize(dtype: str) -> int:
    return np.dtype(dtype).itemsize


class _LoopID(ir.values.MDValue):
    """A loop's self-referential metadata node (``!0 = !{!0, props...}``), which llvmlite's
    ``add_metadata`` cannot build; identity-hashed, as it contains itself."""

    def __init__(self, module: ir.Module, props: list):
        super().__init__(module, [], name=str(len(module.metadata)))
        self.operands = (self, *props)

    __hash__ = object.__hash__

    def __eq__(self, other: object) -> bool:
        return self is other


def no_vectorize(module: ir.Module) -> _LoopID:
    """The loop ID telling LLVM not to vectorize, interleave nor unroll a loop (one not worth
    the compile time: unrolling a strided loop cost ~10% of a kernel's LLVM time)."""
    flag = module.add_metadata(
        [ir.MetaDataString(module, "llvm.loop.vectorize.enable"), ir.Constant(ir.IntType(1), 0)]
    )
    return _LoopID(module, [flag, _unroll_disable(module)])


def no_interleave(module: ir.Module) -> _LoopID:
    """The loop ID telling the vectorizer to keep one vector per iteration: an elementwise
    loop interleaved 4 ways (plus the vectorized epilogue that then comes with it) was ~30 % of
    its LLVM time, for loops bound by memory or by their own arithmetic."""
    count = module.add_metadata(
        [ir.MetaDataString(module, "llvm.loop.interleave.count"), ir.Constant(ir.IntType(32), 1)]
    )
    return _LoopID(module, [count])


def _unroll_disable(module: ir.Module) -> ir.values.MDValue:
    return module.add_metadata([ir.MetaDataString(module, "llvm.loop.unroll.disable")])


@contextmanager
def loop(
    b: ir.IRBuilder,
    start: ir.Value,
    stop: ir.Value,
    name: str,
    step: ir.Value | None = None,
    vectorize: bool = True,
    interleave: bool = True,
) -> Iterator[ir.Value]:
    """`for (i = start; i < stop; i += step)`: yields i; the body is emitted inside the with.
    vectorize=False: a loop not worth the vectorizer's compile time (the shared entry's
    loops over operands, a reduction's init); interleave=False: an elementwise loop,
    vectorized one vector at a time."""
    pre = b.block
    head = b.append_basic_block(f"{name}.head")
    body = b.append_basic_block(f"{name}.body")
    end = b.append_basic_block(f"{name}.end")
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64, name=name)
    i.add_incoming(start, pre)
    b.cbranch(b.icmp_signed("<", i, stop), body, end)
    b.position_at_end(body)
    yield i
    nxt = b.add(i, step if step is not None else i64(1), name=f"{name}.next")
    i.add_incoming(nxt, b.block)
    latch = b.branch(head)
    if not vectorize:
        latch.set_metadata("llvm.loop", no_vectorize(b.module))
    elif not interleave:
        latch.set_metadata("llvm.loop", no_interleave(b.module))
    b.position_at_end(end)


class Body:
    """Emits the kernel's values at one index: loads through `load(k)`, then the node DAG."""

    def __init__(self, kernel: Kernel, load: Callable[[int], ir.Value]):
        self.kernel = kernel
        self.load = load

    def values(self, b: ir.IRBuilder) -> list[ir.Value]:
        done: dict[int, ir.Value] = {}
        for n in toposort(self.kernel.values):
            done[id(n)] = self.emit(b, n, [done[id(s)] for s in n.src])
        return [done[id(v)] for v in self.kernel.values]

    def emit(self, b: ir.IRBuilder, n: Node, args: list[ir.Value]) -> ir.Value:
        if n.op == "load":
            return self.load(n.arg)
        if n.op == "const":
            return constant(n.dtype, n.arg)
        if n.op == "cast":
            return emit_cast(b, args[0], n.src[0].dtype, n.dtype)
        dtype = n.src[-1].dtype if n.op == "switch" else n.src[0].dtype
        return emit_scalar(b, n.op, args, dtype, n.dtype)


def load_element(b: ir.IRBuilder, base: ir.Value, index: ir.Value, dtype: str) -> ir.Value:
    """Element `index` of the typed array at `base`, as a register value (bool as i1)."""
    ptr = b.gep(base, [index], inbounds=True)
    value = b.load(ptr, align=itemsize(dtype))
    if dtype == "bool":
        return b.icmp_unsigned("!=", value, ir.Constant(ir.IntType(8), 0))
    return value


def store_element(
    b: ir.IRBuilder, base: ir.Value, index: ir.Value, value: ir.Value, dtype: str
) -> None:
    if dtype == "bool":
        value = b.zext(value, ir.IntType(8))
    b.store(value, b.gep(base, [index], inbounds=True), align=itemsize(dtype))


def _function(module: ir.Module, name: str, args: list[ir.Type], names: list[str]) -> ir.Function:
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), args), name)
    for arg, nm in zip(fn.args, names):
        arg.name = nm
    llvm_jit.set_kernel_attributes(fn)
    fn.attributes.add("nounwind")
    # The entry point calls it once: inlined, its loops would be optimized and compiled twice
    # (measured: a quarter of the LLVM time of a kernel), for a call that costs nanoseconds.
    fn.attributes.add("noinline")
    return fn


def operands(kernel: Kernel) -> list:
    return list(kernel.inputs) + list(kernel.outputs)


def _range_function(module: ir.Module, kernel: Kernel, suffix: str) -> tuple:
    """``void <name>_<suffix>(i64 start, i64 stop, i8* noalias in0, ..., i8* noalias out0,
    ...)``: its function, a builder at its entry, and the operands as typed pointers."""
    ops = operands(kernel)
    names = [f"in{k}" for k in range(len(kernel.inputs))]
    names += [f"out{k}" for k in range(len(kernel.outputs))]
    fn = _function(
        module, f"{kernel.name}_{suffix}", [I64, I64] + [I8P] * len(ops), ["start", "stop"] + names
    )
    for arg in fn.args[2:]:
        arg.add_attribute("noalias")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    bases = [
        b.bitcast(arg, storage_type(o.dtype).as_pointer(), name=f"{nm}.p")
        for arg, o, nm in zip(fn.args[2:], ops, names)
    ]
    return fn, b, bases


def _read_once(b: ir.IRBuilder, bases: list, kernel: Kernel) -> dict[int, ir.Value]:
    """The inputs of one element (every axis broadcast), loaded before the loop."""
    return {k: load_element(b, bases[k], i64(0), o.dtype)
            for k, o in enumerate(kernel.inputs) if o.is_scalar}


def render_flat(module: ir.Module, kernel: Kernel) -> None:
    """The contiguous elementwise kernel: one flat loop, scalar operands read once."""
    # outputs are fresh or exactly an input (in place): the operands can be noalias
    fn, b, bases = _range_function(module, kernel, "loop")
    hoisted = _read_once(b, bases, kernel)
    start, stop = fn.args[0], fn.args[1]
    streamed = [k for k in range(len(kernel.inputs)) if k not in hoisted]
    if streamed and slow_per_element(kernel):
        with loop(b, start, stop, "block", step=i64(PREFETCH_BLOCK), vectorize=False) as lo:
            hi = b.add(lo, i64(PREFETCH_BLOCK))
            hi = b.select(b.icmp_signed("<", hi, stop), hi, stop)
            for k in streamed:
                prefetch_ahead(b, bases[k], lo, b.sub(hi, lo), itemsize(kernel.inputs[k].dtype))
            _flat_loop(b, kernel, bases, hoisted, lo, hi)
    else:
        _flat_loop(b, kernel, bases, hoisted, start, stop)
    b.ret_void()
    _array_call(module, kernel, fn)


def _flat_loop(b: ir.IRBuilder, kernel: Kernel, bases: list, hoisted: dict, start, stop) -> None:
    with loop(b, start, stop, "i", interleave=False) as i:
        body = Body(
            kernel,
            lambda k: (
                hoisted[k] if k in hoisted else load_element(b, bases[k], i, kernel.inputs[k].dtype)
            ),
        )
        for k, value in enumerate(body.values(b)):
            store_element(b, bases[len(kernel.inputs) + k], i, value, kernel.outputs[k].dtype)


# Elements per prefetch round, and how far ahead of the round its prefetches reach (bytes).
# On the machines measured the hardware prefetcher at times left a loop that spends ~1 ns per
# element (a few transcendentals) waiting on memory: tanh(a*x+b)*sigmoid(x)+exp(-x*x) over 10M
# float32 took 2.9 ns per element on one thread against 0.93 on data in cache; prefetching
# 2 KB ahead brought it to 1.0. Loops that only move memory keep enough loads in flight by
# themselves, and were slower with it (x*2+1: 0.34 -> 0.56 ns per element): they do without.
PREFETCH_BLOCK = 1024
PREFETCH_AHEAD = 2048
# Ops of a few instructions each. Two others (transcendentals, divisions, libm calls) make
# a loop slow enough per element to need the prefetches; one does not (exp(x) over 10M
# float32 on two threads: 2.6 ms without, 2.9-3.0 with).
_CHEAP_OPS = frozenset({
    "load", "const", "cast", "add", "sub", "mul", "neg", "identity", "abs", "sgn", "sqr",
    "maximum", "minimum", "clip", "switch", "second", "floor", "ceil", "trunc",
    "round_half_to_even", "round_half_away_from_zero", "lt", "gt", "le", "ge", "eq", "neq",
    "isnan", "isinf", "and_", "or_", "xor", "invert", "real", "imag", "conj",
})


def slow_per_element(kernel: Kernel) -> bool:
    """Whether the kernel's body has two ops beyond a few instructions (see PREFETCH_BLOCK)."""
    return sum(n.op not in _CHEAP_OPS for n in toposort(kernel.values)) >= 2


def prefetch_ahead(b: ir.IRBuilder, base: ir.Value, index: ir.Value, count: ir.Value,
                   size: int) -> None:
    """Prefetch the cache lines of `count` elements of `size` bytes, PREFETCH_AHEAD bytes
    past element `index` of `base`: the round after this one, as far as this one goes (a
    short call, such as a row or a gathered block, prefetches as little). Prefetches never
    fault: reading past the end is harmless."""
    i32 = ir.IntType(32)
    prefetch = b.module.declare_intrinsic(
        "llvm.prefetch", fnty=ir.FunctionType(ir.VoidType(), [I8P, i32, i32, i32]))
    first = b.gep(b.bitcast(base, I8P), [b.add(b.mul(index, i64(size)), i64(PREFETCH_AHEAD))])
    with loop(b, i64(0), b.mul(count, i64(size)), "line", step=i64(64),
              vectorize=False) as offset:
        # read, keep in all cache levels, data
        b.call(prefetch, [b.gep(first, [offset]), ir.Constant(i32, 0), ir.Constant(i32, 3),
                          ir.Constant(i32, 1)])


def _array_call(module: ir.Module, kernel: Kernel, loop_fn: ir.Function) -> None:
    """``<name>_flat(start, stop, i8** data)``, the entry's calling convention (operands in
    one array), calling `loop_fn`, whose operands are noalias arguments."""
    loop_fn.linkage = "internal"
    flat = _function(module, f"{kernel.name}_flat", [I64, I64, I8P.as_pointer()],
                     ["start", "stop", "data"])
    b = ir.IRBuilder(flat.append_basic_block("entry"))
    start, stop, data = flat.args
    ptrs = [b.load(b.gep(data, [i64(k)])) for k in range(len(operands(kernel)))]
    b.call(loop_fn, [start, stop, *ptrs])
    b.ret_void()


def render_init(module: ir.Module, kernel: Kernel) -> None:
    """``<name>_init(out, start, stop)``: a reduction's output elements set to its identity."""
    out_dtype = kernel.outputs[0].dtype
    fn = _function(module, f"{kernel.name}_init", [I8P, I64, I64], ["out", "start", "stop"])
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    out, start, stop = fn.args
    ident = _identity(out_dtype, kernel.reduce_op)
    if out_dtype == "bool":
        ident = ir.Constant(ir.IntType(8), int(ident.constant))
    base = b.bitcast(out, storage_type(out_dtype).as_pointer())
    with loop(b, start, stop, "i", vectorize=False) as i:  # a memset, or short
        b.store(ident, b.gep(base, [i]))
    b.ret_void()


def render_reduce(module: ir.Module, kernel: Kernel) -> None:
    """A reduction's row: elements [start, stop) of one row, every input of unit stride or
    read once (the entry's strided loop gathers the others), folded into the output: into
    out[0] when the last axis is reduced (float sums in blocks of REDUCE_CHUNK, for
    accuracy), else out[j] <- op(out[j], value(j)). The output never aliases an input (it is
    a fresh array), so the operands are noalias and the loop vectorizes without overlap
    checks."""
    nin, nd, op = len(kernel.inputs), kernel.ndim, kernel.reduce_op
    out_dtype = kernel.outputs[0].dtype
    fn, b, bases = _range_function(module, kernel, "loop")
    start, stop = fn.args[0], fn.args[1]
    fixed = _read_once(b, bases, kernel)

    def value_at(j: ir.Value) -> ir.Value:
        def load(k: int) -> ir.Value:
            if k in fixed:
                return fixed[k]
            return load_element(b, bases[k], j, kernel.inputs[k].dtype)

        return Body(kernel, load).values(b)[0]

    if nd and (nd - 1) in kernel.axes:
        # reassociation (hence vectorization) only for the accumulator of float sums / products
        flags = ("reassoc", "contract") if is_float(out_dtype) and op in ("add", "mul") else ()

        def fold(acc: ir.Value, value: ir.Value) -> ir.Value:
            if flags:
                return getattr(b, "fadd" if op == "add" else "fmul")(acc, value, flags=flags)
            return emit_scalar(b, op, [acc, value], out_dtype, out_dtype)

        def fold_range(lo, hi, init):
            def step(j, accs):
                return [fold(accs[0], value_at(j))]

            # one vector accumulator: interleaved 4 ways the loop took half again the LLVM
            # time, for sums that memory bandwidth bounds anyway
            return fold_loop(b, lo, hi, i64(1), [init], step, "j", interleave=False)[0]

        out_ptr = b.gep(bases[nin], [i64(0)], inbounds=True)
        total = _load_acc(b, out_ptr, out_dtype)
        if op in ("maximum", "minimum") and is_float(out_dtype):
            total = _float_extremum(b, op, out_dtype, start, stop, value_at, total)
        elif op == "add" and is_float(out_dtype):

            def block(j0, accs):
                end = b.add(j0, i64(REDUCE_CHUNK))
                end = b.select(b.icmp_signed("<", end, stop), end, stop)
                return [b.fadd(accs[0], fold_range(j0, end, _identity(out_dtype, op)))]

            total = fold_loop(b, start, stop, i64(REDUCE_CHUNK), [total], block, "jb")[0]
        else:
            total = fold_range(start, stop, total)
        _store_acc(b, total, out_ptr, out_dtype)
    else:
        with loop(b, start, stop, "j", interleave=False) as j:
            ptr = b.gep(bases[nin], [j], inbounds=True)
            new = emit_scalar(b, op, [_load_acc(b, ptr, out_dtype), value_at(j)], out_dtype,
                              out_dtype)
            _store_acc(b, new, ptr, out_dtype)
    b.ret_void()
    _array_call(module, kernel, fn)


_EXTREMUM_FLAGS = ("nnan", "nsz")


def _float_extremum(b, op: str, dtype: str, start, stop, value_at, acc) -> ir.Value:
    """acc folded with the max / min of the row, as numpy's: nan if any value is nan. The
    row's extremum ignores nans in a loop LLVM vectorizes as a min / max reduction (its
    compares may assume no nan, `nnan`: a nan's effect is only ever unselected, and no
    signed zeros, `nsz`: which of -0 and +0 a tie keeps is unspecified, as in numpy's own
    SIMD loops), while a second accumulator notes whether any value was nan. numpy's
    per-element select kept the loop scalar: max over rows of 1000 float32 took 990 us
    (numpy 210 us), now 171 us."""
    cmp = ">" if op == "maximum" else "<"
    extremum = (_identity(dtype, op), ir.Constant(ir.IntType(1), 0))

    def step(j, accs):
        m, seen_nan = accs
        v = value_at(j)
        keep = b.fcmp_ordered(cmp, m, v, flags=_EXTREMUM_FLAGS)
        seen_nan = b.or_(seen_nan, b.fcmp_unordered("uno", v, v))
        return [b.select(keep, m, v, flags=_EXTREMUM_FLAGS), seen_nan]

    m, seen_nan = fold_loop(b, start, stop, i64(1), list(extremum), step, "j", interleave=False)
    row = b.select(seen_nan, constant(dtype, float("nan")), m)
    return emit_scalar(b, op, [acc, row], dtype, dtype)


def fold_loop(
    b: ir.IRBuilder,
    start: ir.Value,
    stop: ir.Value,
    step: ir.Value,
    inits: list,
    body: Callable[[ir.Value, list], list],
    name: str,
    interleave: bool = True,
) -> list:
    """A loop carrying values in registers (phis): `body(i, accs) -> accs`; the final accs.
    interleave=False as for `loop`."""
    pre = b.block
    head = b.append_basic_block(f"{name}.head")
    body_bb = b.append_basic_block(f"{name}.body")
    end = b.append_basic_block(f"{name}.end")
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64, name=name)
    accs = [b.phi(v.type, name=f"{name}.acc") for v in inits]
    i.add_incoming(start, pre)
    for phi, v in zip(accs, inits):
        phi.add_incoming(v, pre)
    b.cbranch(b.icmp_signed("<", i, stop), body_bb, end)
    b.position_at_end(body_bb)
    new = body(i, accs)
    latch = b.block
    i.add_incoming(b.add(i, step), latch)
    for phi, v in zip(accs, new):
        phi.add_incoming(v, latch)
    backedge = b.branch(head)
    if not interleave:
        backedge.set_metadata("llvm.loop", no_interleave(b.module))
    b.position_at_end(end)
    return accs


def _identity(dtype: str, op: str) -> ir.Constant:
    return constant(dtype, reduce_identity(op, dtype))


def _load_acc(b: ir.IRBuilder, ptr: ir.Value, dtype: str) -> ir.Value:
    value = b.load(ptr, align=itemsize(dtype))
    if dtype == "bool":
        return b.icmp_unsigned("!=", value, ir.Constant(ir.IntType(8), 0))
    return value


def _store_acc(b: ir.IRBuilder, value: ir.Value, ptr: ir.Value, dtype: str) -> None:
    if dtype == "bool":
        value = b.zext(value, ir.IntType(8))
    b.store(value, ptr, align=itemsize(dtype))


def render_module(kernel: Kernel) -> str:
    """The LLVM IR text of one kernel's module (its loops; the entry is shared)."""
    module = ir.Module(name=kernel.name)
    module.triple = llvm_jit.target_triple()
    module.data_layout = llvm_jit.data_layout()
    if kernel.kind == "elemwise":
        render_flat(module, kernel)
    else:
        render_reduce(module, kernel)
        render_init(module, kernel)
    if kernel.ndim == 0:
        # one element, no loop worth optimizing: it is emitted unoptimized (llvm_build), and
        # optnone has the code generator take its fast path too
        for fn in module.functions:
            if not fn.is_declaration:
                fn.attributes.add("optnone")
    listing = "\n".join("; " + line for line in kernel.listing().splitlines())
    return f"; symgraph kernel {kernel.name}\n{listing}\n{module}"


# --- compile and cache -------------------------------------------------------------------
