"""The C backend's kernels against the numpy reference: every scalar op, reductions, layouts,
threads, the compiler's errors and the fallback to LLVM without a compiler."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as T
from symgraph.codegen import c, c_program
from symgraph.codegen.c_toolchain import CCompileError
from symgraph.codegen.cstyle import C_FALLBACK_OPS, C_SCALAR
from symgraph.codegen.llvm_entry import PARALLEL_MIN
from symgraph.compile.mode import Mode
from symgraph.ops import math as M
from symgraph.ops.elemwise import Elemwise
from symgraph.ops.scalar import SCALAR_OPS
from symgraph.types import TensorType
from tests.codegen.kernel_sweep import PY, compare, run_both, special_values

pytestmark = pytest.mark.skipif(not c.available(), reason="no C compiler / Python headers")

CC = Mode(backend="c", optimizer=None)
# float -> uint32 / uint64 of +-inf and nan is numpy's "invalid value in cast": undefined
UNDEFINED_CASTS = {"cast_uint32", "cast_uint64"}


def test_every_scalar_op_has_a_c_expression_or_is_allowed_to_fall_back():
    missing = set(SCALAR_OPS) - set(C_SCALAR) - C_FALLBACK_OPS
    assert not missing, f"scalar ops with no C expression: {sorted(missing)}"
    assert not (set(C_SCALAR) & C_FALLBACK_OPS)


def _dtypes_for(name: str) -> list[str]:
    if SCALAR_OPS[name].dtype_rule == "float":
        return ["float32", "float64", "float16", "int16"]
    return ["float32", "float64", "float16", "int32", "uint8", "int8", "int64", "bool"]


CASES = [(name, d) for name in sorted(SCALAR_OPS) if not name.startswith("cast_complex")
         for d in _dtypes_for(name)]


@pytest.mark.parametrize("name,dtype", CASES)
def test_scalar_op_matches_numpy(name, dtype):
    op = SCALAR_OPS[name]
    nin = op.nin or 2
    values = [np.roll(special_values(dtype, seed=k), 5 * k) for k in range(nin)]
    if name in UNDEFINED_CASTS | {"cast_int8", "cast_int16", "cast_int32", "cast_int64",
                                  "cast_uint8", "cast_uint16"} and dtype.startswith("float"):
        values = [v[np.isfinite(v)] for v in values]
    try:
        Elemwise(op).make_node(*[TensorType(dtype, (None,))() for _ in range(nin)])
    except TypeError:
        pytest.skip(f"{name} does not take {dtype}")
    got, ref, program = run_both(CC, lambda *xs: Elemwise(op)(*xs), values, [dtype] * nin)
    if got is None:
        return  # numpy refuses this dtype; the C program raised the same error
    compare(got, ref)
    if name not in C_FALLBACK_OPS and (dtype.startswith("float") or name in (
            "add", "mul", "maximum", "lt", "and_", "invert", "switch", "abs") or (
            name in ("int_div", "mod") and dtype != "bool")):
        assert program.fallback_nodes == 0, f"{name} on {dtype} fell back to numpy"


@pytest.mark.parametrize("a,b", [("int8", "float32"), ("uint8", "int8"), ("int32", "float32"),
                                 ("bool", "float64"), ("uint16", "int64"), ("float32", "float64"),
                                 ("float16", "float32")])
@pytest.mark.parametrize("name", ["add", "mul", "sub", "true_div", "maximum", "lt", "eq", "mod"])
def test_mixed_dtypes_follow_numpy_promotion(name, a, b):
    values = [special_values(a)[:20], special_values(b, seed=1)[:20]]
    got, ref, _ = run_both(CC, lambda x, y: Elemwise(SCALAR_OPS[name])(x, y), values, [a, b])
    if got is not None:
        compare(got, ref)


@pytest.mark.parametrize("src", ["float32", "float64", "int64", "uint8", "bool", "float16"])
def test_casts_of_every_dtype(src):
    x = special_values(src)
    if src.startswith("float"):
        x = x[np.isfinite(x) & (np.abs(x) < 100)]
    for to in ("bool", "int8", "uint8", "int16", "int32", "int64", "uint16", "float16",
               "float32", "float64"):
        got, ref, program = run_both(CC, lambda v, to=to: M.cast(v, to), [x], [src])
        compare(got, ref)
        assert program.fallback_nodes == 0, f"{src} -> {to} fell back"


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided", "row", "column",
                                    "scalar", "0d"])
def test_elemwise_layouts(layout):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((7, 9))
    b = {"contiguous": rng.standard_normal((7, 9)), "transposed": rng.standard_normal((9, 7)).T,
         "strided": rng.standard_normal((14, 27))[::2, ::3], "row": rng.standard_normal((1, 9)),
         "column": rng.standard_normal((7, 1)), "scalar": rng.standard_normal((1, 1)),
         "0d": None}[layout]
    if b is None:
        x = T.dscalar("x")
        got, ref, _ = run_both(CC, lambda x: M.exp(x) * 2 - 1, [np.float64(0.3)], ["float64"])
        compare(got, ref)
        return
    x = TensorType("float64", (None, None))("x")
    y = TensorType("float64", tuple(1 if s == 1 else None for s in b.shape))("y")
    out = M.tanh(x) * y + M.sqr(y)
    got = sg.function([x, y], out, mode=CC)(a, b)
    compare(got, np.tanh(a) * b + b * b)


@pytest.mark.parametrize("shape,axes", [((5, 6, 7), (0,)), ((5, 6, 7), (1,)), ((5, 6, 7), (2,)),
                                        ((5, 6, 7), (0, 2)), ((5, 6, 7), (0, 1, 2)),
                                        ((3000,), (0,)), ((0, 4), (0,)), ((4, 0), (1,))])
@pytest.mark.parametrize("op", ["sum", "prod", "max", "min", "all", "any"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "uint8", "bool"])
@pytest.mark.parametrize("transpose", [False, True])
def test_reductions_over_any_axes(shape, axes, op, dtype, transpose):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    if dtype.startswith("float"):
        x.flat[::11] = np.nan
    if transpose:
        x = np.ascontiguousarray(x.T).T
    fn = getattr(T, op)
    got, ref, program = run_both(CC, lambda v: fn(v, axis=axes), [x], [dtype])
    if got is not None:
        compare(got, ref)
        assert program.fallback_nodes == 0


@pytest.mark.parametrize("size", [PARALLEL_MIN - 1, 3 * PARALLEL_MIN + 7])
def test_large_arrays_use_threads_and_agree(size):
    rng = np.random.default_rng(3)
    a = rng.standard_normal(size).astype("float32")
    b = rng.standard_normal((size // 64, 64))
    x, m = T.fvector("x"), T.dmatrix("m")
    f = sg.function([x, m], [M.tanh(x) * 2 + 1, T.sum(m, axis=1), T.max(m, axis=0)], mode=CC)
    got = f(a, b)
    np.testing.assert_allclose(got[0], np.tanh(a) * np.float32(2) + np.float32(1), atol=1e-6)
    np.testing.assert_allclose(got[1], b.sum(axis=1), rtol=1e-12, atol=1e-12)
    compare(got[2], b.max(axis=0))


def test_training_step_with_shared_variables_and_updates():
    rng = np.random.default_rng(4)
    xv, yv = rng.standard_normal((20, 5)), rng.standard_normal(20)
    results = []
    for mode in (Mode(backend="python"), Mode(backend="c")):
        w = sg.shared(np.zeros(5), name="w")
        x, y = T.dmatrix("x"), T.dvector("y")
        cost = T.mean(T.sqr(T.dot(x, w) - y))
        train = sg.function([x, y], cost, updates=[(w, w - 0.1 * sg.grad(cost, w))], mode=mode)
        costs = [float(train(xv, yv)) for _ in range(5)]
        results.append((costs, w.get_value()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-12)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-12)


def test_programs_run_c_kernels_and_dump_their_source():
    x = T.fvector("x")
    f = sg.function([x], T.exp(x) + 1, mode=Mode(backend="c"))
    assert isinstance(f.program, c_program.CProgram)
    assert f.program.kernels and all(isinstance(k, c.CompiledKernel) for k in f.program.kernels)
    text = f.program.dump()
    assert "sg_flat" in text and "expf(" in text and "def run(values)" in text


def test_a_compiler_error_names_the_source_file_and_the_message(monkeypatch):
    monkeypatch.setattr(c.CRenderer, "render", lambda self, k: "this is not C;\n")
    x = T.dvector("x")
    with pytest.raises(CCompileError) as info:
        sg.function([x], M.cosh(x) * 17.25 + 3.5, mode=CC)
    text = str(info.value)
    assert "source: " in text and "error" in text
    path = text.split("source: ")[1].split()[0]
    with open(path) as f:
        assert f.read() == "this is not C;\n"


def test_without_a_compiler_the_backend_warns_once_and_uses_llvm(monkeypatch):
    missing = c.toolchain().__class__(None, "", (), "no C compiler found (test)")
    monkeypatch.setattr(c, "toolchain", lambda: missing)
    monkeypatch.setattr(c_program, "_WARNED", [])
    x = T.dvector("x")
    with pytest.warns(UserWarning, match="LLVM backend instead"):
        f = sg.function([x], x + 1, mode=CC)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sg.function([x], x * 2, mode=CC)  # no second warning
    assert not isinstance(f.program, c_program.CProgram)
    np.testing.assert_array_equal(f(np.arange(3.0)), [1, 2, 3])


def test_kernels_come_from_the_disk_cache_in_a_new_process_state():
    x = T.dvector("x")
    out = M.arctan(x) * 3.25
    sg.function([x], out, mode=CC)
    c._COMPILED.clear()  # as a new process would start
    f = sg.function([x], out, mode=CC)
    assert f.program.kernels[0].cache_hit


def test_openmp_kernels_agree(monkeypatch):
    monkeypatch.setenv("SYMGRAPH_C_OPENMP", "1")
    rng = np.random.default_rng(5)
    a = rng.standard_normal((700, 300))
    x = T.dmatrix("x")
    f = sg.function([x], [M.tanh(x) * 2, T.sum(x, axis=1), T.max(x.T, axis=1)], mode=CC)
    got = f(a)
    np.testing.assert_allclose(got[0], np.tanh(a) * 2, rtol=1e-13)
    np.testing.assert_allclose(got[1], a.sum(axis=1), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got[2], a.T.max(axis=1))
    assert any("omp parallel" in k.ir for k in f.program.kernels)


def test_fused_reductions_of_several_broadcast_inputs():
    rng = np.random.default_rng(6)
    x, r = T.dmatrix("x"), T.drow("r")
    av, rv = rng.standard_normal((40, 30)), rng.standard_normal((1, 30))
    outs = [T.sum(M.exp(x) * r, axis=1), T.max(x + r, axis=0), T.sum(M.sqr(x - r))]
    f = sg.function([x, r], outs, mode=Mode(backend="c"))
    ref = sg.function([x, r], outs, mode=PY)(av, rv)
    for g, e in zip(f(av, rv), ref):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)
    assert f.program.fallback_nodes == 0
