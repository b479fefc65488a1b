"""The native driver: buffers, in-place steps, errors, the disk cache, fallbacks, fused graphs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symgraph as sg
from symgraph.codegen import llvm
from symgraph.codegen.program import LLVMProgram
from symgraph.compile.mode import Mode
from symgraph.config import config
from symgraph.fgraph import FunctionGraph
from symgraph.function import Out
from symgraph.ops import math as M
from symgraph.ops.elemwise import Elemwise
from symgraph.ops.scalar import SCALAR_OPS
from symgraph.types import TensorType
from tests.helpers import object_at_end_of_a_page

LL = Mode(backend="llvm", optimizer=None)
PY = Mode(backend="python", optimizer=None)


def vector(name="x", dtype="float64"):
    return TensorType(dtype, (None,))(name)


def test_llvm_is_registered_and_the_default_native_backend():
    from symgraph.codegen import BACKENDS
    from symgraph.compile.mode import native_backend

    assert "llvm" in BACKENDS
    assert native_backend() == "llvm" or config.device == "cuda"


def test_returned_outputs_are_not_overwritten_by_later_calls():
    x = vector()
    f = sg.function([x], [Out(x * 2, borrow=True)], mode=LL)
    a = f(np.arange(3.0))[0]
    b = f(np.arange(3.0) + 10)[0]
    assert a is not b  # `a` is still held: the next call wrote elsewhere
    np.testing.assert_array_equal(a, [0, 2, 4])
    np.testing.assert_array_equal(b, [20, 22, 24])
    del a
    c = f(np.ones(3))[0]
    np.testing.assert_array_equal(b, [20, 22, 24])
    np.testing.assert_array_equal(c, [2, 2, 2])


def test_intermediate_buffers_are_reused_across_calls():
    x = vector()
    fg = FunctionGraph([x], [M.exp(x * 2) + 1])
    program = LLVMProgram(fg)
    first = program([np.arange(4.0)])[0]
    step = program.kernel_steps[0]
    inner = id(step.buffers[0])  # an id: holding the buffer would make the step allocate
    del first
    second = program([np.arange(4.0) + 1])[0]
    assert id(step.buffers[0]) == inner  # written again, not reallocated
    np.testing.assert_allclose(second, np.exp((np.arange(4.0) + 1) * 2) + 1)
    third = program([np.arange(7.0)])[0]  # a new shape: new buffers
    assert third.shape == (7,) and second.shape == (4,)


def test_inplace_pattern_writes_into_the_input():
    x, y = vector("x"), vector("y")
    node = Elemwise(SCALAR_OPS["add"], ((0, 0),)).make_node(x * 1, y)
    fg = FunctionGraph([x, y], [node.outputs[0]], clone=False)
    program = LLVMProgram(fg)
    a, b = np.arange(3.0), np.ones(3)
    out = program([a, b])[0]
    np.testing.assert_array_equal(out, [1, 2, 3])
    inner = program.kernel_steps[0].buffers[0]  # x * 1: the buffer the add wrote into
    assert out is inner or np.shares_memory(out, inner)
    assert program.kernel_steps[1].inplace_input == 0


def test_broadcast_mismatch_names_the_op_the_shapes_and_the_line():
    x, y = vector("x"), vector("y")
    f = sg.function([x, y], x + y, mode=LL)
    with pytest.raises(ValueError) as err:
        f(np.ones(3), np.ones(4))
    text = str(err.value)
    assert "Elemwise{add}" in text and "(3,)" in text and "(4,)" in text
    assert "test_program.py" in text  # the user's line


def test_fallback_nodes_are_counted_and_still_run():
    x = vector()
    f = sg.function([x], M.gammaln(x) + M.psi(x), mode=LL)
    np.testing.assert_allclose(
        f(np.array([1.5, 2.5])),
        sg.function([x], M.gammaln(x) + M.psi(x), mode=PY)(np.array([1.5, 2.5])),
    )
    assert f.program.fallback_nodes == 2
    assert {n.op.scalar_op.name for n in f.program.fallbacks} == {"gammaln", "psi"}


def test_inputs_that_are_not_plain_arrays_take_the_general_path():
    x = vector("x", "float32")
    f = sg.function([x], x + 1, mode=LL)
    f.trust_input = True
    np.testing.assert_array_equal(f([1.0, 2.0]), [2, 3])  # a list
    big_endian = np.arange(4, dtype=">f4")
    np.testing.assert_array_equal(f(big_endian), [1, 2, 3, 4])
    unaligned = np.frombuffer(b"\0" + np.arange(3, dtype="f4").tobytes(), "f4", 3, 1)
    np.testing.assert_array_equal(f(unaligned), [1, 2, 3])


def test_default_pipeline_fused_expression_matches_numpy():
    x = vector("x", "float32")
    expr = M.tanh(0.5 * x + 0.1) * M.sigmoid(x) + M.exp(-x * x)
    f = sg.function([x], expr)
    value = np.random.default_rng(0).standard_normal(1000).astype("float32")
    want = np.tanh(np.float32(0.5) * value + np.float32(0.1)) / (1 + np.exp(-value)) + np.exp(
        -value * value
    )
    np.testing.assert_allclose(f(value), want, rtol=2e-6, atol=1e-7)
    assert f.program.fallback_nodes == 0


def test_dump_shows_the_driver_the_kernel_listing_and_the_ir():
    x = vector()
    f = sg.function([x], M.sum(M.exp(x)), mode=LL)
    text = f.program.dump()
    assert "def run(values):" in text and "load in0" in text and "define" in text


def test_a_new_process_loads_kernels_from_the_disk_cache(tmp_path):
    script = textwrap.dedent(f"""
        import numpy as np, symgraph as sg
        from symgraph.config import config
        from symgraph.compile.mode import Mode
        from symgraph.types import TensorType
        config.compiledir = {str(tmp_path)!r}
        x = TensorType("float64", (None,))("x")
        f = sg.function([x], sg.tensor.exp(x) * 3 + 1, mode=Mode(backend="llvm", optimizer=None))
        assert np.allclose(f(np.zeros(2)), 4)
        print(f.program.cache_hits, len(f.program.kernels))
    """)
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout.split()
        for _ in range(2)
    ]
    kernels = int(runs[0][1])
    assert runs[0] == ["0", str(kernels)]  # compiled
    assert runs[1] == [str(kernels), str(kernels)]  # every kernel from the cache


def test_compiled_kernels_are_shared_within_a_process():
    x = vector()
    before = dict(llvm.STATS)
    f1 = sg.function([x], x * 7 - 2, mode=LL)
    f2 = sg.function([x], x * 7 - 2, mode=LL)
    assert f1.program.kernels[0] is f2.program.kernels[0]
    built = (
        llvm.STATS["compiled"]
        + llvm.STATS["cache_hits"]
        - before["compiled"]
        - before["cache_hits"]
    )
    assert built <= 2


def test_fused_map_reduce_runs_as_one_native_kernel():
    composite = pytest.importorskip("symgraph.ops.composite")
    from symgraph.ops.reduce import CAReduce

    x, b = TensorType("float32", (None, None))("x"), TensorType("float32", (1, None))("b")
    # sum over axis 1 of exp(x + b)
    comp = composite.Composite(2, (("add", (0, 1), "float32"), ("exp", (2,), "float32")), output=3)
    elem = Elemwise(comp)(x, b)
    op = composite.FusedReduce(comp, CAReduce(SCALAR_OPS["add"], (1,)), elem.type)
    out = op(x, b)
    f, g = sg.function([x, b], out, mode=LL), sg.function([x, b], out, mode=PY)
    rng = np.random.default_rng(0)
    xv, bv = rng.random((40, 9), "float32"), rng.random((1, 9), "float32")
    np.testing.assert_allclose(f(xv, bv), g(xv, bv), rtol=1e-6)
    np.testing.assert_allclose(f(xv.T.copy().T, bv), g(xv, bv), rtol=1e-6)
    assert f.program.fallback_nodes == 0 and len(f.program.kernels) == 1


def test_updates_alternate_between_two_buffers_without_corrupting_old_values():
    w = sg.shared(np.ones(4), name="w")
    f = sg.function([], [], updates=[(w, w * 2 + 0)], mode=LL)
    held = []
    for k in range(4):
        f()
        held.append(w.get_value(borrow=True))
        np.testing.assert_array_equal(w.get_value(), 2.0 ** (k + 1))
    step = f.program.kernel_steps[-1]
    addresses = {h.ctypes.data for h in held}
    assert len(addresses) == 4  # each held value kept its own memory
    del held
    f(), f()
    before = {id(b) for b in step.buffers}
    f(), f()
    assert {id(b) for b in step.buffers} == before  # no new buffers once nobody holds old ones
    np.testing.assert_array_equal(w.get_value(), 2.0**8)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_blas_steps_match_the_reference(dtype):
    blas = pytest.importorskip("symgraph.ops.gemm")
    from symgraph.ops.blas import Dot

    m, v = TensorType(dtype, (None, None)), TensorType(dtype, (None,))
    z, x, y, a, b = m("z"), m("x"), m("y"), v("a"), v("b")
    alpha, beta = TensorType(dtype, ())("alpha"), TensorType(dtype, ())("beta")
    outs = [
        Dot()(x, y),
        Dot()(x, a),
        blas.Gemm()(z, alpha, x, y, beta),
        blas.Gemv()(b, alpha, x, a, beta),
        Dot()(b, b),  # vector . vector: a 0-d result
    ]
    rng = np.random.default_rng(0)
    vals = [rng.random(s).astype(dtype) for s in [(3, 5), (3, 4), (4, 5), (4,), (3,)]]
    vals += [np.asarray(1.5, dtype), np.asarray(0.5, dtype)]
    ins = [z, x, y, a, b, alpha, beta]
    f, g = sg.function(ins, outs, mode=LL), sg.function(ins, outs, mode=PY)
    for got, want in zip(f(*vals), g(*vals)):
        assert np.shape(got) == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-5)
    assert f.program.fallback_nodes == 0
    vals[1] = np.asfortranarray(vals[1])  # a layout the BLAS step leaves to perform
    for got, want in zip(f(*vals), g(*vals)):
        np.testing.assert_allclose(got, want, rtol=1e-5)
    with pytest.raises(ValueError):
        f(*vals[:2], vals[2][:3], *vals[3:])


def test_inplace_gemm_writes_into_its_first_input():
    blas = pytest.importorskip("symgraph.ops.gemm")
    m = TensorType("float64", (None, None))
    z, x, y = m("z"), m("x"), m("y")
    node = blas.Gemm(inplace=True).make_node(z * 1, 2.0, x, y, 1.0)
    program = LLVMProgram(FunctionGraph([z, x, y], [node.outputs[0]], clone=False))
    zv, xv, yv = np.ones((2, 2)), np.eye(2), np.full((2, 2), 3.0)
    out = program([zv, xv, yv])[0]
    np.testing.assert_array_equal(out, np.full((2, 2), 1.0) + 2 * np.full((2, 2), 3.0))
    assert np.shares_memory(out, program.kernel_steps[0].buffers[0])  # z * 1's buffer


@pytest.mark.parametrize("backend", ["llvm", "c"])
def test_entry_points_check_the_type_before_reading_ndarray_fields(backend):
    # An operand that is not an ndarray (a float, a numpy scalar) may be smaller than an
    # ndarray; the entry must not read its would-be data/descr/flags fields.
    x = vector()
    f = sg.function([x], x + 1, mode=Mode(backend=backend, optimizer=None))
    (kernel,) = f.program.kernels
    obj, region = object_at_end_of_a_page(float)
    out = np.empty(3)
    assert kernel.call(obj, out) == 1
    assert kernel.call(np.zeros(3), obj) == 1
    assert kernel.call(np.zeros(3), out) == 0
    del obj  # the region stays mapped: the object's refcount never reaches zero


@pytest.mark.parametrize("backend", ["llvm", "c"])
def test_an_entry_point_keeps_its_method_table_alive(backend):
    # The builtin function points into a ctypes method table; when only the compile cache
    # held that table, clearing the cache freed it under functions still in use, and the
    # garbage collector later read the freed memory (the intermittent crash of full runs).
    import gc

    from symgraph.codegen import c

    cache = {"llvm": llvm._COMPILED, "c": c._COMPILED}[backend]
    x = vector()
    f = sg.function([x], x * 3, mode=Mode(backend=backend, optimizer=None))
    entry = f.program.kernels[0].call
    assert any(type(item).__name__ == "_MethodDef" for item in entry.__self__)
    saved = dict(cache)
    cache.clear()
    try:
        gc.collect()
        out = np.empty(3)
        assert entry(np.arange(3.0), out) == 0
        np.testing.assert_array_equal(out, [0, 3, 6])
        np.testing.assert_array_equal(f(np.arange(3.0)), [0, 3, 6])
    finally:
        cache.update(saved)


def test_kernels_of_a_function_with_blas_split_only_very_large_work():
    from symgraph.codegen.program_steps import PARALLEL_MIN, PARALLEL_MIN_WITH_BLAS

    a, b = TensorType("float64", (None, None))("a"), TensorType("float64", (None, None))("b")
    v = vector()
    f = sg.function([a, b, v], [sg.tensor.dot(a, b), v * 2 + 1], mode=LL)
    g = sg.function([v], v * 2 + 1, mode=LL)
    assert {s.parallel_min for s in f.program.kernel_steps} == {PARALLEL_MIN_WITH_BLAS}
    assert {s.parallel_min for s in g.program.kernel_steps} == {PARALLEL_MIN}
    big = np.arange(3 * PARALLEL_MIN, dtype="float64")  # above one threshold, below the other
    m = np.ones((2, 2))
    np.testing.assert_array_equal(f(m, m, big)[1], big * 2 + 1)
    np.testing.assert_array_equal(g(big), big * 2 + 1)


def test_symgraph_num_threads_sizes_the_kernel_thread_pool():
    code = ("from symgraph.codegen.program_steps import thread_pool; "
            "print(thread_pool().size)")
    for wanted in ("1", "3"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env={"SYMGRAPH_NUM_THREADS": wanted, "PATH": ""}, check=True)
        assert out.stdout.strip() == wanted


def test_big_elementwise_steps_of_a_blas_function_run_one_slice_without_the_general_path():
    from symgraph.codegen.program_steps import PARALLEL_MIN

    a, b = TensorType("float64", (None, None))("a"), TensorType("float64", (None, None))("b")
    v = vector()
    f = sg.function([a, b, v], [sg.tensor.dot(a, b), v * 2 + 1], mode=LL)
    generals = [k for k in f.program.namespace if k.endswith("_G1")]
    calls = []
    for key in generals:  # count the calls of each general path
        general = f.program.namespace[key]
        counted = lambda *args, _g=general: calls.append(1) or _g(*args)  # noqa: E731
        # the driver's globals, and the caller's, which runs the driver's body inline
        f.program.namespace[key] = f.__call__.__globals__[key] = counted
    big = np.arange(3 * PARALLEL_MIN, dtype="float64")  # the entry asks for threads (code 3)
    m = np.ones((2, 2))
    for _ in range(3):
        np.testing.assert_array_equal(f(m, m, big)[1], big * 2 + 1)
    assert len(calls) == len(generals)  # first calls only, which size the buffers


def test_shape_i_runs_natively():
    x = TensorType("float32", (None, None))("x")
    f = sg.function([x], [x.shape[0] * 2, x.shape[1] + 0], mode=Mode(backend="llvm"))
    assert f.program.fallback_nodes == 0
    got = f(np.zeros((3, 5), "float32"))
    assert [int(g) for g in got] == [6, 5] and all(np.asarray(g).dtype == "int64" for g in got)


@pytest.fixture
def tanh_scan(tmp_path, monkeypatch):
    """A scan of h = tanh(x + 2h) over the rows of xs, compiled natively from an empty kernel
    cache (as a new process would): returns (xs, h0, hs)."""
    import symgraph.tensor as T
    from symgraph.codegen import llvm_load
    from symgraph.codegen.cache import DiskCache

    monkeypatch.setattr(llvm_load, "_COMPILED", {})
    monkeypatch.setattr(llvm_load, "_CACHE", DiskCache(tmp_path))
    monkeypatch.setattr(config, "mode", "llvm")
    xs, h0 = T.matrix("xs"), T.vector("h0")
    hs, _ = sg.scan(lambda x, h: T.tanh(x + 2 * h), sequences=xs, outputs_info=h0)
    return xs, h0, hs


def test_a_kernel_shared_by_a_scan_and_its_outer_function_is_built_once(tanh_scan):
    # The outer build claims tanh(a + 2*b) first; the inner function, compiling meanwhile on
    # this thread, waits for it (it once waited for the whole outer build: a deadlock).
    import threading

    import symgraph.tensor as T
    from symgraph.codegen import llvm_load

    xs, h0, hs = tanh_scan
    built: list = []
    compiling = threading.Thread(
        target=lambda: built.append(
            sg.function([xs, h0], [hs, T.tanh(xs[0] + 2 * h0), T.exp(xs).sum()])
        ),
        daemon=True,  # a deadlock fails the test instead of hanging the run
    )
    compiling.start()
    compiling.join(timeout=120)
    assert built, "compiling the function did not finish"
    xv, hv = np.linspace(-1, 1, 12).reshape(4, 3), np.array([0.1, -0.2, 0.3])
    got, first, _ = built[0](xv, hv)
    np.testing.assert_allclose(first, np.tanh(xv[0] + 2 * hv), rtol=1e-12)
    np.testing.assert_allclose(got[0], first, rtol=1e-12)
    assert not llvm_load._BUILDING


def test_a_scans_inner_function_compiles_with_its_outer_function(tanh_scan):
    # compiled while the outer kernels build, not at the first call
    import symgraph.tensor as T
    from symgraph.codegen import llvm_load

    xs, h0, hs = tanh_scan
    f = sg.function([xs, h0], [hs, T.exp(hs).sum()])
    before = dict(llvm_load.STATS)
    xv, hv = np.linspace(-1, 1, 12).reshape(4, 3), np.array([0.1, -0.2, 0.3])
    got, total = f(xv, hv)
    assert llvm_load.STATS == before  # the first call compiled and loaded nothing
    h, want = hv, []
    for x in xv:
        h = np.tanh(x + 2 * h)
        want.append(h)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(total, np.exp(want).sum(), rtol=1e-12)


def test_an_error_building_the_outer_kernels_beside_a_scan_is_raised(tanh_scan, monkeypatch):
    # the build runs on its own thread while the inner function compiles on this one
    import symgraph.tensor as T
    from symgraph.codegen import llvm_jit, llvm_load

    def broken(*args, **kwargs):
        raise RuntimeError("broken for the test")

    monkeypatch.setattr(llvm_jit, "emit_object", broken)
    xs, h0, hs = tanh_scan
    with pytest.raises(RuntimeError, match="broken for the test"):
        sg.function([xs, h0], [hs, T.exp(xs).sum()])
    assert not llvm_load._BUILDING


def test_a_driver_is_compiled_once_then_loaded_from_the_disk_cache(tmp_path, monkeypatch):
    import builtins

    from symgraph.codegen import program

    monkeypatch.setattr(config, "compiledir", str(tmp_path))
    compiled = []
    real_compile = builtins.compile

    def counting(source, filename, *args, **kwargs):
        compiled.append(filename)
        return real_compile(source, filename, *args, **kwargs)

    monkeypatch.setattr(builtins, "compile", counting)
    source = "def run(values):\n    (a,) = values\n    return [a * K]\n"
    namespaces = [{"K": 3}, {"K": 4}]
    for ns in namespaces:  # the second process-like load: the same source, another namespace
        exec(program.driver_code(source, "<symgraph driver t>"), ns)
    assert compiled == ["<symgraph driver t>"]
    assert [ns["run"]([2]) for ns in namespaces] == [[6], [8]]
    exec(program.driver_code(source.replace("K]", "K + 1]"), "<symgraph driver t>"), ns)
    assert len(compiled) == 2 and ns["run"]([2]) == [9]  # another source: compiled, not reused


def test_shape_steps_share_read_only_sizes_yet_hand_out_writeable_copies():
    import symgraph as sg
    import symgraph.tensor as T

    x = T.dmatrix("x")
    f = sg.function([x], [x.shape[1], x.shape[0] * x.shape[1] + 1])
    for shape in [(3, 4), (5, 2), (3, 4)]:
        size, total = f(np.ones(shape))
        assert int(size) == shape[1] and int(total) == shape[0] * shape[1] + 1
        size += 100  # the caller's copy: the program's shared size is untouched
    assert int(f(np.ones((3, 4)))[0]) == 4


@pytest.mark.parametrize("nd, order", [
    (2, (1, 0)), (3, (2, 1, 0)), (1, ("x", 0)), (1, (0, "x")), (0, ("x",)), (0, ("x", "x")),
    (2, (0, 1)), (2, ("x", 0, 1)), (2, (0, "x", 1)), (3, (0, 2, 1)), (2, (1, "x", 0)),
])
def test_a_dimshuffle_in_the_drivers_own_line_is_the_same_view(nd, order):
    from symgraph.codegen.program_steps import dimshuffle_expression, dimshuffle_view
    from symgraph.ops.elemwise import DimShuffle

    op = DimShuffle(nd, order)
    values = [np.arange(24.0)[: int(np.prod((2, 3, 4)[:nd]))].reshape((2, 3, 4)[:nd])]
    if nd == 0:
        values.append(np.float64(7.0))  # the driver may hold a numpy scalar of rank 0
    expression = dimshuffle_expression(op, "a")
    for a in values:
        want = dimshuffle_view(op)(a)
        if expression is None:  # a transpose of some axes: the function's view
            assert order in [(0, 2, 1), (1, "x", 0)]
            continue
        got = eval(expression, {"a": a})
        assert got.shape == want.shape and np.array_equal(got, want)
        assert isinstance(a, np.float64) or np.shares_memory(got, a)


def test_kernels_adopt_mkls_team_once_mkl_runs_a_product_in_the_process():
    # a fresh process: a product-only function chooses the BLAS; a later elementwise-only
    # function loads the kernels' entry, which then takes MKL's OpenMP team where it has one
    code = textwrap.dedent("""
        import numpy as np, symgraph as sg, symgraph.tensor as T
        from symgraph.codegen import cblas, llvm_abi
        a = T.dmatrix("a")
        w = sg.shared(np.ones((3, 3)))
        sg.function([a], T.dot(a, w))(np.ones((2, 3)))
        x = T.dvector("x")
        f = sg.function([x], T.exp(x) * 2)
        v = np.linspace(-1, 1, 3 * llvm_abi.TEAM_MIN)
        assert np.allclose(f(v), np.exp(v) * 2)
        team = cblas.openmp_team()
        state = llvm_abi.team_state()
        print(team is not None, bool(state.fork), state.fork == (team[0] if team else None))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    has_team, set_, same = out.stdout.split()
    assert has_team == set_  # the entry took the team exactly when MKL has one
    assert same == "True" or has_team == "False"
