"""The Python entry point of a kernel: a JIT-compiled METH_FASTCALL builtin function.

Calling a kernel through a foreign-function interface costs microseconds per call (ctypes
converts every argument; cffi's ``from_buffer`` alone is ~0.3-0.5 us an array). Instead each
kernel module carries ``<name>_call(self, args, nargs)``, which Python calls like any builtin
(~50 ns): it reads the ndarrays' fields directly, checks them, and calls the flat or the
strided kernel. ``call(*inputs, *outputs[, part, nparts])`` returns

- 0: done (``part`` of ``nparts`` equal slices of the work, when given);
- 1: an operand is not a plain aligned ndarray of the kernel's dtype and rank (or an output is
  not writeable / not C-contiguous): the caller normalizes it and calls again;
- 2: the shapes do not fit together (or max / min meets an empty axis): the caller raises the
  error the numpy reference gives;
- 3: (called without ``part, nparts``) the work is large enough to split across threads.

The GIL is released around large loops, so slices run in parallel on Python threads.

The field offsets of ndarray and tuple objects are numpy's and CPython's public struct layouts;
`abi()` verifies them on live objects at start-up rather than trusting them.
"""

from __future__ import annotations

import functools

import llvmlite.ir as ir
import numpy as np

from symgraph.codegen.kernel import Kernel, reduce_identity
from symgraph.codegen.llvm import loop  # llvm.py imports this module lazily
from symgraph.codegen.llvm_abi import (  # noqa: F401  (re-exported: the ABI's constants)
    ALIGNED,
    C_CONTIGUOUS,
    GIL_RELEASE_MIN,
    METH_FASTCALL,
    PARALLEL_MIN,
    WRITEABLE,
    ABIError,
    abi,
    make_entry,
)
from symgraph.codegen.llvm_scalar import constant, ll_type

I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
I8P = I8.as_pointer()


# --- the IR ------------------------------------------------------------------------------


class _Fields:
    """Loads of PyObject fields for one builder."""

    def __init__(self, b: ir.IRBuilder):
        self.b = b
        self.off = abi()

    def at(self, obj: ir.Value, field: str, ty: ir.Type) -> ir.Value:
        ptr = self.b.gep(obj, [ir.Constant(I64, self.off[field])])
        return self.b.load(self.b.bitcast(ptr, ty.as_pointer()))

    def item(self, base: ir.Value, index: ir.Value | int) -> ir.Value:
        """base[index] for an i64* base."""
        idx = index if isinstance(index, ir.Value) else ir.Constant(I64, index)
        return self.b.load(self.b.gep(base, [idx]))


def _declare(module: ir.Module, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
    fn = module.globals.get(name)
    return fn if fn is not None else ir.Function(module, ir.FunctionType(ret, args), name)


def render_entry(module: ir.Module, kernel: Kernel) -> None:
    """`<name>_call`: check the operands, split the work, call the flat or strided kernel."""
    ops = list(kernel.inputs) + list(kernel.outputs)
    nin, nops, nd = len(kernel.inputs), len(ops), kernel.ndim
    fn = ir.Function(
        module, ir.FunctionType(I8P, [I8P, I8P.as_pointer(), I64]), f"{kernel.name}_call"
    )
    fn.args[0].name, fn.args[1].name, fn.args[2].name = "self", "args", "nargs"
    # Straight-line checks that run once a call: optimizing them cost ~2/3 of the entry's LLVM
    # time and a third of a small kernel's (measured ~15 ms a kernel), for ~10-30 ns a call.
    fn.attributes.add("optnone")
    fn.attributes.add("noinline")
    from_long = _declare(module, "PyLong_FromLongLong", I8P, [I64])
    as_long = _declare(module, "PyLong_AsLongLong", I64, [I8P])
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    f = _Fields(b)
    self, args, nargs = fn.args
    true = ir.Constant(ir.IntType(1), 1)

    def returns(code: int) -> ir.Block:
        block = fn.append_basic_block(f"return{code}")
        with b.goto_block(block):
            b.ret(b.call(from_long, [ir.Constant(I64, code)]))
        return block

    ret_bad_type, ret_bad_shape, ret_split = returns(1), returns(2), returns(3)

    def require(cond: ir.Value, otherwise: ir.Block, name: str) -> None:
        ok = fn.append_basic_block(name)
        b.cbranch(cond, ok, otherwise)
        b.position_at_end(ok)

    # the argument count, then the optional (part, nparts)
    with_parts = b.icmp_signed("==", nargs, ir.Constant(I64, nops + 2))
    require(
        b.or_(with_parts, b.icmp_signed("==", nargs, ir.Constant(I64, nops))),
        ret_bad_type,
        "nargs_ok",
    )
    parts_bb, after_bb, pre_bb = (
        fn.append_basic_block("parts"),
        fn.append_basic_block("checks"),
        b.block,
    )
    b.cbranch(with_parts, parts_bb, after_bb)
    b.position_at_end(parts_bb)
    part_v = b.call(as_long, [b.load(b.gep(args, [ir.Constant(I64, nops)]))])
    nparts_v = b.call(as_long, [b.load(b.gep(args, [ir.Constant(I64, nops + 1)]))])
    b.branch(after_bb)
    b.position_at_end(after_bb)
    part = b.phi(I64, name="part")
    part.add_incoming(ir.Constant(I64, 0), pre_bb)
    part.add_incoming(part_v, parts_bb)
    nparts = b.phi(I64, name="nparts")
    nparts.add_incoming(ir.Constant(I64, 1), pre_bb)
    nparts.add_incoming(nparts_v, parts_bb)
    require(
        b.and_(b.icmp_signed(">=", part, ir.Constant(I64, 0)), b.icmp_signed("<", part, nparts)),
        ret_bad_type,
        "parts_ok",
    )

    def split_later(work: ir.Value) -> None:
        """Return 3 when called without a slice and `work` is worth threads."""
        big = b.icmp_signed(">=", work, ir.Constant(I64, PARALLEL_MIN))
        require(b.not_(b.and_(big, b.not_(with_parts))), ret_split, "single_ok")

    # types, dtypes, ranks, flags
    self_items = b.bitcast(b.gep(self, [ir.Constant(I64, f.off["tuple_items"])]), I8P.as_pointer())
    ndarray_type = b.load(self_items)
    objs, data, dims, strides, flags = [], [], [], [], []
    ok = true
    for k in range(nops):
        obj = b.load(b.gep(args, [ir.Constant(I64, k)]), name=f"op{k}")
        # The type is checked before any ndarray field is read: an operand may be a small
        # object (a Python float, a numpy scalar) whose memory ends before those fields.
        require(
            b.icmp_unsigned("==", f.at(obj, "ob_type", I8P), ndarray_type),
            ret_bad_type,
            f"is_ndarray{k}",
        )
        rank = nd if (k < nin or kernel.kind == "elemwise") else nd - len(kernel.axes)
        descr = b.load(b.gep(self_items, [ir.Constant(I64, 1 + k)]))
        ok = b.and_(ok, b.icmp_unsigned("==", f.at(obj, "descr", I8P), descr))
        ok = b.and_(ok, b.icmp_signed("==", f.at(obj, "nd", I32), ir.Constant(I32, rank)))
        objs.append(obj)
        flags.append(f.at(obj, "flags", I32))
    for k in range(nops):
        need = ALIGNED | (WRITEABLE if k >= nin else 0)
        need |= C_CONTIGUOUS if (k >= nin and kernel.kind == "reduce") else 0
        masked = b.and_(flags[k], ir.Constant(I32, need))
        ok = b.and_(ok, b.icmp_signed("==", masked, ir.Constant(I32, need)))
    require(ok, ret_bad_type, "types_ok")
    for obj in objs:
        data.append(f.at(obj, "data", I8P))
        dims.append(f.at(obj, "dims", I64.as_pointer()))
        strides.append(f.at(obj, "strides", I64.as_pointer()))

    if kernel.kind == "elemwise":
        _elemwise_call(
            module,
            kernel,
            b,
            f,
            data,
            dims,
            strides,
            flags,
            part,
            nparts,
            ret_bad_shape,
            require,
            split_later,
        )
    else:
        _reduce_call(
            module,
            kernel,
            b,
            f,
            data,
            dims,
            strides,
            part,
            nparts,
            ret_bad_shape,
            require,
            split_later,
        )
    b.ret(b.call(from_long, [ir.Constant(I64, 0)]))


def _split(b: ir.IRBuilder, n: ir.Value, part: ir.Value, nparts: ir.Value):
    """[n * part / nparts, n * (part + 1) / nparts)."""
    lo = b.sdiv(b.mul(n, part), nparts)
    hi = b.sdiv(b.mul(n, b.add(part, ir.Constant(I64, 1))), nparts)
    return lo, hi


def call_released(
    module: ir.Module,
    b: ir.IRBuilder,
    work: ir.Value,
    fn: ir.Value,
    args: list,
    threshold: int = GIL_RELEASE_MIN,
) -> None:
    """fn(*args), without the GIL when `work` (an i64) is at least `threshold` (so slices, or
    other Python threads, can run in parallel). Also the BLAS entries' call (blas_entry.py)."""
    save = _declare(module, "PyEval_SaveThread", I8P, [])
    restore = _declare(module, "PyEval_RestoreThread", ir.VoidType(), [I8P])
    big = b.icmp_signed(">=", work, ir.Constant(I64, threshold))
    with b.if_else(big) as (then, otherwise):
        with then:
            state = b.call(save, [])
            b.call(fn, args)
            b.call(restore, [state])
        with otherwise:
            b.call(fn, args)


def _kernel_fn(module: ir.Module, name: str, args: list[ir.Type]) -> ir.Function:
    return (
        module.globals[name]
        if name in module.globals
        else ir.Function(module, ir.FunctionType(ir.VoidType(), args), name)
    )


def _strided_arrays(b: ir.IRBuilder, shape: list, rows: list[list]) -> tuple:
    """Stack arrays (shape, data, strides) for the strided kernel."""
    nd = len(shape)
    shape_arr = b.alloca(I64, size=max(nd, 1), name="shape")
    for d, v in enumerate(shape):
        b.store(v, b.gep(shape_arr, [ir.Constant(I64, d)]))
    strides_arr = b.alloca(I64, size=max(len(rows) * nd, 1), name="strides")
    for k, row in enumerate(rows):
        for d, v in enumerate(row):
            b.store(v, b.gep(strides_arr, [ir.Constant(I64, k * nd + d)]))
    return shape_arr, strides_arr


def _elem_stride(b: ir.IRBuilder, f: _Fields, dims, strides, axis: int, itemsize: int):
    """The stride in elements on `axis`, 0 where the size is 1 (broadcast or not)."""
    size = f.item(dims, axis)
    st = b.sdiv(f.item(strides, axis), ir.Constant(I64, itemsize))
    return b.select(b.icmp_signed("==", size, ir.Constant(I64, 1)), ir.Constant(I64, 0), st)


def _itemsize(dtype: str) -> int:
    return np.dtype(dtype).itemsize


def _data_array(b: ir.IRBuilder, data: list) -> ir.Value:
    arr = b.alloca(I8P, size=len(data), name="data")
    for k, d in enumerate(data):
        b.store(d, b.gep(arr, [ir.Constant(I64, k)]))
    return arr


def _elemwise_call(
    module, kernel, b, f, data, dims, strides, flags, part, nparts, bad_shape, require, split_later
) -> None:
    ops = list(kernel.inputs) + list(kernel.outputs)
    nin, nd = len(kernel.inputs), kernel.ndim
    out = nin  # the first output defines the shape
    one = ir.Constant(I64, 1)
    ok = ir.Constant(ir.IntType(1), 1)
    shape = [f.item(dims[out], d) for d in range(nd)]
    for k, o in enumerate(ops):
        for d in range(nd):
            if k == out:
                continue
            size = f.item(dims[k], d)
            want = one if (k < nin and o.bcast[d]) else shape[d]
            ok = b.and_(ok, b.icmp_signed("==", size, want))
    for d in range(nd):
        if all(o.bcast[d] for o in kernel.inputs):
            ok = b.and_(ok, b.icmp_signed("==", shape[d], one))
    require(ok, bad_shape, "shapes_ok")
    n = one
    for v in shape:
        n = b.mul(n, v)
    if nd:
        split_later(n)
    flat = _kernel_fn(module, f"{kernel.name}_flat", [I64, I64] + [I8P] * len(ops))
    if nd == 0:  # one element: every 0-d array is contiguous, so there is no strided kernel
        lo, hi = _split(b, n, part, nparts)
        call_released(module, b, b.sub(hi, lo), flat, [lo, hi] + data)
        return
    contiguous = ir.Constant(ir.IntType(1), 1)
    for k, o in enumerate(ops):
        if not (k < nin and o.is_scalar):
            bit = b.and_(flags[k], ir.Constant(I32, C_CONTIGUOUS))
            contiguous = b.and_(contiguous, b.icmp_signed("!=", bit, ir.Constant(I32, 0)))
        for d in range(nd):  # a row broadcast down a matrix is not one flat range
            if k < nin and o.bcast[d] and not o.is_scalar:
                contiguous = b.and_(contiguous, b.icmp_signed("==", shape[d], one))
    strided = _kernel_fn(
        module,
        f"{kernel.name}_strided",
        [I64, I64, I64.as_pointer(), I8P.as_pointer(), I64.as_pointer()],
    )
    with b.if_else(contiguous) as (then, otherwise):
        with then:
            lo, hi = _split(b, n, part, nparts)
            call_released(module, b, b.sub(hi, lo), flat, [lo, hi] + data)
        with otherwise:
            rows = [
                [_elem_stride(b, f, dims[k], strides[k], d, _itemsize(o.dtype)) for d in range(nd)]
                for k, o in enumerate(ops)
            ]
            shape_arr, strides_arr = _strided_arrays(b, shape, rows)
            lo, hi = _split(b, shape[0], part, nparts)
            rows_total = b.select(b.icmp_signed(">", shape[0], ir.Constant(I64, 0)), shape[0], one)
            work = b.sdiv(b.mul(n, b.sub(hi, lo)), rows_total)
            call_released(
                module, b, work, strided, [lo, hi, shape_arr, _data_array(b, data), strides_arr]
            )


def _reduce_call(
    module, kernel, b, f, data, dims, strides, part, nparts, bad_shape, require, split_later
) -> None:
    nd, axes, nin = kernel.ndim, kernel.axes, len(kernel.inputs)
    kept = [a for a in range(nd) if a not in axes]
    one, zero = ir.Constant(I64, 1), ir.Constant(I64, 0)
    ok = ir.Constant(ir.IntType(1), 1)
    shape = []
    for d in range(nd):  # the loop shape: the inputs' broadcast shape
        sizes = [f.item(dims[k], d) for k, o in enumerate(kernel.inputs) if not o.bcast[d]]
        shape.append(sizes[0] if sizes else one)
        ok = functools.reduce(
            lambda acc, s: b.and_(acc, b.icmp_signed("==", s, shape[d])), sizes[1:], ok
        )
        for k, o in enumerate(kernel.inputs):
            if o.bcast[d]:
                ok = b.and_(ok, b.icmp_signed("==", f.item(dims[k], d), one))
    for m, a in enumerate(kept):
        ok = b.and_(ok, b.icmp_signed("==", f.item(dims[nin], m), shape[a]))
    if kernel.reduce_op in ("maximum", "minimum"):  # numpy raises on an empty axis
        for a in axes:
            ok = b.and_(ok, b.icmp_signed(">", shape[a], zero))
    require(ok, bad_shape, "shapes_ok")
    # a slice of axis 0 owns its rows of the output only when axis 0 is kept
    require(
        b.or_(
            b.icmp_signed("==", nparts, one), ir.Constant(ir.IntType(1), int(0 in kept and nd > 0))
        ),
        bad_shape,
        "split_ok",
    )
    out_dtype = kernel.outputs[0].dtype
    rows = [
        [_elem_stride(b, f, dims[k], strides[k], d, _itemsize(o.dtype)) for d in range(nd)]
        for k, o in enumerate(kernel.inputs)
    ]
    out_row, m = [], 0
    for a in range(nd):
        if a in axes:
            out_row.append(zero)
        else:
            out_row.append(_elem_stride(b, f, dims[nin], strides[nin], m, _itemsize(out_dtype)))
            m += 1
    out_size = one
    for a in kept:
        out_size = b.mul(out_size, shape[a])
    total = one
    for v in shape:
        total = b.mul(total, v)
    if nd and 0 in kept:
        split_later(total)
    lo, hi = _split(b, shape[0] if nd else one, part, nparts)
    # initialize this slice's output elements (the output is C-contiguous) to the identity
    if nd and 0 in kept:
        inner = b.sdiv(out_size, b.select(b.icmp_signed(">", shape[0], zero), shape[0], one))
        init_lo, init_hi = b.mul(lo, inner), b.mul(hi, inner)
    else:
        init_lo, init_hi = zero, out_size
    out_ty = ir.IntType(8) if out_dtype == "bool" else ll_type(out_dtype)
    ident = constant(out_dtype, reduce_identity(kernel.reduce_op, out_dtype))
    if out_dtype == "bool":
        ident = ir.Constant(ir.IntType(8), int(ident.constant))
    base = b.bitcast(data[nin], out_ty.as_pointer())
    with loop(b, init_lo, init_hi, "init") as i:
        b.store(ident, b.gep(base, [i]))
    shape_arr, strides_arr = _strided_arrays(b, shape, rows + [out_row])
    strided = _kernel_fn(
        module,
        f"{kernel.name}_strided",
        [I64, I64, I64.as_pointer(), I8P.as_pointer(), I64.as_pointer()],
    )
    work = (
        b.sdiv(
            b.mul(total, b.sub(hi, lo)), b.select(b.icmp_signed(">", shape[0], zero), shape[0], one)
        )
        if nd
        else one
    )
    call_released(module, b, work, strided, [lo, hi, shape_arr, _data_array(b, data), strides_arr])
