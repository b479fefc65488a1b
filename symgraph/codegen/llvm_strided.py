"""The strided loop shared by the LLVM kernels, in the entry's module (llvm_entry.py).

``symgraph_kernel_strided(info, start, stop, shape, data, strides)`` runs a kernel on any
layout through its row function (``info.flat``: an elementwise kernel's flat loop, a
reduction's row fold): rows whose operands have unit stride (or are read once) are passed to
it in place; the others are gathered into blocks of ``CHUNK`` contiguous elements, computed,
and the outputs scattered back. So every layout runs the kernel's one vectorized loop, and a
kernel's module holds nothing else. Axis 0 runs over rows [start, stop) (elements, when the
kernel is 1-d), the other axes whole; ``strides[k * ndim + d]`` is operand k's stride on axis
d in elements.
"""

from __future__ import annotations

import llvmlite.ir as ir

from symgraph.codegen.llvm_abi import STRIDED_NAME
from symgraph.codegen.llvm_entry import I1, I8, I8P, I32, I64, INFO, Builder, c64

CHUNK = 256  # elements gathered per block: a few KB per operand, in L1
SCRATCH = 1 << 15  # bytes of stack for the gathered blocks


def _render_copy(module: ir.Module) -> ir.Function:
    """``symgraph_copy_strided(dst, dst_step, src, src_step, n, itemsize)``: n elements,
    steps in bytes; one typed loop per common item size, bytes for the others."""
    fn = ir.Function(
        module, ir.FunctionType(ir.VoidType(), [I8P, I64, I8P, I64, I64, I64]),
        "symgraph_copy_strided",
    )
    fn.linkage = "internal"
    f = Builder(fn)
    b = f.b
    dst, dst_step, src, src_step, n, size = fn.args
    done = fn.append_basic_block("done")
    default = fn.append_basic_block("bytes")
    switch = b.switch(size, default)
    for width in (1, 2, 4, 8, 16):
        block = fn.append_basic_block(f"copy{width}")
        switch.add_case(c64(width), block)
        b.position_at_end(block)
        ty = ir.IntType(8 * width).as_pointer()
        with f.loop(c64(0), n, "i") as i:
            s = b.bitcast(b.gep(src, [b.mul(i, src_step)]), ty)
            d = b.bitcast(b.gep(dst, [b.mul(i, dst_step)]), ty)
            b.store(b.load(s, align=min(width, 8)), d, align=min(width, 8))
        b.branch(done)
    b.position_at_end(default)
    with f.loop(c64(0), n, "i") as i:
        with f.loop(c64(0), size, "j") as j:
            s = b.gep(src, [b.add(b.mul(i, src_step), j)])
            b.store(b.load(s), b.gep(dst, [b.add(b.mul(i, dst_step), j)]))
    b.branch(done)
    b.position_at_end(done)
    b.ret_void()
    return fn


def render_strided(module: ir.Module) -> ir.Function:
    """symgraph_kernel_strided: rows [start, stop) of axis 0 (elements, when the kernel is
    1-d), the other axes whole, through the kernel's flat loop (see the module docstring)."""
    fn = ir.Function(
        module,
        ir.FunctionType(ir.VoidType(), [I8P, I64, I64, I64.as_pointer(), I8P.as_pointer(),
                                        I64.as_pointer()]),
        STRIDED_NAME,
    )
    for arg, name in zip(fn.args, ("info", "start", "stop", "shape", "data", "strides")):
        arg.name = name
    f = Builder(fn)
    b = f.b
    raw_info, start, stop, shape, data, strides = fn.args
    info = b.bitcast(raw_info, INFO.as_pointer())
    nin = b.sext(f.field(info, "nin"), I64)
    nops = b.add(nin, b.sext(f.field(info, "nout"), I64))
    nd = b.sext(f.field(info, "ndim"), I64)
    itemsize, scalar = f.field(info, "itemsize"), f.field(info, "scalar")
    flat = f.field(info, "flat")
    reduce = b.icmp_signed("!=", f.field(info, "reduce"), ir.Constant(I32, 0))
    with b.if_then(b.icmp_signed("==", nd, c64(0))):  # one element (a reduction's)
        b.call(flat, [start, stop, data])
        b.ret_void()
    last = b.sub(nd, c64(1))
    length = f.at(shape, last)
    stride = lambda k, d: f.at(strides, b.add(b.mul(k, nd), d))  # noqa: E731
    step = lambda k, d: b.mul(stride(k, d), f.at(itemsize, k))  # noqa: E731  (bytes)

    # which operands a row passes in place, and where the others go in the scratch block:
    # blocks of up to CHUNK elements, fewer when the operands are many (at most SCRATCH bytes)
    direct = b.alloca(I1, size=nops, name="direct")
    place = b.alloca(I64, size=nops, name="place")
    all_direct = f.var(I1, ir.Constant(I1, 1), "all_direct")
    bytes_per_element = f.var(I64, c64(0), "bytes_per_element")
    with f.loop(c64(0), nops, "k") as k:
        # read once: an input of one element, or a reduction's output on a reduced last axis
        inner = stride(k, last)
        fold_into = b.and_(b.and_(reduce, b.icmp_signed(">=", k, nin)),
                           b.icmp_signed("==", inner, c64(0)))
        read_once = b.or_(f.flag(scalar, k), fold_into)
        unit = b.or_(b.icmp_signed("==", inner, c64(1)), b.icmp_signed("==", length, c64(1)))
        in_place = b.or_(read_once, unit)
        f.put(in_place, direct, k)
        gathered = b.select(in_place, c64(0), f.at(itemsize, k))
        b.store(b.add(b.load(bytes_per_element), gathered), bytes_per_element)
        b.store(b.and_(b.load(all_direct), in_place), all_direct)
    all_direct = b.load(all_direct)
    per_element = f.at_least_one(b.load(bytes_per_element))
    room = b.sdiv(b.sub(c64(SCRATCH), b.mul(nops, c64(16))), per_element)
    chunk = b.select(b.icmp_signed("<", room, c64(CHUNK)), room, c64(CHUNK))
    chunk = b.select(b.icmp_signed("<", chunk, c64(1)), c64(1), chunk)
    scratch_size = f.var(I64, c64(0), "scratch_size")
    with f.loop(c64(0), nops, "k") as k:
        f.put(b.load(scratch_size), place, k)
        bytes_ = b.select(f.at(direct, k), c64(0), b.mul(chunk, f.at(itemsize, k)))
        aligned = b.and_(b.add(bytes_, c64(15)), c64(-16))  # every block 16-byte aligned
        b.store(b.add(b.load(scratch_size), aligned), scratch_size)
    scratch = b.alloca(I8, size=b.load(scratch_size), name="scratch")
    scratch.align = 16
    copy = _render_copy(module)
    null = ir.Constant(I8P, None)
    spread_from = b.alloca(I8P, size=nops, name="spread_from")  # what its block holds
    with f.loop(c64(0), nops, "k") as k:
        f.put(null, spread_from, k)
    offsets = b.alloca(I64, size=nops, name="offsets")  # bytes, of the current row
    rows = b.alloca(I8P, size=nops, name="rows")
    block = b.alloca(I8P, size=nops, name="block")

    def row(lo: ir.Value, hi: ir.Value) -> None:
        """Elements [lo, hi) of the row at `offsets`."""
        with f.loop(c64(0), nops, "k") as k:
            f.put(b.gep(f.at(data, k), [f.at(offsets, k)]), rows, k)
        with b.if_else(all_direct) as (then, otherwise):
            with then:
                b.call(flat, [lo, hi, rows])
            with otherwise:
                # a value spread along the row fills what the row's blocks read of it
                spread_n = b.sub(hi, lo)
                spread_n = b.select(b.icmp_signed("<", spread_n, chunk), spread_n, chunk)
                with f.loop(lo, hi, "c", step=chunk) as c:
                    left = b.sub(hi, c)
                    n = b.select(b.icmp_signed("<", left, chunk), left, chunk)
                    with f.loop(c64(0), nops, "k") as k:
                        size, inner = f.at(itemsize, k), step(k, last)
                        here = b.gep(f.at(rows, k), [b.mul(c, inner)])
                        mine = b.gep(scratch, [f.at(place, k)])
                        in_place = f.at(direct, k)
                        f.put(b.select(in_place, here, mine), block, k)
                        # an input broadcast along the row is spread once per value
                        spread = b.icmp_signed("==", inner, c64(0))
                        fresh = b.icmp_unsigned("!=", f.at(spread_from, k), here)
                        gather = b.and_(b.not_(in_place), b.icmp_signed("<", k, nin))
                        with b.if_then(b.and_(gather, b.or_(b.not_(spread), fresh))):
                            count = b.select(spread, spread_n, n)
                            b.call(copy, [mine, size, here, inner, count, size])
                            f.put(b.select(spread, here, null), spread_from, k)
                    b.call(flat, [c64(0), n, block])
                    with f.loop(nin, nops, "k") as k:
                        with b.if_then(b.not_(f.at(direct, k))):
                            size, at = f.at(itemsize, k), b.mul(c, step(k, last))
                            here = b.gep(f.at(rows, k), [at])
                            b.call(copy, [here, step(k, last), f.at(block, k), size, n, size])

    with f.loop(c64(0), nops, "k") as k:
        f.put(c64(0), offsets, k)
    one_axis = b.icmp_signed("==", nd, c64(1))
    with b.if_else(one_axis) as (then, otherwise):
        with then:
            row(start, stop)
        with otherwise:
            # an odometer over axes 0..nd-2, axis 0 over [start, stop)
            index = b.alloca(I64, size=nd, name="index")
            empty = f.var(I1, b.icmp_signed(">=", start, stop), "empty")
            f.put(start, index, 0)
            with f.loop(c64(1), last, "d") as d:
                f.put(c64(0), index, d)
                b.store(b.or_(b.load(empty), b.icmp_signed("==", f.at(shape, d), c64(0))), empty)
            b.store(b.or_(b.load(empty), b.icmp_signed("==", length, c64(0))), empty)
            with f.loop(c64(0), nops, "k") as k:
                f.put(b.mul(start, step(k, c64(0))), offsets, k)
            body = fn.append_basic_block("row")
            carry = fn.append_basic_block("carry")
            nest_done = fn.append_basic_block("rows_done")
            b.cbranch(b.load(empty), nest_done, body)
            b.position_at_end(body)
            row(c64(0), length)
            axis = f.var(I64, b.sub(last, c64(1)), "axis")
            b.branch(carry)
            b.position_at_end(carry)
            d = b.load(axis)
            at = b.add(f.at(index, d), c64(1))
            f.put(at, index, d)
            with f.loop(c64(0), nops, "k") as k:
                f.put(b.add(f.at(offsets, k), step(k, d)), offsets, k)
            outer = b.icmp_signed("==", d, c64(0))
            bound = b.select(outer, stop, f.at(shape, d))
            more = fn.append_basic_block("more")
            b.cbranch(b.icmp_signed("<", at, bound), body, more)
            b.position_at_end(more)
            wrap = fn.append_basic_block("wrap")
            b.cbranch(outer, nest_done, wrap)
            b.position_at_end(wrap)
            with f.loop(c64(0), nops, "k") as k:
                back = b.mul(f.at(shape, d), step(k, d))
                f.put(b.sub(f.at(offsets, k), back), offsets, k)
            f.put(c64(0), index, d)
            b.store(b.sub(d, c64(1)), axis)
            b.branch(carry)
            b.position_at_end(nest_done)
    b.ret_void()
    return fn
