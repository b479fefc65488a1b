"""The LLVM backend's kernels against the numpy reference: every scalar op, reductions, layouts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symgraph as sg
from symgraph.codegen import llvm_load
from symgraph.codegen.cache import DiskCache
from symgraph.codegen.kernel import lower_elemwise
from symgraph.codegen.llvm_scalar import FALLBACK_OPS, LLVM_SCALAR
from symgraph.compile.mode import Mode
from symgraph.ops import math as M
from symgraph.ops.elemwise import Elemwise
from symgraph.ops.scalar import SCALAR_OPS
from symgraph.ops.shape import dimshuffle
from symgraph.types import TensorType
from tests.codegen.kernel_sweep import PY, compare, run_both, special_values
from tests.helpers import run_in_new_processes

LL = Mode(backend="llvm", optimizer=None)
FUSED = Mode(backend="llvm")
COMPLEX_CASTS = {"cast_complex64", "cast_complex128"}
# float -> uint32 / uint64 of +-inf is numpy's "invalid value in cast" (platform defined, and
# numpy itself differs between its loops); float64 -> float16 falls back (no libcall for it)
UNDEFINED_CASTS = {"cast_uint32", "cast_uint64", "cast_float16"}


def test_every_scalar_op_has_an_llvm_expression_or_is_allowed_to_fall_back():
    missing = set(SCALAR_OPS) - set(LLVM_SCALAR) - FALLBACK_OPS - COMPLEX_CASTS
    assert not missing, f"scalar ops with no LLVM expression: {sorted(missing)}"
    assert not (set(LLVM_SCALAR) & FALLBACK_OPS)


def _dtypes_for(name: str) -> list[str]:
    op = SCALAR_OPS[name]
    if op.dtype_rule == "float":
        return ["float32", "float64", "int16"]
    return ["float32", "float64", "int32", "uint8", "int8", "bool"]


CASES = [
    (name, d) for name in sorted(SCALAR_OPS) if name not in COMPLEX_CASTS for d in _dtypes_for(name)
]


@pytest.mark.parametrize("name,dtype", CASES)
def test_scalar_op_matches_numpy(name, dtype):
    op = SCALAR_OPS[name]
    nin = op.nin or 2
    values = [np.roll(special_values(dtype, seed=k), 5 * k) for k in range(nin)]
    if name in UNDEFINED_CASTS and dtype.startswith("float"):
        values = [v[np.isfinite(v)] for v in values]
    try:
        Elemwise(op).make_node(*[TensorType(dtype, (None,))() for _ in range(nin)])
    except TypeError:
        pytest.skip(f"{name} does not take {dtype}")
    got, ref, program = run_both(LL, lambda *xs: Elemwise(op)(*xs), values, [dtype] * nin)
    if got is None:
        return  # numpy refuses this dtype; the llvm program raised the same error
    compare(got, ref)
    if name not in FALLBACK_OPS | UNDEFINED_CASTS and (
        dtype.startswith("float")
        or name in ("add", "mul", "maximum", "lt", "and_", "invert", "switch", "abs")
    ):
        assert program.fallback_nodes == 0, f"{name} on {dtype} fell back to numpy"


@pytest.mark.parametrize(
    "a,b",
    [
        ("int8", "float32"),
        ("uint8", "int8"),
        ("int32", "float32"),
        ("bool", "float64"),
        ("uint16", "int64"),
        ("float32", "float64"),
    ],
)
@pytest.mark.parametrize("name", ["add", "mul", "sub", "true_div", "maximum", "lt", "eq", "mod"])
def test_mixed_dtypes_follow_numpy_promotion(name, a, b):
    values = [special_values(a)[:20], special_values(b, seed=1)[:20]]
    got, ref, program = run_both(LL, lambda x, y: Elemwise(SCALAR_OPS[name])(x, y), values, [a, b])
    if got is not None:
        compare(got, ref)


def test_switch_clip_and_casts_of_special_values():
    x = special_values("float32")
    c = np.arange(x.size) % 3 == 0
    got, ref, _ = run_both(LL, lambda c, x: M.switch(c, x, -x), [c, x], ["bool", "float32"])
    compare(got, ref)
    lo, hi = np.float32(-1), np.full(x.size, 2, "float32")
    got, ref, _ = run_both(LL, lambda x, h: M.clip(x, lo, h), [x, hi], ["float32", "float32"])
    compare(got, ref)
    for to in ("int8", "uint8", "int32", "int64", "bool", "float64", "float16"):
        finite = x[np.isfinite(x) & (np.abs(x) < 100)]
        got, ref, program = run_both(LL, lambda v, to=to: M.cast(v, to), [finite], ["float32"])
        compare(got, ref)
        assert program.fallback_nodes == 0


def test_fallback_ops_run_their_numpy_reference_and_are_counted():
    x = np.linspace(-0.9, 0.9, 7)
    got, ref, program = run_both(LL, lambda v: M.erfinv(v) + 1, [x], ["float64"])
    compare(got, ref)
    assert program.fallback_nodes == 1
    assert "numpy fallback" in program.source


def test_kernels_are_hash_consed_and_printable():
    x = TensorType("float32", (None, None))("x")
    k1, _ = lower_elemwise((x * 2 + x * 2).owner.inputs[0].owner)
    k2, _ = lower_elemwise((x * 2).owner)
    assert k1.name == k2.name and k1.values[0] is k2.values[0]
    text = str(k1)
    assert "mul" in text and "load in0" in text and "float32" in text


def arrays(shape, dtype="float64", seed=0):
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.startswith(("int", "uint")):
        return rng.integers(0, 5, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize(
    "layout",
    [
        "contiguous",
        "transposed",
        "strided",
        "broadcast_row",
        "broadcast_col",
        "zero_size",
        "scalar",
    ],
)
def test_elemwise_layouts(layout):
    a = arrays((6, 5))
    if layout == "transposed":
        a = arrays((5, 6)).T
    elif layout == "strided":
        a = arrays((12, 15))[::2, ::3]
    elif layout == "zero_size":
        a = arrays((0, 5))
    b = arrays((6, 5), seed=1)[::-1]
    bt = TensorType("float64", (None, None))
    if layout == "broadcast_row":
        b, bt = arrays((1, 5), seed=1), TensorType("float64", (1, None))
    elif layout == "broadcast_col":
        b, bt = arrays((6, 1), seed=1), TensorType("float64", (None, 1))
    elif layout == "zero_size":
        b = arrays((0, 5), seed=1)
    elif layout == "scalar":
        b, bt = np.array([[3.0]]), TensorType("float64", (1, 1))
    x, y = TensorType("float64", (None, None))("x"), bt("y")
    expr = M.exp(x) * y - x
    f, g = sg.function([x, y], expr, mode=LL), sg.function([x, y], expr, mode=PY)
    compare(f(a, b), g(a, b))
    assert f.program.fallback_nodes == 0


def test_dimshuffled_and_0d_inputs():
    x, s = TensorType("float32", (None, None))("x"), TensorType("float32", ())("s")
    expr = dimshuffle(x, (1, "x", 0)) * s + 1
    a, sv = arrays((3, 4), "float32"), np.float32(2.5)
    f, g = sg.function([x, s], expr, mode=LL), sg.function([x, s], expr, mode=PY)
    compare(f(a, sv), g(a, sv))
    assert f(a, sv).shape == (4, 1, 3)


REDUCE_OPS = {"sum": M.sum, "prod": M.prod, "max": M.max, "min": M.min, "all": M.all, "any": M.any}


@settings(max_examples=40, deadline=None)
@given(
    shape=st.lists(st.integers(0, 5), min_size=0, max_size=4),
    op=st.sampled_from(sorted(REDUCE_OPS)),
    dtype=st.sampled_from(["float32", "float64", "int8", "uint16", "bool"]),
    axes_seed=st.integers(0, 2**16),
    transpose=st.booleans(),
    keepdims=st.booleans(),
)
def test_reductions_over_any_axes(shape, op, dtype, axes_seed, transpose, keepdims):
    rng = np.random.default_rng(axes_seed)
    ndim = len(shape)
    axes = tuple(sorted(a for a in range(ndim) if rng.random() < 0.5)) or None
    value = arrays(tuple(shape), dtype, seed=axes_seed)
    if dtype.startswith("float") and value.size:
        value.flat[rng.integers(0, value.size)] = rng.choice([np.nan, np.inf, -0.0])
    if transpose and ndim > 1:
        value = value.T
    x = TensorType(dtype, (None,) * ndim)("x")
    expr = REDUCE_OPS[op](x, axis=axes, keepdims=keepdims)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = sg.function([x], expr, mode=PY)
        try:
            ref = g(value)
        except ValueError:  # max / min of an empty axis
            with pytest.raises(ValueError, match="empty"):
                sg.function([x], expr, mode=LL)(value)
            return
        f = sg.function([x], expr, mode=LL)
        got = f(value)
    if op in ("sum", "prod") and dtype.startswith("float"):
        np.testing.assert_allclose(
            got, ref, rtol=1e-5 if dtype == "float32" else 1e-12, equal_nan=True
        )
        assert got.dtype == ref.dtype and got.shape == ref.shape
    else:
        compare(got, ref)
    assert f.program.fallback_nodes == 0


def test_float_sum_accuracy_is_close_to_numpy_pairwise():
    x = TensorType("float32", (None,))("x")
    value = np.random.default_rng(0).random(1_000_003).astype("float32")
    got = sg.function([x], M.sum(x), mode=LL)(value)
    exact = value.astype("float64").sum()
    assert abs(float(got) - exact) / exact < 1e-6


@pytest.mark.parametrize("size", [10, 300_001])
def test_large_arrays_use_threads_and_agree(size):
    x, y = TensorType("float32", (None,))("x"), TensorType("float32", (None, None))("y")
    a = arrays(size, "float32")
    f = sg.function([x], M.tanh(x) * 2 + M.exp(-x), mode=LL)
    compare(f(a), sg.function([x], M.tanh(x) * 2 + M.exp(-x), mode=PY)(a))
    m = arrays((size // 100 + 1, 100), "float32")
    r = sg.function([y], M.sum(y, axis=1), mode=LL)(m)
    np.testing.assert_allclose(r, m.sum(axis=1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size", [0, 1, 1023, 1025, 5000, 300_001])
def test_loops_that_prefetch_cover_every_element_of_partial_blocks_and_slices(size):
    # two transcendentals, fused: the flat loop runs in prefetching blocks (PREFETCH_BLOCK)
    x = TensorType("float32", (None,))("x")
    expr = M.tanh(x) * M.exp(-x)
    a = arrays(size, "float32") if size else np.zeros(0, "float32")
    f = sg.function([x], expr, mode=FUSED)
    assert "llvm.prefetch" in f.program.dump()
    compare(f(a), sg.function([x], expr, mode=PY)(a))
    rows = arrays((max(size // 50, 1), 100), "float32")[:, ::2]  # strided: blocks per row
    y = TensorType("float32", (None, None))("y")
    g = sg.function([y], M.tanh(y) * M.exp(-y), mode=FUSED)
    compare(g(rows), sg.function([y], M.tanh(y) * M.exp(-y), mode=PY)(rows))


def test_only_loops_with_two_slow_ops_prefetch():
    x = TensorType("float32", (None,))("x")
    cheap = sg.function([x], x * 2 + 1, mode=FUSED)
    one = sg.function([x], M.exp(x) + 1, mode=FUSED)
    two = sg.function([x], M.exp(x) / (x + 3), mode=FUSED)
    assert ["llvm.prefetch" in f.program.dump() for f in (cheap, one, two)] == [False, False, True]


def test_a_cache_hit_renders_nothing_yet_still_dumps_its_ir(tmp_path, monkeypatch):
    from symgraph.codegen import llvm
    from symgraph.config import config

    monkeypatch.setattr(config, "compiledir", str(tmp_path))
    x = TensorType("float32", (None,))("x")
    kernel, _ = lower_elemwise((M.exp(x) * 5 - 1).owner.inputs[0].owner)
    first = llvm.compile_kernel(kernel)
    monkeypatch.delitem(llvm._COMPILED, kernel.name)  # as a new process would
    rendered = []
    real_render = llvm.render_module
    monkeypatch.setattr(llvm, "render_module", lambda k: rendered.append(k) or real_render(k))
    again = llvm.compile_kernel(kernel)
    assert again.cache_hit and rendered == []
    assert again.ir == first.ir and len(rendered) == 1
    out = np.empty(3, "float32")
    assert again.call(np.zeros(3, "float32"), out) == 0


def test_the_cache_key_changes_with_the_renderer_source(monkeypatch):
    from symgraph.codegen import llvm_load

    x = TensorType("float32", (None,))("x")
    kernel, _ = lower_elemwise((x * 2).owner)
    key = llvm_load.kernel_key(kernel)
    monkeypatch.setattr(llvm_load, "renderer_fingerprint", lambda: "edited")
    assert llvm_load.kernel_key(kernel) != key


def test_a_process_whose_kernels_are_all_cached_never_imports_the_renderer(tmp_path):
    # (llvmlite.ir itself is still imported: llvmlite.binding, which links the objects,
    # imports it)
    script = (
        "import sys, numpy as np, symgraph as sg, symgraph.tensor as T\n"
        "x = T.fmatrix('x')\n"
        "f = sg.function([x], T.exp(x).sum(axis=1) * 2)\n"
        "assert np.allclose(f(np.ones((2, 3), 'float32')), 6 * np.e)\n"
        "print(sorted(m for m in sys.modules if m.startswith('symgraph.codegen.llvm')))\n"
    )
    first, second = run_in_new_processes(script, tmp_path)
    assert "llvm_entry" in first  # the first process rendered the kernels
    loaded = second
    for module in ("symgraph.codegen.llvm'", "llvm_entry", "llvm_math", "llvm_scalar"):
        assert module not in loaded, loaded


def test_rows_of_any_layout_with_a_broadcast_row_match_numpy():
    # unit-stride rows run the flat kernel at offsets: negative and gapped outer strides too
    a = arrays((4, 6, 10))[::-1, ::2]
    row = arrays((1, 1, 10), seed=1)
    x = TensorType("float64", (None, None, None))("x")
    y = TensorType("float64", (1, 1, None))("y")
    expr = M.tanh(x) * y + 2.5
    f, g = sg.function([x, y], expr, mode=LL), sg.function([x, y], expr, mode=PY)
    compare(f(a, row), g(a, row))
    assert f.program.fallback_nodes == 0


def test_zero_d_kernels_unoptimized_match_the_reference_at_special_values():
    # 0-d kernels are compiled without the O3 pipeline; their values must not change.
    a, f = TensorType("float64", ())("a"), TensorType("float32", ())("f")
    exprs = [
        ([a], sg.tensor.tanh(a) * sg.tensor.nnet.sigmoid(a)),
        ([a], sg.tensor.log1p(a)),
        ([f], sg.tensor.exp(f) - 1),
        ([a], sg.tensor.cast(a * 3, "int32")),
        ([a], sg.tensor.nnet.softplus(a)),
    ]
    values = [-800.0, -3.3, -0.0, 1e-9, 0.7, 50.0, 800.0, np.nan, np.inf, -np.inf]
    with np.errstate(all="ignore"):
        for ins, out in exprs:
            native = sg.function(ins, out, mode=Mode(backend="llvm", optimizer=None))
            ref = sg.function(ins, out, mode=Mode(backend="python", optimizer=None))
            for v in values:
                arg = np.asarray(v, dtype=ins[0].dtype)
                np.testing.assert_allclose(native(arg), ref(arg), rtol=2e-6, equal_nan=True)


def _two_kernel_function(mode):
    x = TensorType("float32", (None, None))("x")
    return sg.function([x], [M.tanh(x) * 3 + M.exp(-x), M.sum(M.log1p(x * x), axis=1)], mode=mode)


def test_the_kernels_of_a_function_build_on_threads_and_match_numpy(tmp_path, monkeypatch):
    from symgraph.codegen import llvm
    from symgraph.config import config

    monkeypatch.setattr(config, "compiledir", str(tmp_path))
    monkeypatch.setattr(llvm_load, "_COMPILED", {})  # as a new process would
    monkeypatch.setenv("SYMGRAPH_NUM_THREADS", "2")
    threaded = llvm.STATS["built_on_threads"]
    f = _two_kernel_function(LL)
    assert llvm.STATS["built_on_threads"] >= threaded + 2
    assert len(f.program.kernels) >= 2 and f.program.cache_hits == 0
    a = arrays((5, 7), "float32")
    for got, want in zip(f(a), _two_kernel_function(PY)(a)):
        compare(got, want)


def test_a_kernel_the_renderer_refuses_in_a_batch_falls_back_to_numpy(tmp_path, monkeypatch):
    from symgraph.codegen import llvm
    from symgraph.codegen.kernel import NotLowerable

    monkeypatch.setattr(llvm_load, "_COMPILED", {})
    monkeypatch.setattr(llvm_load, "_CACHE", DiskCache(tmp_path))
    real_render = llvm.render_module

    def render(kernel):
        if kernel.kind == "reduce":
            raise NotLowerable("refused for the test")
        return real_render(kernel)

    monkeypatch.setattr(llvm, "render_module", render)
    f = _two_kernel_function(LL)
    assert f.program.fallback_nodes == 1 and len(f.program.kernels) >= 1
    a = arrays((4, 3), "float32")
    for got, want in zip(f(a), _two_kernel_function(PY)(a)):
        compare(got, want)


def test_threads_compiling_the_same_kernels_at_once_build_each_once(tmp_path, monkeypatch):
    import threading
    import time

    from symgraph.codegen import llvm_jit

    monkeypatch.setattr(llvm_load, "_COMPILED", {})
    monkeypatch.setattr(llvm_load, "_CACHE", DiskCache(tmp_path))
    real_emit = llvm_jit.emit_object

    def slow_emit(*args, **kwargs):
        time.sleep(0.05)  # both threads are inside compile_kernels before either finishes
        return real_emit(*args, **kwargs)

    monkeypatch.setattr(llvm_jit, "emit_object", slow_emit)
    x = TensorType("float64", (None,))("x")
    kernels = [lower_elemwise(op(x).owner)[0] for op in (M.tanh, M.exp, M.log1p)]
    built = llvm_load.STATS["compiled"]
    results: list = [None, None]

    def compile_all(k: int) -> None:
        results[k] = llvm_load.compile_kernels(kernels if k == 0 else kernels[::-1])

    threads = [threading.Thread(target=compile_all, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert llvm_load.STATS["compiled"] == built + len(kernels)
    assert results[0] == results[1][::-1]
    assert not llvm_load._BUILDING
    v = np.linspace(0.1, 2.0, 7)
    for compiled, fn in zip(results[0], (np.tanh, np.exp, np.log1p)):
        out = np.empty_like(v)
        assert compiled.call(v, out) == 0
        np.testing.assert_allclose(out, fn(v), rtol=1e-14)


def test_an_error_building_a_kernel_on_a_thread_is_raised(tmp_path, monkeypatch):
    from symgraph.codegen import llvm_jit

    def broken(*args, **kwargs):
        raise RuntimeError("broken for the test")

    monkeypatch.setattr(llvm_load, "_COMPILED", {})
    monkeypatch.setattr(llvm_load, "_CACHE", DiskCache(tmp_path))
    monkeypatch.setenv("SYMGRAPH_NUM_THREADS", "2")
    monkeypatch.setattr(llvm_jit, "emit_object", broken)
    with pytest.raises(RuntimeError, match="broken for the test"):
        _two_kernel_function(LL)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_and_min_over_long_rows_propagate_nan_from_any_position(dtype, op):
    # the row's extremum is a vectorized reduction that ignores nan; a second accumulator
    # makes the row nan (numpy's result) wherever the nan sits among the vector lanes
    rng = np.random.default_rng(3)
    a = rng.standard_normal((8, 1003)).astype(dtype)
    for row, col in enumerate([0, 1, 15, 16, 17, 500, 1001, 1002]):
        if row % 2 == 0:
            a[row, col] = np.nan
    a[1, 3], a[3, 900] = np.inf, -np.inf
    a[5] = -np.inf if op == "max" else np.inf
    x = TensorType(dtype, (None, None))("x")
    reduce = getattr(M, op)
    for axis in (1, None):
        f = sg.function([x], reduce(x, axis=axis), mode=LL)
        want = getattr(np, op)(a, axis=axis)
        np.testing.assert_array_equal(f(a), want)
        np.testing.assert_array_equal(f(a[1::2]), getattr(np, op)(a[1::2], axis=axis))
