"""The Python entry point of every LLVM kernel.

One module, rendered here and compiled once per machine (kept in the disk cache, then loaded
by llvm_abi.py), serves all kernels: each kernel's builtin function is
``symgraph_kernel_entry(self, args, nargs)`` with that kernel's ``sg_kernel_info``
(kernels/c_kernel.h, built by llvm_abi.make_entry) in ``self``. A kernel's own module then holds
only its loops, which is most of the time a cold compile spends (a specialized entry and a
strided copy of the loop body per kernel took more than half of each kernel's LLVM time).

``call(*inputs, *outputs[, part, nparts])`` returns

- 0: done (``part`` of ``nparts`` equal slices of the work, when given);
- 1: an operand is not a plain aligned ndarray of the kernel's dtype and rank (or an output is
  not writeable / a reduction's output not C-contiguous): the caller normalizes it and calls
  again;
- 2: the shapes do not fit together (or max / min meets an empty axis): the caller raises the
  error the numpy reference gives;
- 3: (called without ``part, nparts``) the work is large enough to split across threads.

The GIL is released around large loops, so slices run in parallel on Python threads. Where
the process has an OpenMP team (MKL's, set by llvm_abi.use_team), a large enough loop runs on
that team instead, in one call (the entry never returns 3 for it). This is kernels/c_entry.c
(the C backend's entry) in LLVM IR, so that the LLVM backend needs no C compiler; both read the
same ``sg_kernel_info``.

Layouts other than C-contiguous go through ``symgraph_kernel_strided`` (llvm_strided.py),
in the same module.
"""

from __future__ import annotations

import contextlib

import llvmlite.ir as ir

from symgraph.codegen.llvm_abi import (  # noqa: F401  (re-exported: the ABI's constants)
    ALIGNED,
    C_CONTIGUOUS,
    ENTRY_NAME,
    GIL_RELEASE_MIN,
    INFO_FIELDS,
    METH_FASTCALL,
    PARALLEL_MIN,
    STRIDED_NAME,
    TEAM_BODY_NAME,
    TEAM_STATE_NAME,
    WRITEABLE,
    abi,
)

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
I8P = I8.as_pointer()
FLAT_TYPE = ir.FunctionType(ir.VoidType(), [I64, I64, I8P.as_pointer()])
STRIDED_TYPE = ir.FunctionType(
    ir.VoidType(), [I64, I64, I64.as_pointer(), I8P.as_pointer(), I64.as_pointer()]
)
INIT_TYPE = ir.FunctionType(ir.VoidType(), [I8P, I64, I64])
# sg_kernel_info, field by field (llvm_abi.KernelInfo, kernels/c_kernel.h)
_FIELD_TYPES = {
    "int32": I32,
    "int64": I64,
    "bytes": I8P,
    "int64s": I64.as_pointer(),
    "flat": FLAT_TYPE.as_pointer(),
    "strided": STRIDED_TYPE.as_pointer(),
    "init": INIT_TYPE.as_pointer(),
}
INFO = ir.LiteralStructType([_FIELD_TYPES[kind] for _, kind in INFO_FIELDS])
# llvm_abi.TeamState: an OpenMP runtime's GOMP_parallel, omp_get_thread_num,
# omp_get_num_threads; the least work run on the team; its thread count (fork null: no team)
TEAM = ir.LiteralStructType([I8P, I8P, I8P, I64, I32])
FORK_TYPE = ir.FunctionType(
    ir.VoidType(), [ir.FunctionType(ir.VoidType(), [I8P]).as_pointer(), I8P, I32, I32]
)
OMP_INT_TYPE = ir.FunctionType(I32, [])
# One loop handed to the team: the flat loop (null: the strided one), the info, the range
# [lo, hi), the strided loop's shape, data and strides, and the grain a thread's share is
# rounded to (FLAT_GRAIN elements of a flat loop; rows: 1)
JOB = ir.LiteralStructType(
    [I8P, I8P, I64, I64, I64.as_pointer(), I8P.as_pointer(), I64.as_pointer(), I64]
)


# elements: each thread's share of a flat loop is a multiple of this, so that in an output
# aligned to 64 bytes no two threads write one cache line (even with a 1-byte dtype)
FLAT_GRAIN = 64


def c64(v: int) -> ir.Constant:
    return ir.Constant(I64, v)


class Builder:
    """An IRBuilder in one function, with the few structured helpers the entry needs."""

    def __init__(self, fn: ir.Function):
        self.fn = fn
        self.entry = fn.append_basic_block("entry")
        self.b = ir.IRBuilder(self.entry)

    def var(self, ty: ir.Type, init: ir.Value, name: str) -> ir.Value:
        """A stack slot, allocated once in the entry block, holding `init` from here on."""
        with self.b.goto_block(self.entry):
            self.b.position_at_start(self.entry)
            slot = self.b.alloca(ty, name=name)
        self.b.store(init, slot)
        return slot

    def loop(self, start: ir.Value, stop: ir.Value, name: str, step: ir.Value | None = None):
        from symgraph.codegen.llvm import loop

        return loop(self.b, start, stop, name, step=step, vectorize=False)

    def require(self, cond: ir.Value, otherwise: ir.Block, name: str) -> None:
        ok = self.fn.append_basic_block(name)
        self.b.cbranch(cond, ok, otherwise)
        self.b.position_at_end(ok)

    def at(self, base: ir.Value, index: ir.Value | int) -> ir.Value:
        idx = index if isinstance(index, ir.Value) else c64(index)
        return self.b.load(self.b.gep(base, [idx]))

    def put(self, value: ir.Value, base: ir.Value, index: ir.Value | int) -> None:
        idx = index if isinstance(index, ir.Value) else c64(index)
        self.b.store(value, self.b.gep(base, [idx]))

    def member(self, struct: ir.Value, index: int) -> ir.Value:
        """Member `index` of the struct `struct` points to."""
        return self.b.load(self.b.gep(struct, [ir.Constant(I32, 0), ir.Constant(I32, index)]))

    def field(self, info: ir.Value, name: str) -> ir.Value:
        return self.member(info, [n for n, _ in INFO_FIELDS].index(name))

    def flag(self, table: ir.Value, index: ir.Value) -> ir.Value:
        """table[index] != 0 for an unsigned char table."""
        return self.b.icmp_unsigned("!=", self.at(table, index), ir.Constant(I8, 0))

    def at_least_one(self, n: ir.Value) -> ir.Value:
        """max(n, 1): a divisor (a select computes both sides, and n / 0 traps)."""
        return self.b.select(self.b.icmp_signed("<", n, c64(1)), c64(1), n)


def declare(module: ir.Module, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
    fn = module.globals.get(name)
    return fn if fn is not None else ir.Function(module, ir.FunctionType(ret, args), name)


def call_released(
    module: ir.Module,
    b: ir.IRBuilder,
    work: ir.Value,
    fn: ir.Value,
    args: list,
    threshold: int | ir.Value = GIL_RELEASE_MIN,
) -> None:
    """fn(*args), without the GIL when `work` (an i64) is at least `threshold` (so slices, or
    other Python threads, can run in parallel). Also the BLAS entries' call (blas_entry.py)."""
    limit = threshold if isinstance(threshold, ir.Value) else c64(threshold)
    with b.if_else(b.icmp_signed(">=", work, limit)) as (then, otherwise):
        with then, gil_released(module, b):
            b.call(fn, args)
        with otherwise:
            b.call(fn, args)


@contextlib.contextmanager
def gil_released(module: ir.Module, b: ir.IRBuilder):
    """The calls emitted inside run without the GIL (PyEval_SaveThread / RestoreThread)."""
    save = declare(module, "PyEval_SaveThread", I8P, [])
    restore = declare(module, "PyEval_RestoreThread", ir.VoidType(), [I8P])
    state = b.call(save, [])
    yield
    b.call(restore, [state])


# --- the team ----------------------------------------------------------------------------


def render_team(module: ir.Module, strided: ir.Function) -> tuple[ir.Value, ir.Function]:
    """The team's state (a global, its address returned by TEAM_STATE_NAME), and the body each
    of the team's threads runs: its share of a JOB's range, through the flat or strided loop."""
    state = ir.GlobalVariable(module, TEAM, "symgraph_team")
    state.initializer = ir.Constant(TEAM, None)
    getter = ir.Function(module, ir.FunctionType(I8P, []), TEAM_STATE_NAME)
    gb = ir.IRBuilder(getter.append_basic_block("entry"))
    gb.ret(gb.bitcast(state, I8P))

    body = ir.Function(module, ir.FunctionType(ir.VoidType(), [I8P]), TEAM_BODY_NAME)
    bb = Builder(body)
    b = bb.b
    job = b.bitcast(body.args[0], JOB.as_pointer())

    def ask(index):  # omp_get_thread_num / omp_get_num_threads
        fn = b.bitcast(bb.member(state, index), OMP_INT_TYPE.as_pointer())
        return b.sext(b.call(fn, []), I64)

    flat, info, lo, hi, shape, data, strides, grain = (bb.member(job, i) for i in range(8))
    thread, threads = ask(1), bb.at_least_one(ask(2))
    share = b.sdiv(b.add(b.sub(hi, lo), b.sub(threads, c64(1))), threads)
    share = b.mul(b.sdiv(b.add(share, b.sub(grain, c64(1))), grain), grain)
    start = b.add(lo, b.mul(thread, share))
    end = b.add(start, share)
    stop = b.select(b.icmp_signed("<", end, hi), end, hi)
    with b.if_then(b.icmp_signed("<", start, stop)):
        with b.if_else(b.icmp_unsigned("!=", flat, ir.Constant(I8P, None))) as (then, otherwise):
            with then:
                b.call(b.bitcast(flat, FLAT_TYPE.as_pointer()), [start, stop, data])
            with otherwise:
                b.call(strided, [info, start, stop, shape, data, strides])
    b.ret_void()
    return state, body


# --- the entry ---------------------------------------------------------------------------


class _Entry(Builder):
    """symgraph_kernel_entry: checks the operands, then runs the kernel's flat loop on
    C-contiguous operands, else the shared strided loop; a reduction's output is first set to
    the identity (the kernel's init)."""

    def __init__(self, module: ir.Module, strided: ir.Function):
        fn = ir.Function(module, ir.FunctionType(I8P, [I8P, I8P.as_pointer(), I64]), ENTRY_NAME)
        super().__init__(fn)
        self.module = module
        self.strided = strided
        self.team, self.team_body = render_team(module, strided)
        self.off = abi()
        self.from_long = declare(module, "PyLong_FromLongLong", I8P, [I64])
        self.returns = {code: self._returns(code) for code in (1, 2, 3)}

    def _returns(self, code: int) -> ir.Block:
        block = self.fn.append_basic_block(f"return{code}")
        with self.b.goto_block(block):
            self.b.ret(self.b.call(self.from_long, [c64(code)]))
        return block

    def obj_field(self, obj: ir.Value, name: str, ty: ir.Type) -> ir.Value:
        ptr = self.b.gep(obj, [c64(self.off[name])])
        return self.b.load(self.b.bitcast(ptr, ty.as_pointer()))

    def dims(self, obj: ir.Value) -> ir.Value:
        return self.obj_field(obj, "dims", I64.as_pointer())

    def elem_stride(self, obj: ir.Value, axis: ir.Value, itemsize: ir.Value) -> ir.Value:
        """The stride of `obj` on `axis` in elements, 0 where the size is 1."""
        b = self.b
        size = self.at(self.dims(obj), axis)
        stride = b.sdiv(self.at(self.obj_field(obj, "strides", I64.as_pointer()), axis), itemsize)
        return b.select(b.icmp_signed("==", size, c64(1)), c64(0), stride)

    def split(self, n: ir.Value) -> tuple[ir.Value, ir.Value]:
        """[n * part / nparts, n * (part + 1) / nparts)."""
        b = self.b
        lo = b.sdiv(b.mul(n, self.part), self.nparts)
        hi = b.sdiv(b.mul(n, b.add(self.part, c64(1))), self.nparts)
        return lo, hi

    def render(self) -> None:
        b = self.b
        self_obj, args, nargs = self.fn.args
        self_obj.name, args.name, nargs.name = "self", "args", "nargs"
        items = b.bitcast(b.gep(self_obj, [c64(self.off["tuple_items"])]), I8P.as_pointer())
        # the info is the content of the bytes object self[1]
        info_bytes = b.gep(self.at(items, 1), [c64(self.off["bytes_data"])])
        self.info = b.bitcast(info_bytes, INFO.as_pointer())
        # each field is loaded once, where its path first needs it (a call reads ~10)
        self.fields: dict[str, ir.Value] = {}
        self.load_fields("nin", "nout", "ndim", "reduce", "naxes")
        nin = self.nin = b.sext(self.fields["nin"], I64)
        nops = self.nops = b.add(nin, b.sext(self.fields["nout"], I64))
        nd = self.nd = b.sext(self.fields["ndim"], I64)
        reduce = self.reduce = b.icmp_signed("!=", self.fields["reduce"], ir.Constant(I32, 0))

        # the argument count, then the optional (part, nparts)
        with_parts = self.with_parts = b.icmp_signed("==", nargs, b.add(nops, c64(2)))
        self.require(
            b.or_(with_parts, b.icmp_signed("==", nargs, nops)), self.returns[1], "nargs_ok"
        )
        as_long = declare(self.module, "PyLong_AsLongLong", I64, [I8P])
        pre = b.block
        parts_bb, after = (self.fn.append_basic_block(n) for n in ("parts", "parts_done"))
        b.cbranch(with_parts, parts_bb, after)
        b.position_at_end(parts_bb)
        part_v = b.call(as_long, [self.at(args, nops)])
        nparts_v = b.call(as_long, [self.at(args, b.add(nops, c64(1)))])
        b.branch(after)
        b.position_at_end(after)
        self.part, self.nparts = b.phi(I64, name="part"), b.phi(I64, name="nparts")
        for phi, value in ((self.part, part_v), (self.nparts, nparts_v)):
            phi.add_incoming(c64(0 if phi is self.part else 1), pre)
            phi.add_incoming(value, parts_bb)
        in_range = b.and_(
            b.icmp_signed(">=", self.part, c64(0)), b.icmp_signed("<", self.part, self.nparts)
        )
        self.require(in_range, self.returns[1], "parts_ok")

        # types, dtypes, ranks, flags; the type before any ndarray field (an operand may be a
        # small object, a Python float, whose memory ends before those fields)
        ndarray = self.at(items, 0)
        naxes = b.sext(self.fields["naxes"], I64)
        ops = self.ops = b.alloca(I8P, size=nops, name="ops")
        with self.loop(c64(0), nops, "k") as k:
            obj = self.at(args, k)
            self.require(
                b.icmp_unsigned("==", self.obj_field(obj, "ob_type", I8P), ndarray),
                self.returns[1],
                "is_ndarray",
            )
            output = b.icmp_signed(">=", k, nin)
            rank = b.select(b.and_(output, reduce), b.sub(nd, naxes), nd)
            need_out = b.select(reduce, ir.Constant(I32, WRITEABLE | C_CONTIGUOUS),
                                ir.Constant(I32, WRITEABLE))
            need = b.or_(ir.Constant(I32, ALIGNED), b.select(output, need_out, ir.Constant(I32, 0)))
            flags = self.obj_field(obj, "flags", I32)
            ok = b.and_(
                b.icmp_unsigned("==", self.obj_field(obj, "descr", I8P),
                                self.at(items, b.add(k, c64(2)))),
                b.icmp_signed("==", b.sext(self.obj_field(obj, "nd", I32), I64), rank),
            )
            ok = b.and_(ok, b.icmp_signed("==", b.and_(flags, need), need))
            self.require(ok, self.returns[1], "operand_ok")
            self.put(obj, ops, k)

        self.shape = b.alloca(I64, size=b.add(nd, c64(1)), name="shape")
        self.put(c64(1), self.shape, 0)  # the rows of a 0-d loop: one
        self.strides = b.alloca(I64, size=b.add(b.mul(nops, nd), c64(1)), name="strides")
        self.data = b.alloca(I8P, size=nops, name="data")
        with b.if_else(reduce) as (then, otherwise):
            with then:
                self.reduction()
            with otherwise:
                self.elemwise()
        b.ret(b.call(self.from_long, [c64(0)]))

    def load_fields(self, *names: str) -> None:
        """Load these sg_kernel_info fields here (the values serve this block and those it
        dominates: each path of the entry loads its own)."""
        self.fields.update({name: self.field(self.info, name) for name in names})

    def _bcast(self, k: ir.Value, d: ir.Value) -> ir.Value:
        b = self.b
        return self.flag(self.fields["bcast"], b.add(b.mul(k, self.nd), d))

    def team_fork(self, work: ir.Value) -> tuple[ir.Value, tuple]:
        """(whether this call runs its loop on the team, (the team's fork function, its thread
        count)): there is a team (llvm_abi.use_team sets none of one thread), the work reaches
        its least, and no caller split it."""
        b = self.b
        fork, threads = self.member(self.team, 0), self.member(self.team, 4)
        usable = b.and_(b.icmp_unsigned("!=", fork, ir.Constant(I8P, None)),
                        b.icmp_signed(">=", work, self.member(self.team, 3)))
        return b.and_(usable, b.not_(self.with_parts)), (fork, threads)

    def _run(self, work: ir.Value, team: tuple, flat: ir.Value | None, args: list,
             grain: int = 1) -> None:
        """The loop over `args` (flat's when given, else the strided one's): on the team when
        `team` says so, else on this thread (without the GIL when the work is large)."""
        b = self.b
        on_team, (fork, threads) = team
        fn = self.strided if flat is None else flat
        with b.if_else(on_team) as (then, otherwise):
            with then:
                if flat is None:
                    info, lo, hi, shape, data, strides = args
                    loop = ir.Constant(I8P, None)
                else:
                    (lo, hi, data), loop = args, b.bitcast(flat, I8P)
                    info, shape, strides = (ir.Constant(t, None) for t in (I8P, JOB.elements[4],
                                                                           JOB.elements[6]))
                with b.goto_block(self.entry):  # one slot per call, not per pass
                    b.position_at_start(self.entry)
                    job = b.alloca(JOB, name="job")
                for index, value in enumerate([loop, info, lo, hi, shape, data, strides,
                                               c64(grain)]):
                    b.store(value, b.gep(job, [ir.Constant(I32, 0), ir.Constant(I32, index)]))
                with gil_released(self.module, b):
                    b.call(b.bitcast(fork, FORK_TYPE.as_pointer()),
                           [self.team_body, b.bitcast(job, I8P), threads, ir.Constant(I32, 0)])
            with otherwise:
                call_released(self.module, b, work, fn, args, self.fields["gil_release_min"])

    def elemwise(self) -> None:
        b, nops, nd, info = self.b, self.nops, self.nd, self.info
        self.load_fields("bcast", "scalar", "parallel_min", "gil_release_min", "flat", "itemsize")
        out = self.at(self.ops, self.nin)  # the first output defines the shape
        n = self.var(I64, c64(1), "n")
        with self.loop(c64(0), nd, "d") as d:
            size = self.at(self.dims(out), d)
            self.put(size, self.shape, d)
            b.store(b.mul(b.load(n), size), n)
        # sizes (an axis of static size 1 has size 1: for an output, one that every input
        # broadcasts), and whether the flat loop takes them all: C-contiguous, and no row
        # broadcast down a matrix, but for operands read once
        contiguous = self.var(I1, ir.Constant(I1, 1), "contiguous")
        bcast, scalar = self.fields["bcast"], self.fields["scalar"]
        with self.loop(c64(0), nops, "k") as k:
            obj = self.at(self.ops, k)
            dims = self.dims(obj)
            once = self.flag(scalar, k)
            flags = self.obj_field(obj, "flags", I32)
            c_order = b.icmp_unsigned("!=", b.and_(flags, ir.Constant(I32, C_CONTIGUOUS)),
                                      ir.Constant(I32, 0))
            ok = self.var(I1, b.or_(once, c_order), "ok")
            with self.loop(c64(0), nd, "d") as d:
                pinned = self.flag(bcast, b.add(b.mul(k, nd), d))
                extent = self.at(self.shape, d)
                want = b.select(pinned, c64(1), extent)
                self.require(b.icmp_signed("==", self.at(dims, d), want), self.returns[2],
                             "size_ok")
                spread = b.and_(pinned, b.icmp_signed("!=", extent, c64(1)))
                b.store(b.and_(b.load(ok), b.not_(b.and_(spread, b.not_(once)))), ok)
            b.store(b.and_(b.load(contiguous), b.load(ok)), contiguous)
            self.put(self.obj_field(obj, "data", I8P), self.data, k)
        n = b.load(n)
        team = self.team_fork(b.select(b.icmp_signed(">", nd, c64(0)), n, c64(0)))
        big = b.icmp_signed(">=", n, self.fields["parallel_min"])
        split = b.and_(b.and_(b.icmp_signed(">", nd, c64(0)), big), b.not_(self.with_parts))
        self.require(b.not_(b.and_(split, b.not_(team[0]))), self.returns[3], "single_ok")
        with b.if_else(b.load(contiguous)) as (then, otherwise):
            with then:
                lo, hi = self.split(n)
                self._run(b.sub(hi, lo), team, self.fields["flat"], [lo, hi, self.data],
                          grain=FLAT_GRAIN)
            with otherwise:
                itemsize = self.fields["itemsize"]
                with self.loop(c64(0), nops, "k") as k:
                    obj = self.at(self.ops, k)
                    with self.loop(c64(0), nd, "d") as d:
                        stride = self.elem_stride(obj, d, self.at(itemsize, k))
                        self.put(stride, self.strides, b.add(b.mul(k, nd), d))
                self.merge_axes()
                rows = self.at(self.shape, 0)  # nd > 0: a 0-d operand is C-contiguous
                lo, hi = self.split(rows)
                work = b.mul(b.sdiv(n, self.at_least_one(rows)), b.sub(hi, lo))
                args = [b.bitcast(info, I8P), lo, hi, self.shape, self.data, self.strides]
                self._run(work, team, None, args)

    def merge_axes(self, reduced: ir.Value | None = None) -> None:
        """Fold axes into the innermost one while every operand steps through them as through
        one longer axis (stride[d] == stride[inner] * shape[inner]), and, in a reduction, both
        are reduced or both kept (`reduced`: the info's flags): the folded axis keeps size 1.
        So the strided loop's rows are as long as the layout allows: (64, 32, 26, 26) plus a
        per-channel bias runs 2,048 rows of 676 elements, not 53,248 of 26 (each row costs the
        loop ~50 ns). Axis 0 stays: the threads split it. The reduction's output strides alone
        do not keep the two kinds apart: on a kept axis of size 1 the output's stride is 0, as
        on a reduced one, and an input broadcast by its strides (np.broadcast_to) fits both."""
        b, nd, nops = self.b, self.nd, self.nops
        inner = self.var(I64, b.sub(nd, c64(1)), "inner")
        with self.loop(c64(2), nd, "j") as j:  # d = nd - j: from nd - 2 down to 1
            d = b.sub(nd, j)
            size = self.at(self.shape, d)
            into = b.load(inner)
            extent = self.at(self.shape, into)
            alike = ir.Constant(I1, 1)
            if reduced is not None:
                alike = b.icmp_unsigned("==", self.flag(reduced, d), self.flag(reduced, into))
            fits = self.var(I1, alike, "fits")
            with self.loop(c64(0), nops, "k") as k:
                row = b.mul(k, nd)
                step = self.at(self.strides, b.add(row, into))
                same = b.icmp_signed("==", self.at(self.strides, b.add(row, d)),
                                     b.mul(step, extent))
                b.store(b.and_(b.load(fits), same), fits)
            single = b.icmp_signed("==", size, c64(1))  # any strides: nothing to fold
            with b.if_else(b.or_(b.load(fits), single)) as (then, otherwise):
                with then:
                    self.put(b.mul(extent, size), self.shape, into)
                    self.put(c64(1), self.shape, d)
                with otherwise:
                    b.store(d, inner)

    def reduction(self) -> None:
        b, nin, nd, info = self.b, self.nin, self.nd, self.info
        self.load_fields("bcast", "itemsize", "reduced", "empty_is_error", "parallel_min",
                         "gil_release_min", "init")
        out = self.at(self.ops, nin)
        itemsize = self.fields["itemsize"]
        reduced_axes = self.fields["reduced"]
        total, out_size = self.var(I64, c64(1), "total"), self.var(I64, c64(1), "out_size")
        m = self.var(I64, c64(0), "m")
        empty_is_error = b.icmp_signed("!=", self.fields["empty_is_error"],
                                       ir.Constant(I32, 0))
        with self.loop(c64(0), nd, "a") as a:  # the loop shape: the inputs' broadcast shape
            size_a = self.var(I64, c64(-1), "size")
            with self.loop(c64(0), nin, "k") as k:
                size = self.at(self.dims(self.at(self.ops, k)), a)
                known = b.load(size_a)
                fits = b.select(
                    self._bcast(k, a),
                    b.icmp_signed("==", size, c64(1)),
                    b.or_(b.icmp_signed("<", known, c64(0)), b.icmp_signed("==", size, known)),
                )
                self.require(fits, self.returns[2], "size_ok")
                keep = b.or_(self._bcast(k, a), b.icmp_signed(">=", known, c64(0)))
                b.store(b.select(keep, known, size), size_a)
                stride = self.elem_stride(self.at(self.ops, k), a, self.at(itemsize, k))
                self.put(stride, self.strides, b.add(b.mul(k, nd), a))
            known = b.load(size_a)
            size = b.select(b.icmp_signed("<", known, c64(0)), c64(1), known)
            self.put(size, self.shape, a)
            b.store(b.mul(b.load(total), size), total)
            out_at = b.add(b.mul(nin, nd), a)
            with b.if_else(self.flag(reduced_axes, a)) as (then, otherwise):
                with then:  # max of nothing raises in numpy
                    empty = b.and_(empty_is_error, b.icmp_signed("==", size, c64(0)))
                    self.require(b.not_(empty), self.returns[2], "nonempty_ok")
                    self.put(c64(0), self.strides, out_at)
                with otherwise:
                    mm = b.load(m)
                    self.require(
                        b.icmp_signed("==", self.at(self.dims(out), mm), size),
                        self.returns[2], "out_size_ok",
                    )
                    stride = self.elem_stride(out, mm, self.at(itemsize, nin))
                    self.put(stride, self.strides, out_at)
                    b.store(b.mul(b.load(out_size), size), out_size)
                    b.store(b.add(mm, c64(1)), m)
        # a slice of axis 0 owns its rows of the output only when axis 0 is kept
        reduced0 = self.flag(reduced_axes, c64(0))
        self.require(
            b.not_(b.and_(b.icmp_signed("!=", self.nparts, c64(1)), reduced0)),
            self.returns[2], "split_ok",
        )
        total, out_size = b.load(total), b.load(out_size)
        on_team, fork = self.team_fork(total)
        team = (b.and_(on_team, b.not_(reduced0)), fork)  # threads own rows of the output
        big = b.icmp_signed(">=", total, self.fields["parallel_min"])
        split = b.and_(b.and_(b.not_(reduced0), big), b.not_(self.with_parts))
        self.require(b.not_(b.and_(split, b.not_(team[0]))), self.returns[3], "single_ok")
        with self.loop(c64(0), b.add(nin, c64(1)), "k") as k:
            self.put(self.obj_field(self.at(self.ops, k), "data", I8P), self.data, k)
        self.merge_axes(reduced_axes)
        rows = self.at(self.shape, 0)
        lo, hi = self.split(rows)
        out_data = self.at(self.data, nin)
        init = self.fields["init"]
        with b.if_else(reduced0) as (then, otherwise):
            with then:
                b.call(init, [out_data, c64(0), out_size])
            with otherwise:  # the output is C-contiguous: this slice's rows are one range
                inner = b.sdiv(out_size, self.at_least_one(rows))
                b.call(init, [out_data, b.mul(lo, inner), b.mul(hi, inner)])
        work = b.mul(b.sdiv(total, self.at_least_one(rows)), b.sub(hi, lo))
        args = [b.bitcast(info, I8P), lo, hi, self.shape, self.data, self.strides]
        self._run(work, team, None, args)


def render_runtime() -> str:
    """The LLVM IR of the entry and the strided loop (one module)."""
    from symgraph.codegen import llvm_jit
    from symgraph.codegen.llvm_strided import render_strided

    module = ir.Module(name="symgraph_kernel_runtime")
    module.triple = llvm_jit.target_triple()
    module.data_layout = llvm_jit.data_layout()
    strided = render_strided(module)
    _Entry(module, strided).render()
    for fn in module.functions:
        if not fn.is_declaration:
            llvm_jit.set_kernel_attributes(fn)
            # Compiled without optimization (llvm_abi), by a level-0 code generator: ~6 ms,
            # where O3 took ~150 ms and a kernel call through it measured the same within
            # noise (48-51 against 44-48 ns); so did the strided loop, whose work is in the
            # kernel's row.
            for attr in ("nounwind", "noinline", "optnone"):
                fn.attributes.add(attr)
    return str(module)
