"""Native entries of the Gemm / Gemv steps: operand checks and the CBLAS call in one builtin.

A Gemm through ctypes (codegen/cblas.py) costs ~8 us before any arithmetic: fourteen converted
arguments plus Python-side checks of dtypes, layouts and overlap. That is the time of a
32x64x64 product, and a training step makes hundreds of small ones. As the kernels do
(llvm_entry.py), each function here is a JIT-compiled METH_FASTCALL builtin (~0.2 us a call,
checks included)::

    sgemm(alpha, x, y, beta, z)   # z <- alpha * x @ y + beta * z (matrices, float32)
    dgemv(alpha, A, x, beta, y)   # y <- alpha * A @ x + beta * y (A a matrix, float64)

It reads the ndarray fields itself, checks them, and calls numpy's CBLAS function through a
pointer taken from the library cblas.py found. It returns

- 0: done (z is empty, or BLAS wrote it); called with a sixth argument `source`, z is first
  overwritten with it (see `copy_source`);
- 1: not taken, z untouched: an operand is not a plain aligned ndarray of the entry's dtype
  and rank, z is not writeable, the shapes do not fit, a layout is not one BLAS takes (no unit
  stride in the last two dims, a negative or unaligned stride), z's memory overlaps x's or
  y's, the inner dimension is 0 (BLAS would not scale z by beta), or alpha / beta is not a
  Python float or a 0-d float array. The caller then takes its general path, which gives the
  reference's result or error.

The object code holds no address: the CBLAS pointers are written into its globals after
loading, so it is kept in the disk cache like a kernel's.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from symgraph.codegen import cblas, native_lib
from symgraph.codegen.llvm_abi import (
    ALIGNED,
    METH_FASTCALL,
    WRITEABLE,
    _MethodDef,
    _new_cfunction,
    abi,
)

VERSION = "1"
KINDS = (("gemm", "float32"), ("gemm", "float64"), ("gemv", "float32"), ("gemv", "float64"))
# multiply-adds from which the GIL is released around the BLAS call (~20 us and more)
GIL_RELEASE_WORK = 1 << 18
FLOAT_VALUE = 16  # offset of a Python float's double (PyObject_HEAD, then ob_fval)
_LOCK = threading.Lock()
_BUILT: dict = {}  # (kind, dtype) -> the entry or None, once built


def _name(kind: str, dtype: str) -> str:
    return f"symgraph_blas_{'s' if dtype == 'float32' else 'd'}{kind}"


# --- the IR --------------------------------------------------------------------------------


class _Entry:
    """The IR of one entry: `call(self, args, nargs)`, returning a PyLong code."""

    def __init__(self, module, kind: str, dtype: str, index_bits: int):
        import llvmlite.ir as ir

        self.ir, self.kind, self.dtype = ir, kind, dtype
        self.i1, self.i32, self.i64 = ir.IntType(1), ir.IntType(32), ir.IntType(64)
        self.i8p = ir.IntType(8).as_pointer()
        self.index = ir.IntType(index_bits)
        self.real = ir.FloatType() if dtype == "float32" else ir.DoubleType()
        self.size = np.dtype(dtype).itemsize
        self.off = abi()
        self.module = module
        i8p = self.i8p
        name = _name(kind, dtype)
        self.fn = ir.Function(
            module, ir.FunctionType(i8p, [i8p, i8p.as_pointer(), self.i64]), f"{name}_call"
        )
        # Checks and one call: with optnone LLVM's code generator takes its fast path too
        # (the IR is not optimized anyway): ~45 -> ~25 ms to emit, in a cold compile.
        self.fn.attributes.add("optnone")
        self.fn.attributes.add("noinline")
        self.blas = ir.GlobalVariable(module, i8p, f"{name}_blas")
        self.blas.initializer = ir.Constant(i8p, None)
        self.b = ir.IRBuilder(self.fn.append_basic_block("entry"))
        self.refuse = self._returns(1)

    # small helpers
    def c64(self, v: int):
        return self.ir.Constant(self.i64, v)

    def _declare(self, name: str, ret, args: list):
        fn = self.module.globals.get(name)
        return fn or self.ir.Function(self.module, self.ir.FunctionType(ret, args), name)

    def _returns(self, code: int):
        from_long = self._declare("PyLong_FromLongLong", self.i8p, [self.i64])
        block = self.fn.append_basic_block(f"return{code}")
        with self.b.goto_block(block):
            self.b.ret(self.b.call(from_long, [self.c64(code)]))
        return block

    def require(self, cond, name: str) -> None:
        """Go on when `cond` holds, else return 1."""
        ok = self.fn.append_basic_block(name)
        self.b.cbranch(cond, ok, self.refuse)
        self.b.position_at_end(ok)

    def at(self, obj, offset: int, ty):
        ptr = self.b.gep(obj, [self.c64(offset)])
        return self.b.load(self.b.bitcast(ptr, ty.as_pointer()))

    def field(self, obj, name: str, ty):
        return self.at(obj, self.off[name], ty)

    def item(self, base, k: int):
        return self.b.load(self.b.gep(base, [self.c64(k)]))

    def all(self, *conds):
        return functools.reduce(self.b.and_, conds)

    def cmp(self, op: str, a, b):
        return self.b.icmp_signed(op, a, b if isinstance(b, self.ir.Value) else self.c64(b))

    # operands
    def scalar(self, obj, types: list, k: int):
        """alpha / beta as the entry's float type: a Python float or a 0-d float array."""
        b, ir = self.b, self.ir
        kind = self.field(obj, "ob_type", self.i8p)
        is_float = b.icmp_unsigned("==", kind, types[1])
        self.require(b.or_(is_float, b.icmp_unsigned("==", kind, types[0])), f"scalar{k}")
        from_float, from_array = (self.fn.append_basic_block(f"s{k}_{w}") for w in "fa")
        done = self.fn.append_basic_block(f"s{k}_done")
        b.cbranch(is_float, from_float, from_array)
        b.position_at_end(from_float)
        v_float = self.at(obj, FLOAT_VALUE, ir.DoubleType())
        b.branch(done)
        b.position_at_end(from_array)
        descr = self.field(obj, "descr", self.i8p)
        is32 = b.icmp_unsigned("==", descr, types[2])
        rank0 = b.icmp_signed("==", self.field(obj, "nd", self.i32), ir.Constant(self.i32, 0))
        self.require(
            b.and_(rank0, b.or_(is32, b.icmp_unsigned("==", descr, types[3]))), f"s{k}_dtype"
        )
        data = self.field(obj, "data", self.i8p)
        f32, f64 = (self.fn.append_basic_block(f"s{k}_{w}") for w in ("f32", "f64"))
        b.cbranch(is32, f32, f64)
        b.position_at_end(f32)
        v32 = b.fpext(b.load(b.bitcast(data, ir.FloatType().as_pointer())), ir.DoubleType())
        b.branch(done)
        b.position_at_end(f64)
        v64 = b.load(b.bitcast(data, ir.DoubleType().as_pointer()))
        b.branch(done)
        b.position_at_end(done)
        value = b.phi(ir.DoubleType())
        for v, block in ((v_float, from_float), (v32, f32), (v64, f64)):
            value.add_incoming(v, block)
        return value if self.dtype == "float64" else b.fptrunc(value, self.real)

    def array(self, obj, types: list, rank: int, writeable: bool, k: int) -> dict:
        """An operand's data, dims and byte strides, after checking its type, dtype and flags;
        the type first: a smaller object's memory may end before the ndarray fields."""
        b, ir = self.b, self.ir
        self.require(
            b.icmp_unsigned("==", self.field(obj, "ob_type", self.i8p), types[0]), f"is_ndarray{k}"
        )
        descr = types[2] if self.dtype == "float32" else types[3]
        need = ir.Constant(self.i32, ALIGNED | (WRITEABLE if writeable else 0))
        ok = self.all(
            b.icmp_unsigned("==", self.field(obj, "descr", self.i8p), descr),
            b.icmp_signed("==", self.field(obj, "nd", self.i32), ir.Constant(self.i32, rank)),
            b.icmp_signed("==", b.and_(self.field(obj, "flags", self.i32), need), need),
        )
        self.require(ok, f"operand{k}")
        dims = self.field(obj, "dims", self.i64.as_pointer())
        strides = self.field(obj, "strides", self.i64.as_pointer())
        return {
            "data": self.field(obj, "data", self.i8p),
            "dims": [self.item(dims, d) for d in range(rank)],
            "strides": [self.item(strides, d) for d in range(rank)],
        }

    def extent(self, a: dict) -> tuple:
        """[lo, hi) addresses of a nonempty array's elements."""
        b = self.b
        lo = hi = b.ptrtoint(a["data"], self.i64)
        for n, s in zip(a["dims"], a["strides"]):
            span = b.mul(b.sub(n, self.c64(1)), s)
            neg = self.cmp("<", span, 0)
            lo = b.add(lo, b.select(neg, span, self.c64(0)))
            hi = b.add(hi, b.select(neg, self.c64(0), span))
        return lo, b.add(hi, self.c64(self.size))

    def apart(self, out: dict, *ins: dict):
        """`out`'s element range is disjoint from each input's."""
        b = self.b
        lo, hi = self.extent(out)
        conds = []
        for a in ins:
            alo, ahi = self.extent(a)
            conds.append(b.or_(b.icmp_unsigned("<=", hi, alo), b.icmp_unsigned("<=", ahi, lo)))
        return self.all(*conds)

    def elements(self, stride):
        """(stride divisible by the item size, stride in elements)."""
        size = self.c64(self.size)
        return self.cmp("==", self.b.srem(stride, size), 0), self.b.sdiv(stride, size)

    def layout(self, a: dict) -> tuple:
        """(ok, transpose flag, leading dimension) of matrix `a` for row-major CBLAS (as
        cblas._layout: rows contiguous, or columns contiguous)."""
        b, ir = self.b, self.ir
        (rows, cols), (s0, s1) = a["dims"], a["strides"]
        ok0, e0 = self.elements(s0)
        ok1, e1 = self.elements(s1)
        one = self.c64(1)
        rows1 = b.select(self.cmp("<", rows, 1), one, rows)
        cols1 = b.select(self.cmp("<", cols, 1), one, cols)
        rows_le1, cols_le1 = self.cmp("<=", rows, 1), self.cmp("<=", cols, 1)
        plain = b.and_(
            b.or_(cols_le1, self.cmp("==", e1, 1)), b.or_(rows_le1, self.cmp(">=", e0, cols1))
        )
        flipped = b.and_(
            b.or_(rows_le1, self.cmp("==", e0, 1)), b.or_(cols_le1, self.cmp(">=", e1, rows1))
        )
        ld = b.select(plain, b.select(rows_le1, cols1, e0), b.select(cols_le1, rows1, e1))
        flag = b.select(
            plain, ir.Constant(self.i32, cblas.NO_TRANS), ir.Constant(self.i32, cblas.TRANS)
        )
        return self.all(ok0, ok1, b.or_(plain, flipped)), flag, ld

    def fits(self, values: list):
        """Every value fits the library's integer type."""
        if self.index.width == 64:
            return self.ir.Constant(self.i1, 1)
        return self.all(*[self.cmp("<", v, 1 << 31) for v in values])

    def call_blas(self, work, args: list) -> None:
        """The CBLAS call through the pointer global, without the GIL when `work` is large."""
        from symgraph.codegen.llvm_entry import call_released

        b, ir = self.b, self.ir
        args = [
            a if a.type != self.i64 or self.index.width == 64 else b.trunc(a, self.index)
            for a in args
        ]
        fn_type = ir.FunctionType(ir.VoidType(), [a.type for a in args])
        fn = b.bitcast(b.load(self.blas), fn_type.as_pointer())
        call_released(self.module, b, work, fn, args, GIL_RELEASE_WORK)

    def copy_source(self, args, nargs, types: list, z: dict, beta) -> None:
        """With a sixth argument `source` (an array of z's dtype and shape, apart from z),
        z <- source before the product, unless beta is 0: the step of an op that must not
        overwrite its input z passes its own buffer as z. Checked before anything is written."""
        from symgraph.codegen.llvm import loop  # the renderer, imported on a cache miss only

        b, ir = self.b, self.ir
        rank = len(z["dims"])
        with b.if_then(self.cmp("==", nargs, 6)):
            src = self.array(self.item(args, 5), types, rank, False, 5)
            same = [self.cmp("==", d, e) for d, e in zip(src["dims"], z["dims"])]
            self.require(self.all(*same, self.apart(z, src)), "source_ok")
            with b.if_then(b.fcmp_unordered("!=", beta, ir.Constant(self.real, 0.0))):
                ptr = self.real.as_pointer()

                def at(a: dict, index: list):
                    offset = functools.reduce(
                        b.add, [b.mul(i, s) for i, s in zip(index, a["strides"])]
                    )
                    return b.bitcast(b.gep(a["data"], [offset]), ptr)

                with loop(b, self.c64(0), z["dims"][0], "copy_i") as i:
                    if rank == 1:
                        b.store(b.load(at(src, [i])), at(z, [i]))
                    else:
                        with loop(b, self.c64(0), z["dims"][1], "copy_j") as j:
                            b.store(b.load(at(src, [i, j])), at(z, [i, j]))

    # the entries
    def render(self) -> None:
        b, ir = self.b, self.ir
        self_, args, nargs = self.fn.args
        self.require(b.or_(self.cmp("==", nargs, 5), self.cmp("==", nargs, 6)), "nargs_ok")
        items = b.bitcast(b.gep(self_, [self.c64(self.off["tuple_items"])]), self.i8p.as_pointer())
        types = [self.item(items, k) for k in range(4)]  # ndarray, float, float32, float64
        objs = [self.item(args, k) for k in range(5)]
        alpha, beta = self.scalar(objs[0], types, 0), self.scalar(objs[3], types, 3)
        ranks = (2, 2, 2) if self.kind == "gemm" else (2, 1, 1)
        x, y, z = (self.array(objs[k], types, r, k == 4, k) for k, r in zip((1, 2, 4), ranks))
        order = ir.Constant(self.i32, cblas.ROW_MAJOR)
        if self.kind == "gemm":
            (m, k), (k2, n), (m2, n2) = x["dims"], y["dims"], z["dims"]
            self.require(
                self.all(self.cmp("==", k, k2), self.cmp("==", m, m2), self.cmp("==", n, n2)),
                "shapes_ok",
            )
            empty = self.fn.append_basic_block("empty")
            go = self.fn.append_basic_block("nonempty")
            b.cbranch(b.or_(self.cmp("==", m, 0), self.cmp("==", n, 0)), empty, go)
            with b.goto_block(empty):
                b.branch(self._done)
            b.position_at_end(go)
            self.require(self.cmp(">", k, 0), "inner_ok")  # BLAS would not scale z by beta
            (okx, tx, ldx), (oky, ty, ldy), (okz, tz, ldz) = map(self.layout, (x, y, z))
            self.require(
                self.all(okx, oky, okz, self.fits([m, n, k, ldx, ldy, ldz]), self.apart(z, x, y)),
                "layouts_ok",
            )
            self.copy_source(args, nargs, types, z, beta)
            # a column-major z: compute z^T = y^T x^T, whose operands swap and flip
            swap = b.icmp_signed("!=", tz, ir.Constant(self.i32, cblas.NO_TRANS))
            flip = ir.Constant(self.i32, cblas.NO_TRANS + cblas.TRANS)
            ta = b.select(swap, b.sub(flip, ty), tx)
            tb = b.select(swap, b.sub(flip, tx), ty)
            a, lda = b.select(swap, y["data"], x["data"]), b.select(swap, ldy, ldx)
            bb, ldb = b.select(swap, x["data"], y["data"]), b.select(swap, ldx, ldy)
            mm, nn = b.select(swap, n, m), b.select(swap, m, n)
            self.call_blas(
                b.mul(b.mul(m, n), k),
                [order, ta, tb, mm, nn, k, alpha, a, lda, bb, ldb, beta, z["data"], ldz],
            )
        else:
            (m, k), (k2,), (m2,) = x["dims"], y["dims"], z["dims"]
            self.require(self.all(self.cmp("==", k, k2), self.cmp("==", m, m2)), "shapes_ok")
            empty = self.fn.append_basic_block("empty")
            go = self.fn.append_basic_block("nonempty")
            b.cbranch(self.cmp("==", m, 0), empty, go)
            with b.goto_block(empty):
                b.branch(self._done)
            b.position_at_end(go)
            self.require(self.cmp(">", k, 0), "inner_ok")
            ok, ta, lda = self.layout(x)
            okx, incx = self.elements(y["strides"][0])
            oky, incy = self.elements(z["strides"][0])
            # a vector of one element may have any stride; BLAS wants a positive one
            incx = b.select(self.cmp("<=", k, 1), self.c64(1), incx)
            incy = b.select(self.cmp("<=", m, 1), self.c64(1), incy)
            plain = b.icmp_signed("==", ta, ir.Constant(self.i32, cblas.NO_TRANS))
            rows, cols = b.select(plain, m, k), b.select(plain, k, m)  # the stored matrix
            self.require(
                self.all(
                    ok,
                    okx,
                    oky,
                    self.cmp(">", incx, 0),
                    self.cmp(">", incy, 0),
                    self.fits([m, k, lda, incx, incy]),
                    self.apart(z, x, y),
                ),
                "layouts_ok",
            )
            self.copy_source(args, nargs, types, z, beta)
            self.call_blas(
                b.mul(m, k),
                [
                    order,
                    ta,
                    rows,
                    cols,
                    alpha,
                    x["data"],
                    lda,
                    y["data"],
                    incx,
                    beta,
                    z["data"],
                    incy,
                ],
            )
        b.branch(self._done)

    @functools.cached_property
    def _done(self):
        return self._returns(0)


def render(index_bits: int, kinds: tuple[tuple[str, str], ...] = KINDS) -> str:
    """The LLVM IR of these entries (all four by default), for a CBLAS taking
    `index_bits`-bit integers."""
    import llvmlite.ir as ir

    from symgraph.codegen import llvm_jit

    module = ir.Module(name="symgraph_blas_entries")
    module.triple = llvm_jit.target_triple()
    for kind, dtype in kinds:
        _Entry(module, kind, dtype, index_bits).render()
    return str(module)


# --- loading -------------------------------------------------------------------------------


def _key(kind: str, dtype: str, index_bits: int) -> str:
    """The disk-cache key of one entry: the sources that decide its IR and object code, the
    integer width, the host."""
    import llvmlite

    from symgraph.codegen.cache import cache_key, host_cpu

    source = hashlib.sha256(f"{VERSION} {kind} {dtype} {index_bits}".encode())
    here = Path(__file__).parent
    for name in ("blas_entry.py", "llvm_abi.py", "llvm_entry.py", "llvm_jit.py"):
        source.update((here / name).read_bytes())
    flags = [host_cpu()]
    return cache_key(
        source.hexdigest(), "llvm-blas-entry", flags, {"llvmlite": llvmlite.__version__}
    )


def _float_layout_ok() -> bool:
    return ctypes.c_double.from_address(id(float("1.5")) + FLOAT_VALUE).value == 1.5


def entry(kind: str, dtype: str) -> Callable | None:
    """The entry of this Gemm / Gemv ("gemm" or "gemv", "float32" or "float64"), or None
    when it cannot be built here (no CBLAS found, an unknown object layout, no LLVM): callers
    then keep the ctypes path. Each is built the first time a step needs it, once per process
    (under a lock: loading its object twice would define its symbols twice)."""
    with _LOCK:
        if (kind, dtype) not in _BUILT:
            _BUILT[kind, dtype] = _build(kind, dtype)
        return _BUILT[kind, dtype]


def _build(kind: str, dtype: str) -> Callable | None:
    lib = cblas.library()
    if lib is None:
        return None
    try:
        from symgraph.codegen.cache import DiskCache

        abi()
        if not _float_layout_ok():
            return None
        key, name = _key(kind, dtype, lib.index_bits), _name(kind, dtype)
        found, module = native_lib.load_or_link(
            DiskCache(), key, functools.partial(_object, kind, dtype, lib.index_bits),
            f"blas entry {kind} {dtype}")
        if found is not None:
            slot, address = (native_lib.address(found, name + s) for s in ("_blas", "_call"))
        else:
            with module.jit.lock:
                slot = module.jit.engine.get_global_value_address(f"{name}_blas")
            address = module.address(f"{name}_call")
        pointer = ctypes.cast(lib.functions[kind, np.dtype(dtype)], ctypes.c_void_p).value
        if not slot or not pointer:
            return None
        ctypes.c_void_p.from_address(slot).value = pointer
        method = _MethodDef(name.encode(), address, METH_FASTCALL, None)
        items = (np.ndarray, float, np.dtype("float32"), np.dtype("float64"))
        self = (*items, method)  # the function keeps its method table alive through self
        call = _new_cfunction(ctypes.addressof(method), self, None)
    except Exception:  # noqa: BLE001 (any failure here leaves the ctypes path, never a wrong result)
        return None
    return call if _works(kind, dtype, call) else None


def _object(kind: str, dtype: str, index_bits: int) -> bytes:
    """The entry's object code. Unoptimized IR: the entry is branches and loads around one
    call, and runs as fast as after O3 (~0.2 us a call both), while O3 of the four entries
    took ~0.3 s."""
    from symgraph.codegen import llvm_jit

    return llvm_jit.emit_object(render(index_bits, ((kind, dtype),)), optimize=False)


def _works(kind: str, dtype: str, call: Callable) -> bool:
    """A small product through the entry equals numpy's (guards the ABI and the pointer)."""
    x = np.arange(6, dtype=dtype).reshape(2, 3)
    y = (np.arange(6, dtype=dtype) - 2).reshape(3, 2)[:, : 1 if kind == "gemv" else 2]
    y = y[:, 0] if kind == "gemv" else y
    z = np.ones(2 if kind == "gemv" else (2, 2), dtype)
    want = 2.0 * (x @ y) + 0.5
    return call(np.asarray(2.0, dtype), x, y, 0.5, z) == 0 and np.array_equal(z, want)
