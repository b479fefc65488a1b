"""The LLVM renderer of the kernel IR: loop nests with llvmlite's IRBuilder, JIT-compiled.

Each kernel becomes one LLVM module with three or four functions (operands: inputs, then
outputs):

``void <name>_flat(i64 start, i64 stop, i8* op0, i8* op1, ...)``
    elementwise kernels only: every operand C-contiguous with the output's shape (or one
    broadcast element), elements [start, stop) of the flat range; the loop the vectorizer likes.
``void <name>_rows(i64 start, i64 stop, i8* op0, ...)``
    reductions over leading axes only: one row of unit stride folded into the output row
    (``_reduce_rows``), which the strided function calls row by row.
``void <name>_strided(i64 start, i64 stop, i64* shape, i8** data, i64* strides)``
    any layout: ``strides[k * ndim + d]`` is operand k's stride on axis d in *elements* (0 where
    it broadcasts; for a reduction's output, 0 on the reduced axes); axis 0 runs over
    [start, stop), the others over their full size. Elementwise rows of unit stride call the
    flat function when they can; inner loops over other strides are not vectorized (that
    cost compile time for layouts that are rare and slow anyway).
``PyObject* <name>_call(PyObject* self, PyObject** args, i64 nargs)``
    the Python entry point (llvm_entry.py): checks the arrays and calls one of the above.

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
    """The loop ID telling LLVM not to vectorize, interleave nor unroll a loop (one only run on
    odd layouts: unrolling it cost ~10% of a kernel's LLVM time)."""
    flag = module.add_metadata(
        [ir.MetaDataString(module, "llvm.loop.vectorize.enable"), ir.Constant(ir.IntType(1), 0)]
    )
    return _LoopID(module, [flag, _unroll_disable(module)])


def no_unroll(module: ir.Module) -> _LoopID:
    """The loop ID telling LLVM not to unroll a loop."""
    return _LoopID(module, [_unroll_disable(module)])


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
    unroll: bool = True,
    interleave: bool = True,
) -> Iterator[ir.Value]:
    """`for (i = start; i < stop; i += step)`: yields i; the body is emitted inside the with.
    vectorize=False: a loop only run on odd layouts, not worth the vectorizer's compile time;
    unroll=False: a loop over rows, whose body is a whole inner loop; interleave=False: an
    elementwise loop, vectorized one vector at a time."""
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
    elif not unroll:
        latch.set_metadata("llvm.loop", no_unroll(b.module))
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


def render_flat(module: ir.Module, kernel: Kernel) -> None:
    """The contiguous elementwise kernel: one flat loop, scalar operands read once."""
    # outputs are fresh or exactly an input (in place): the operands can be noalias
    fn, b, bases = _range_function(module, kernel, "flat")
    hoisted = {
        k: load_element(b, bases[k], i64(0), o.dtype)
        for k, o in enumerate(kernel.inputs)
        if o.is_scalar
    }
    with loop(b, fn.args[0], fn.args[1], "i", interleave=False) as i:
        body = Body(
            kernel,
            lambda k: (
                hoisted[k] if k in hoisted else load_element(b, bases[k], i, kernel.inputs[k].dtype)
            ),
        )
        for k, value in enumerate(body.values(b)):
            store_element(b, bases[len(kernel.inputs) + k], i, value, kernel.outputs[k].dtype)
    b.ret_void()


class Strided:
    """Shared set-up of the strided kernels: operand pointers, shapes and strides."""

    def __init__(self, module: ir.Module, kernel: Kernel):
        self.kernel = kernel
        self.ops = operands(kernel)
        nd = kernel.ndim
        self.fn = fn = _function(
            module,
            f"{kernel.name}_strided",
            [I64, I64, I64.as_pointer(), I8P.as_pointer(), I64.as_pointer()],
            ["start", "stop", "shape", "data", "strides"],
        )
        self.b = b = ir.IRBuilder(fn.append_basic_block("entry"))
        start, stop, shape, data, strides = fn.args
        self.start, self.stop = start, stop
        self.shape = [b.load(b.gep(shape, [i64(d)]), name=f"n{d}") for d in range(nd)]
        self.bases = []
        self.strides: list[list[ir.Value]] = []
        for k, o in enumerate(self.ops):
            raw = b.load(b.gep(data, [i64(k)]))
            self.bases.append(b.bitcast(raw, storage_type(o.dtype).as_pointer(), name=f"p{k}"))
            row = []
            for d in range(nd):
                if d < len(o.bcast) and o.bcast[d] and k < len(self.kernel.inputs):
                    row.append(i64(0))  # a static broadcast axis: 0 whatever was passed
                else:
                    row.append(b.load(b.gep(strides, [i64(k * nd + d)]), name=f"s{k}_{d}"))
            self.strides.append(row)

    def nest(self, inner: Callable[[list[ir.Value], ir.Value, ir.Value], None]) -> None:
        """Loops over axes 0..ndim-2 carrying each operand's offset, then `inner(offsets,
        lo, hi)` for the last axis' range."""
        b, nd = self.b, self.kernel.ndim
        offsets = [i64(0)] * len(self.ops)
        if nd == 0:
            with b.if_then(b.icmp_signed("<", self.start, self.stop)):
                inner(offsets, i64(0), i64(1))
            b.ret_void()
            return
        stack = []
        for d in range(nd - 1):
            lo, hi = (self.start, self.stop) if d == 0 else (i64(0), self.shape[d])
            # unrolled, a loop over rows copied the whole inner loop nest 4 times: ~40% of
            # the LLVM time of a 2-d kernel, for no speed (each row is a long inner loop)
            ctx = loop(b, lo, hi, f"i{d}", unroll=False)
            i = ctx.__enter__()
            stack.append(ctx)
            offsets = [b.add(off, b.mul(i, s[d])) for off, s in zip(offsets, self.strides)]
        lo, hi = (self.start, self.stop) if nd == 1 else (i64(0), self.shape[nd - 1])
        inner(offsets, lo, hi)
        for ctx in reversed(stack):
            ctx.__exit__(None, None, None)
        b.ret_void()

    def contiguous_inner(self, which: list[int]) -> ir.Value:
        """Whether operands `which` all have stride 1 on the last axis."""
        b, nd = self.b, self.kernel.ndim
        ok = ir.Constant(ir.IntType(1), 1)
        for k in which:
            ok = b.and_(ok, b.icmp_signed("==", self.strides[k][nd - 1], i64(1)))
        return ok

    def two_versions(self, cond: ir.Value, emit: Callable[[bool], None]) -> None:
        """emit(True) where `cond` holds (unit strides: vectorizable), emit(False) elsewhere."""
        with self.b.if_else(cond) as (then, otherwise):
            with then:
                emit(True)
            with otherwise:
                emit(False)


def render_strided_elemwise(module: ir.Module, kernel: Kernel) -> None:
    st = Strided(module, kernel)
    b, nd, nin = st.b, kernel.ndim, len(kernel.inputs)
    moving = [k for k, o in enumerate(st.ops) if nd and not (k < nin and o.bcast[nd - 1])]
    # Rows with unit strides are the flat kernel's job when every input that stays put along
    # a row is one element (which the flat kernel reads once): one vectorized loop per kernel
    # instead of two, which halves the kernel's LLVM time.
    rows_flat = nd > 0 and all(o.is_scalar for o in kernel.inputs if o.bcast[nd - 1])

    def flat_rows(offsets, lo, hi) -> None:
        flat = module.globals[f"{kernel.name}_flat"]
        ptrs = [b.bitcast(b.gep(base, [off]), I8P) for base, off in zip(st.bases, offsets)]
        b.call(flat, [lo, hi, *ptrs])

    def inner(offsets, lo, hi):
        def version(unit: bool) -> None:
            if unit and rows_flat:
                flat_rows(offsets, lo, hi)
                return
            with loop(b, lo, hi, "j", vectorize=unit, interleave=False) as j:

                def index(k):
                    if nd == 0 or k not in moving:
                        return offsets[k]
                    step = j if unit else b.mul(j, st.strides[k][nd - 1])
                    return b.add(offsets[k], step)

                body = Body(
                    kernel, lambda k: load_element(b, st.bases[k], index(k), kernel.inputs[k].dtype)
                )
                for k, value in enumerate(body.values(b)):
                    store_element(
                        b, st.bases[nin + k], index(nin + k), value, kernel.outputs[k].dtype
                    )

        if nd == 0:
            version(False)
        else:
            st.two_versions(st.contiguous_inner(moving), version)

    st.nest(inner)


def render_strided_reduce(module: ir.Module, kernel: Kernel) -> None:
    """Fold values into the output (operand `nin`): in a register when the last axis is
    reduced, else elementwise into the output row."""
    st = Strided(module, kernel)
    b, nd, nin = st.b, kernel.ndim, len(kernel.inputs)
    out_dtype = kernel.outputs[0].dtype
    op = kernel.reduce_op
    # reassociation (hence vectorization) only for the accumulator of float sums / products
    flags = ("reassoc", "contract") if is_float(out_dtype) and op in ("add", "mul") else ()
    moving = [k for k, o in enumerate(kernel.inputs) if not o.bcast[nd - 1]]

    def fold(acc: ir.Value, value: ir.Value) -> ir.Value:
        if flags:
            name = "fadd" if op == "add" else "fmul"
            return getattr(b, name)(acc, value, flags=flags)
        return emit_scalar(b, op, [acc, value], out_dtype, out_dtype)

    def value_at(offsets: list, j: ir.Value, unit: bool) -> ir.Value:
        def index(k: int) -> ir.Value:
            if k not in moving:
                return offsets[k]
            return b.add(offsets[k], j if unit else b.mul(j, st.strides[k][nd - 1]))

        return Body(
            kernel, lambda k: load_element(b, st.bases[k], index(k), kernel.inputs[k].dtype)
        ).values(b)[0]

    def reduce_inner(offsets, lo, hi):
        def version(unit: bool) -> None:
            out_ptr = b.gep(st.bases[nin], [offsets[nin]], inbounds=True)

            def fold_range(start, stop, init):
                def step(j, accs):
                    return [fold(accs[0], value_at(offsets, j, unit))]

                return fold_loop(b, start, stop, i64(1), [init], step, "j", unit)[0]

            total = _load_acc(b, out_ptr, out_dtype)
            if op == "add" and is_float(out_dtype):

                def block(j0, accs):
                    end = b.add(j0, i64(REDUCE_CHUNK))
                    end = b.select(b.icmp_signed("<", end, hi), end, hi)
                    partial = fold_range(j0, end, _identity(out_dtype, op))
                    return [b.fadd(accs[0], partial)]

                total = fold_loop(b, lo, hi, i64(REDUCE_CHUNK), [total], block, "jb")[0]
            else:
                total = fold_range(lo, hi, total)
            _store_acc(b, total, out_ptr, out_dtype)

        st.two_versions(st.contiguous_inner(moving), version)

    def update_inner(offsets, lo, hi):
        def version(unit: bool) -> None:
            if unit:
                rows = _reduce_rows(module, kernel, moving)
                ptrs = [b.bitcast(b.gep(p, [off]), I8P) for p, off in zip(st.bases, offsets)]
                b.call(rows, [lo, hi, *ptrs])
                return
            with loop(b, lo, hi, "j", vectorize=False) as j:
                io = b.add(offsets[nin], b.mul(j, st.strides[nin][nd - 1]))
                out_ptr = b.gep(st.bases[nin], [io], inbounds=True)
                acc = _load_acc(b, out_ptr, out_dtype)
                new = emit_scalar(b, op, [acc, value_at(offsets, j, False)], out_dtype, out_dtype)
                _store_acc(b, new, out_ptr, out_dtype)

        st.two_versions(st.contiguous_inner(moving + [nin]), version)

    st.nest(reduce_inner if (nd - 1) in kernel.axes else update_inner)


def _reduce_rows(module: ir.Module, kernel: Kernel, moving: list[int]) -> ir.Function:
    """``<name>_rows(start, stop, in0, ..., out)``: ``out[j] = op(out[j], value(j))`` along one
    row whose moving operands have unit stride (the others are read once): the vectorized loop
    of a reduction over leading axes. Inside the strided function that loop had LLVM version it
    with runtime overlap checks, half of the kernel's LLVM time; here the operands are noalias
    (a reduction's output is a fresh array, never one of its inputs)."""
    nin, out_dtype, op = len(kernel.inputs), kernel.outputs[0].dtype, kernel.reduce_op
    ops = operands(kernel)
    fn, b, bases = _range_function(module, kernel, "rows")
    fixed = {
        k: load_element(b, bases[k], i64(0), o.dtype)
        for k, o in enumerate(kernel.inputs)
        if k not in moving
    }
    with loop(b, fn.args[0], fn.args[1], "j", interleave=False) as j:
        value = Body(
            kernel,
            lambda k: fixed[k] if k in fixed else load_element(b, bases[k], j, ops[k].dtype),
        ).values(b)[0]
        ptr = b.gep(bases[nin], [j], inbounds=True)
        new = emit_scalar(b, op, [_load_acc(b, ptr, out_dtype), value], out_dtype, out_dtype)
        _store_acc(b, new, ptr, out_dtype)
    b.ret_void()
    return fn


def fold_loop(
    b: ir.IRBuilder,
    start: ir.Value,
    stop: ir.Value,
    step: ir.Value,
    inits: list,
    body: Callable[[ir.Value, list], list],
    name: str,
    vectorize: bool = True,
) -> list:
    """A loop carrying values in registers (phis): `body(i, accs) -> accs`; the final accs."""
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
    if not vectorize:
        backedge.set_metadata("llvm.loop", no_vectorize(b.module))
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
    """The LLVM IR text of one kernel's module (flat, strided and Python entry functions)."""
    from symgraph.codegen.llvm_entry import render_entry

    module = ir.Module(name=kernel.name)
    module.triple = llvm_jit.target_triple()
    module.data_layout = llvm_jit.data_layout()
    if kernel.kind == "elemwise":
        render_flat(module, kernel)
        if kernel.ndim:  # a 0-d kernel only ever runs flat (llvm_entry)
            render_strided_elemwise(module, kernel)
    else:
        render_strided_reduce(module, kernel)
    render_entry(module, kernel)
    listing = "\n".join("; " + line for line in kernel.listing().splitlines())
    return f"; symgraph kernel {kernel.name}\n{listing}\n{module}"


# --- compile and cache -------------------------------------------------------------------
