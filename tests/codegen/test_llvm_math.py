"""Vector math emitters (symgraph/codegen/llvm_math.py) and the JIT they run in (llvm_jit.py).

Each emitter is JIT-compiled into a loop ``void f(T* x, T* y, i64 n)`` and compared with a
long-double numpy reference in ulps, on wide random ranges, special values and denormals.
"""

from __future__ import annotations

import ctypes
import functools
import re
import subprocess
import sys
from pathlib import Path

import llvmlite.ir as ir
import numpy as np
import pytest

from symgraph.codegen import llvm_jit
from symgraph.codegen.llvm_math import VECTOR_MATH

DTYPES = [np.float32, np.float64]
NAMES = sorted(VECTOR_MATH)
MAX_ULP = 3.0  # measured worst cases: 2.2 (float32 sigmoid), 2.4 (float64 tanh)
UNARY = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
L = np.longdouble


def _llvm_type(dtype) -> ir.Type:
    return ir.FloatType() if dtype == np.float32 else ir.DoubleType()


def unary_loop_ir(name: str, fname: str, dtype) -> str:
    """IR of ``void name(T* x, T* y, i64 n)``: y[i] = fname(x[i])."""
    ty, i64 = _llvm_type(dtype), ir.IntType(64)
    module = ir.Module(name)
    fn = ir.Function(
        module, ir.FunctionType(ir.VoidType(), [ty.as_pointer(), ty.as_pointer(), i64]), name
    )
    llvm_jit.set_kernel_attributes(fn)
    for arg in fn.args[:2]:
        arg.add_attribute("noalias")
    entry, loop, done = (fn.append_basic_block(s) for s in ("entry", "loop", "done"))
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", fn.args[2], ir.Constant(i64, 0)), loop, done)
    b.position_at_end(loop)
    i = b.phi(i64)
    i.add_incoming(ir.Constant(i64, 0), entry)
    b.store(VECTOR_MATH[fname](b, b.load(b.gep(fn.args[0], [i]))), b.gep(fn.args[1], [i]))
    nxt = b.add(i, ir.Constant(i64, 1))
    i.add_incoming(nxt, loop)
    b.cbranch(b.icmp_signed("<", nxt, fn.args[2]), loop, done)
    b.position_at_end(done)
    b.ret_void()
    return str(module)


@functools.cache
def kernel(fname: str, dtype) -> tuple[llvm_jit.CompiledModule, object]:
    """The compiled loop for ``fname`` on ``dtype`` (module and ctypes function)."""
    name = f"test_vm_{fname}_{np.dtype(dtype).name}"
    mod = llvm_jit.compile_ir(unary_loop_ir(name, fname, dtype))
    return mod, UNARY(mod.address(name))


def apply(fname: str, x: np.ndarray) -> np.ndarray:
    _, fn = kernel(fname, x.dtype.type)
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    fn(x.ctypes.data, y.ctypes.data, x.size)
    return y


def reference(fname: str, x: np.ndarray) -> np.ndarray:
    """The function in long double (80-bit on x86-64)."""
    x = x.astype(L)
    with np.errstate(all="ignore"):
        if fname == "sigmoid":
            t = np.exp(-np.abs(x))
            return np.where(x >= 0, 1 / (1 + t), t / (1 + t))
        if fname == "softplus":
            return np.logaddexp(L(0), x)
        return getattr(np, fname)(x)


def ulp_error(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|y - ref| in units of the spacing at ref rounded to y's dtype; nan on special mismatch."""
    with np.errstate(all="ignore"):
        want = ref.astype(y.dtype)
        err = np.abs(y.astype(L) - ref) / np.abs(np.spacing(want)).astype(L)
    same = (y == want) | (np.isnan(y) & np.isnan(want))
    return np.where(same, 0.0, err)


def check(fname: str, x: np.ndarray, max_ulp: float = MAX_ULP) -> None:
    y, ref = apply(fname, x), reference(fname, x)
    err = ulp_error(y, ref)
    bad = ~(err <= max_ulp)
    if bad.any():
        i = np.flatnonzero(bad)[:5]
        pytest.fail(f"{fname}({x[i]!r}) = {y[i]!r}, want {ref[i]!r} ({err[i]} ulp)")


def random_inputs(fname: str, dtype) -> np.ndarray:
    """~100k values: wide uniform, around 0, log-uniform magnitudes incl. denormals."""
    rng = np.random.default_rng([NAMES.index(fname), np.dtype(dtype).itemsize])
    fi = np.finfo(dtype)
    lo, hi = np.log10(float(fi.smallest_subnormal)), np.log10(float(fi.max))
    mags = 10 ** rng.uniform(lo, hi, 30_000)
    parts = [
        rng.uniform(-100, 100, 30_000),
        rng.uniform(-2, 2, 20_000),
        mags,
        10 ** rng.uniform(-30, 30, 20_000),
    ]
    if fname.startswith("log"):
        parts = [np.abs(p) for p in parts] + [rng.uniform(0.5, 2, 10_000)]
        if fname == "log1p":
            parts.append(-(10 ** rng.uniform(-30, 0, 10_000)))
    elif dtype == np.float64:
        parts.append(rng.uniform(-750, 750, 10_000))
    with np.errstate(over="ignore"):
        return np.concatenate(parts).astype(dtype)


def special_inputs(dtype) -> np.ndarray:
    """Infinities, nan, signed zeros, denormals, extremes and the exp/log thresholds."""
    fi = np.finfo(dtype)
    ovf, unf = float(np.log(fi.max)), float(np.log(fi.smallest_subnormal))
    values = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, np.inf, -np.inf, np.nan]
    values += [fi.max, -fi.max, fi.tiny, -fi.tiny, fi.smallest_subnormal, -fi.smallest_subnormal]
    values += [fi.tiny / 3, -fi.tiny / 7, 1e-30, -1e-30, 1e30, -1e30, 20, -20, 50, -50, 1000, -1000]
    values += [ovf * (1 - 1e-5), ovf * (1 + 1e-5), unf * (1 - 1e-5), unf * (1 + 1e-5), unf - 0.6]
    values += [x / np.log(2) for x in (ovf * (1 - 1e-5), ovf * (1 + 1e-5), unf - 0.6)]
    return np.array(values, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("fname", NAMES)
def test_random_accuracy(fname, dtype):
    check(fname, random_inputs(fname, dtype))


@pytest.mark.parametrize("fname", ["tanh", "sigmoid"])
def test_float32_absolute_error_on_activation_range(fname):
    x = np.linspace(-20, 20, 200_001, dtype=np.float32)
    err = np.abs(apply(fname, x).astype(L) - reference(fname, x))
    assert err.max() < 2e-7  # measured 9e-8: half an ulp of 1 is 6e-8


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("fname", NAMES)
def test_special_values_and_denormals(fname, dtype):
    x = special_inputs(dtype)
    check(fname, x)
    # signed zeros: odd functions and expm1/log1p keep the sign of a zero input
    with np.errstate(over="ignore"):
        y, want = apply(fname, x), reference(fname, x).astype(dtype)
    zeros = want == 0
    np.testing.assert_array_equal(np.signbit(y[zeros]), np.signbit(want[zeros]), err_msg=fname)


INF, NAN = np.inf, np.nan
EXACT = {
    "exp": [(INF, INF), (-INF, 0.0), (NAN, NAN), (1000, INF), (-1000, 0.0), (0.0, 1.0)],
    "exp2": [(INF, INF), (-INF, 0.0), (NAN, NAN), (3.0, 8.0), (-1100, 0.0), (1100, INF)],
    "expm1": [(INF, INF), (-INF, -1.0), (NAN, NAN), (-1000, -1.0), (1000, INF), (-0.0, -0.0)],
    "log": [(0.0, -INF), (-0.0, -INF), (-1.0, NAN), (-INF, NAN), (INF, INF), (NAN, NAN), (1, 0)],
    "log2": [(0.0, -INF), (-1.0, NAN), (INF, INF), (NAN, NAN), (8.0, 3.0), (0.25, -2.0)],
    "log10": [(0.0, -INF), (-1.0, NAN), (INF, INF), (NAN, NAN), (1.0, 0.0)],
    "log1p": [(-1.0, -INF), (-2.0, NAN), (-INF, NAN), (INF, INF), (NAN, NAN), (-0.0, -0.0)],
    "tanh": [(INF, 1.0), (-INF, -1.0), (50, 1.0), (-50, -1.0), (-0.0, -0.0), (NAN, NAN)],
    "sigmoid": [(-1000, 0.0), (1000, 1.0), (INF, 1.0), (-INF, 0.0), (0.0, 0.5), (NAN, NAN)],
    "softplus": [(-1000, 0.0), (1000, 1000), (INF, INF), (-INF, 0.0), (NAN, NAN)],
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("fname", sorted(EXACT))
def test_exact_special_values(fname, dtype):
    x, want = (np.array(v, dtype) for v in zip(*EXACT[fname]))
    y = apply(fname, x)
    np.testing.assert_array_equal(y, want, err_msg=f"{fname}({x})")
    signed = ~np.isnan(want)  # a nan's sign bit carries no meaning
    np.testing.assert_array_equal(np.signbit(y[signed]), np.signbit(want[signed]), err_msg=fname)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("fname", NAMES)
def test_loop_is_vectorized_without_calls(fname, dtype):
    mod, _ = kernel(fname, dtype)
    lanes = llvm_jit.host_vector_width_bits() // (32 if dtype == np.float32 else 64)
    elem = "float" if dtype == np.float32 else "double"
    found = [int(n) for n in re.findall(rf"<(\d+) x {elem}>", mod.optimized_ir)]
    assert found and max(found) >= lanes, f"widest vector {max(found, default=1)}, host {lanes}"
    callees = set(re.findall(r"call [^@]*@\"?([\w.]+)", mod.optimized_ir))
    assert all(c.startswith("llvm.") for c in callees), callees
    assert not any(c.startswith(("llvm.exp", "llvm.log")) for c in callees), callees


def test_exp_float32_uses_simd_and_no_libm():
    ir_text = kernel("exp", np.float32)[0].optimized_ir
    assert re.search(r"<(4|8|16) x float>", ir_text)
    assert not re.search(r"@\"?(expf|exp)\b", ir_text)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_emitters_accept_vector_types(dtype):
    lanes = 4
    vty = ir.VectorType(_llvm_type(dtype), lanes)
    module = ir.Module("vector_types")
    tag = np.dtype(dtype).name
    for fname in NAMES:
        fnty = ir.FunctionType(ir.VoidType(), [vty.as_pointer(), vty.as_pointer()])
        fn = ir.Function(module, fnty, f"vec_{fname}_{tag}")
        b = ir.IRBuilder(fn.append_basic_block())
        align = np.dtype(dtype).itemsize  # numpy only guarantees element alignment
        x = b.load(fn.args[0], align=align)
        b.store(VECTOR_MATH[fname](b, x), fn.args[1], align=align)
        b.ret_void()
    mod = llvm_jit.compile_ir(str(module))
    x = np.array([-3.5, 0.25, 1.5, 40.0], dtype)
    for fname in NAMES:
        fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)(
            mod.address(f"vec_{fname}_{tag}")
        )
        y = np.empty_like(x)
        fn(x.ctypes.data, y.ctypes.data)
        np.testing.assert_array_equal(y, apply(fname, x), err_msg=fname)


def test_unsupported_type_raises():
    b = ir.IRBuilder(
        ir.Function(ir.Module(), ir.FunctionType(ir.VoidType(), []), "f").append_basic_block()
    )
    with pytest.raises(NotImplementedError, match="float and double"):
        VECTOR_MATH["exp"](b, ir.Constant(ir.HalfType(), 1.0))


# --- llvm_jit ---


def _exp_loop_ir(name: str) -> str:
    return unary_loop_ir(name, "exp", np.float32)


def test_object_round_trip_in_fresh_engine():
    obj = llvm_jit.emit_object(_exp_loop_ir("roundtrip_exp"))
    mod = llvm_jit.Jit().load_object(obj)
    fn = UNARY(mod.address("roundtrip_exp"))
    x = np.linspace(-20, 20, 1001, dtype=np.float32)
    y = np.empty_like(x)
    fn(x.ctypes.data, y.ctypes.data, x.size)
    np.testing.assert_array_equal(y, apply("exp", x))


def test_object_round_trip_in_another_process(tmp_path):
    path = tmp_path / "k.o"
    path.write_bytes(llvm_jit.emit_object(_exp_loop_ir("xproc_exp")))
    script = f"""
import ctypes, numpy as np
from symgraph.codegen import llvm_jit
mod = llvm_jit.load_object(open({str(path)!r}, "rb").read())
proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
f = proto(mod.address("xproc_exp"))
x = np.arange(-5, 5, dtype=np.float32); y = np.empty_like(x)
f(x.ctypes.data, y.ctypes.data, x.size)
print(float(np.max(np.abs(y / np.exp(x.astype(float)) - 1))))
"""
    root = Path(llvm_jit.__file__).parents[2]
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=root
    )
    assert float(out.stdout) < 1e-6


def test_libc_and_libm_symbols_resolve():
    module = ir.Module("libc")
    f64, i64, i8p = ir.DoubleType(), ir.IntType(64), ir.IntType(8).as_pointer()
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [f64.as_pointer(), i64]), "libc_calls")
    libm_exp = ir.Function(module, ir.FunctionType(f64, [f64]), "exp")
    memset = module.declare_intrinsic("llvm.memset", [i8p, i64])
    b = ir.IRBuilder(fn.append_basic_block())
    nbytes = b.mul(fn.args[1], ir.Constant(i64, 8))
    zero, false = ir.Constant(ir.IntType(8), 0), ir.Constant(ir.IntType(1), 0)
    b.call(memset, [b.bitcast(fn.args[0], i8p), zero, nbytes, false])
    b.store(b.call(libm_exp, [ir.Constant(f64, 1.0)]), fn.args[0])
    b.ret_void()
    mod = llvm_jit.compile_ir(str(module))
    x = np.ones(100)
    ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64)(mod.address("libc_calls"))(
        x.ctypes.data, x.size
    )
    assert x[0] == np.e and not x[1:].any()


def test_duplicate_function_name_is_refused():
    llvm_jit.compile_ir(_exp_loop_ir("dup_exp"))
    with pytest.raises(ValueError, match="already defined"):
        llvm_jit.compile_ir(_exp_loop_ir("dup_exp"))


def test_unknown_address_raises():
    mod = llvm_jit.compile_ir(_exp_loop_ir("known_exp"))
    with pytest.raises(KeyError, match="not defined"):
        mod.address("unknown_exp")


def test_host_description():
    assert llvm_jit.host_vector_width_bits() in (128, 256, 512)
    attrs = llvm_jit.function_attributes()
    assert attrs["target-cpu"] == llvm_jit.host_cpu_name()
    assert ("prefer-vector-width" in attrs) == (llvm_jit.host_vector_width_bits() == 512)
    assert llvm_jit.target_triple() and llvm_jit.data_layout().startswith("e")
    assert "\n\t" in kernel("exp", np.float32)[0].asm()
