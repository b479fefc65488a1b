"""The LLVM kernels' shared entry point and strided loop (codegen/llvm_entry.py): every layout
runs the kernel's row, in place or on gathered blocks, and gives numpy's result."""

from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from symgraph.codegen import llvm_abi
from symgraph.compile.mode import Mode
from symgraph.ops import math as M
from symgraph.types import TensorType
from tests.codegen.kernel_sweep import PY, compare

LL = Mode(backend="llvm", optimizer=None)


def _both(inputs, expr, values):
    f, g = sg.function(inputs, expr, mode=LL), sg.function(inputs, expr, mode=PY)
    got, want = f(*values), g(*values)
    compare(got, want)
    assert f.program.fallback_nodes == 0
    return got


def _layouts(shape, dtype, seed=0):
    """The same values as C-contiguous, transposed twice, reversed, and gapped arrays."""
    rng = np.random.default_rng(seed)
    base = (rng.standard_normal(shape) * 5).astype(dtype)
    wide = np.zeros((shape[0], 2 * shape[1]), dtype)
    wide[:, ::2] = base
    return {
        "contiguous": base,
        "fortran": np.asfortranarray(base),
        "reversed": base[::-1, ::-1].copy()[::-1, ::-1],
        "gapped": wide[:, ::2],
    }


@pytest.mark.parametrize("dtype", ["bool", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("layout", ["contiguous", "fortran", "reversed", "gapped"])
def test_every_item_size_and_layout_matches_numpy(dtype, layout):
    # rows of 600: longer than a gathered block, and not a multiple of it
    x = TensorType(dtype, (None, None))("x")
    y = TensorType(dtype, (None, None))("y")
    a = _layouts((5, 600), dtype)[layout]
    b = _layouts((5, 600), dtype, seed=1)["fortran"]
    expr = (x | y) if dtype == "bool" else M.maximum(x, y) - x
    _both([x, y], expr, [a, b])


@pytest.mark.parametrize("layout", ["contiguous", "fortran", "gapped"])
def test_a_column_broadcast_along_rows_is_spread_into_each_block(layout):
    x = TensorType("float64", (None, None))("x")
    c = TensorType("float64", (None, True))("c")
    a = _layouts((7, 700), "float64")[layout]
    col = np.arange(7.0)[:, None] - 3
    got = _both([x, c], M.exp(x * 0.1 - c) + c, [a, col])
    np.testing.assert_allclose(got, np.exp(a * 0.1 - col) + col, rtol=1e-12)


def _views_4d(rng) -> dict:
    """(4, 3, 5, 6) float32 values (one of them (4, 3, 1, 6)) in layouts whose h and w axes
    fold into one (contiguous; a sliced image, whose other axes step over gaps) and layouts
    where they must not (transposed, strided rows), or where a size-1 axis sits between."""
    base = rng.standard_normal((8, 3, 10, 6)).astype("float32")
    return {
        "contiguous": np.ascontiguousarray(base[:4, :, :5]),
        "sliced batch": base[::2, :, :5],
        "transposed": np.ascontiguousarray(base[:4, :, :6, :5].transpose(0, 1, 3, 2)).transpose(
            0, 1, 3, 2),
        "strided rows": base[:4, :, ::2],
        "size 1": np.ascontiguousarray(base[:4, :, :1]),
    }


@pytest.mark.parametrize("layout", ["contiguous", "sliced batch", "transposed", "strided rows",
                                    "size 1"])
def test_strided_loops_fold_axes_only_where_every_operand_allows(layout):
    """A per-channel bias on NCHW: the strided loop runs one row per (n, c), folding h and w,
    where the layouts allow; the results match numpy's in every layout."""
    x = TensorType("float32", (None, None, None, None))("x")
    b = TensorType("float32", (None,))("b")
    a = _views_4d(np.random.default_rng(7))[layout]
    bias = np.arange(3, dtype="float32") - 1
    got = _both([x, b], M.maximum(x + b.dimshuffle("x", 0, "x", "x"), 0) * x, [a, bias])
    want = np.maximum(a + bias[None, :, None, None], 0) * a
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # a broadcast inner axis: its stride 0 folds with another broadcast axis only
    row = TensorType("float32", (True, True, True, None))("row")
    last = np.arange(a.shape[3], dtype="float32")[None, None, None, :]
    got = _both([x, row], x - row, [a, last])
    np.testing.assert_allclose(got, a - last, rtol=1e-6)


@pytest.mark.parametrize("axes", [(0, 2, 3), (2, 3), (1,), (0, 1), (1, 2, 3), (0, 3), None])
@pytest.mark.parametrize("layout", ["contiguous", "sliced batch", "transposed", "strided rows"])
def test_reductions_fold_axes_reduced_alike(axes, layout):
    """A reduction folds h and w of NCHW where both are reduced or both kept and the layout
    allows: a bias gradient (axes 0, 2, 3) sums 676-element rows."""
    x = TensorType("float32", (None, None, None, None))("x")
    a = _views_4d(np.random.default_rng(8))[layout]
    for expr, want in ((M.sum(x * 2, axis=axes), (a * 2.0).sum(axis=axes)),
                       (M.max(x, axis=axes), a.max(axis=axes))):
        f = sg.function([x], expr, mode=LL)
        assert f.program.fallback_nodes == 0
        # float32 sums in another order than numpy's: within a float32 rounding of the exact
        np.testing.assert_allclose(f(a), want, rtol=2e-6, atol=1e-5)


@pytest.mark.parametrize("axes", [(2,), (0, 2), (2, 3)])
def test_a_reduced_axis_never_folds_into_a_kept_one(axes):
    """Broadcast by its strides, the input steps by 0 over the reduced axis 2 and the kept
    axis 3 of size 1, as the output does: only the flags tell the two axes apart."""
    x = TensorType("float32", (None, None, None, None))("x")
    a = np.broadcast_to(np.arange(1, 7, dtype="float32").reshape(2, 3, 1, 1), (2, 3, 40, 1))
    f = sg.function([x], M.sum(x, axis=axes), mode=LL)
    np.testing.assert_array_equal(f(a), a.sum(axis=axes))


def test_many_gathered_operands_take_shorter_blocks():
    # 40 transposed float64 inputs: 320 bytes an element do not fit 256-element blocks
    xs = [TensorType("float64", (None, None))(f"x{k}") for k in range(40)]
    values = [np.full((300, 3), float(k + 1)).T for k in range(40)]
    total = xs[0]
    for k, x in enumerate(xs[1:]):
        total = total + x * (k % 3)
    f = sg.function(xs, total, mode=LL)
    want = values[0] + sum(v * (k % 3) for k, v in enumerate(values[1:]))
    np.testing.assert_array_equal(f(*values), want)


def test_an_output_that_is_not_contiguous_is_scattered():
    x = TensorType("float32", (None, None))("x")
    f = sg.function([x], M.tanh(x), mode=LL)
    (kernel,) = f.program.kernels
    a = _layouts((4, 300), "float32")["gapped"]
    out = np.zeros((300, 4), "float32").T  # transposed: a strided output
    assert kernel.call(a, out) == 0
    np.testing.assert_allclose(out, np.tanh(a), rtol=1e-6)


@pytest.mark.parametrize("axis", [0, 1, None])
@pytest.mark.parametrize("layout", ["contiguous", "fortran", "reversed", "gapped"])
def test_reductions_fold_gathered_rows(axis, layout):
    x = TensorType("float64", (None, None))("x")
    a = _layouts((6, 900), "float64")[layout]
    for expr in (M.sum(x, axis=axis), M.max(x * 2, axis=axis), M.prod(x * 0 + 1.001, axis=axis)):
        got = _both([x], expr, [a])
        assert np.shape(got) == np.shape(np.sum(a, axis=axis))


def test_every_kernel_calls_the_one_entry_and_carries_none_of_its_own():
    import ctypes

    from symgraph.codegen import llvm

    x = TensorType("float64", (None, None))("x")
    f = sg.function([x], [M.tanh(x), M.sum(x * 2, axis=1)], mode=LL)
    for compiled in f.program.kernels:
        (table,) = [t for t in compiled.call.__self__ if type(t).__name__ == "_MethodDef"]
        assert ctypes.cast(table.ml_meth, ctypes.c_void_p).value == llvm_abi.entry_address()
        assert llvm_abi.ENTRY_NAME not in llvm.render_module(compiled.kernel)
        assert "_call" not in llvm.render_module(compiled.kernel)


def test_the_info_has_the_c_headers_fields_in_its_order():
    import ctypes
    import re
    from pathlib import Path

    header = (Path(llvm_abi.__file__).parent / "kernels" / "c_kernel.h").read_text()
    body = header[header.index("typedef struct sg_kernel_info"):]
    body = re.sub(r"/\*.*?\*/", "", body[body.index("{") + 1:body.index("}")], flags=re.S)
    declared = []  # "int32_t nin, nout, ndim;" declares nin, nout and ndim
    for declaration in filter(str.strip, body.split(";")):
        declared += [re.findall(r"\w+", part)[-1] for part in declaration.split(",")]
    ours = [name for name, _ in llvm_abi.INFO_FIELDS]
    assert declared == [("init_output" if n == "init" else n) for n in ours]
    assert llvm_abi.KernelInfo.parallel_min.offset == 24  # after six int32
    assert ctypes.sizeof(llvm_abi.KernelInfo) == 24 + 2 * 8 + 7 * 8


def test_large_strided_work_split_across_threads_matches_numpy():
    # above PARALLEL_MIN elements the driver runs slices of axis 0 on its threads
    x = TensorType("float32", (None, None))("x")
    c = TensorType("float32", (None, True))("c")
    a = np.random.default_rng(2).standard_normal((700, 400)).astype("float32").T
    col = np.linspace(1, 2, 400, dtype="float32")[:, None]
    assert a.size > llvm_abi.PARALLEL_MIN
    got = _both([x, c], M.sigmoid(x) * c, [a, col])
    np.testing.assert_allclose(got, col / (1 + np.exp(-a)), rtol=1e-5)
    s = _both([x], M.sum(x * x, axis=1), [a])
    np.testing.assert_allclose(s, (a * a).sum(axis=1), rtol=1e-4)


# --- loops on an OpenMP team (llvm_abi.use_team) -------------------------------------------


def _gomp_team() -> tuple | None:
    """GCC's OpenMP runtime as a two-thread team: these tests run where MKL is not chosen."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("gomp")
    if name is None:
        return None
    lib = ctypes.CDLL(name)
    names = ("GOMP_parallel", "omp_get_thread_num", "omp_get_num_threads")
    return (*(ctypes.cast(getattr(lib, n), ctypes.c_void_p).value for n in names), 2)


@pytest.fixture
def team():
    """A team of (at least) two threads running every loop from 1,000 elements; the state
    before is restored after."""
    from symgraph.codegen import cblas

    state = llvm_abi.team_state()
    before = (state.fork, state.thread_num, state.num_threads, state.threads)
    before_min = state.min_work
    chosen = cblas.openmp_team() or _gomp_team()
    assert chosen is not None, "neither MKL's libiomp5 nor libgomp was found"
    llvm_abi.use_team(chosen, 1000)
    yield chosen
    llvm_abi.use_team(before if before[0] else None, before_min)


def _entry_code(f, *arrays) -> int:
    """The code the function's one kernel entry returns when called on these arrays, unsplit."""
    (step,) = f.program.kernel_steps
    return step.entry(*arrays)


@pytest.mark.parametrize("n", [1000, 1001, 64 * 31 + 5, 300_007])
def test_flat_loops_on_the_team_cover_every_element_once(team, n):
    x = TensorType("float32", (None,))("x")
    a = np.random.default_rng(3).standard_normal(n).astype("float32")
    f = sg.function([x], M.exp(x), mode=LL)
    got = f(a)
    np.testing.assert_allclose(got, np.exp(a), rtol=1e-6)
    out = np.full_like(a, np.nan)
    assert _entry_code(f, a, out) == 0  # not 3 (split me), even past PARALLEL_MIN
    np.testing.assert_array_equal(out, got)


def test_in_place_updates_on_the_team_match_numpy(team):
    p = sg.shared(np.ones((784, 512), "float32"), name="p")
    v = TensorType("float32", (None, None))("v")
    f = sg.function([v], [], updates=[(p, p + v)], mode=LL)
    step = np.random.default_rng(4).standard_normal((784, 512)).astype("float32")
    f(step)
    f(step)
    np.testing.assert_array_equal(p.get_value(), (np.ones_like(step) + step) + step)


@pytest.mark.parametrize("layout", ["fortran", "reversed", "gapped"])
def test_strided_loops_on_the_team_split_rows(team, layout):
    x = TensorType("float64", (None, None))("x")
    c = TensorType("float64", (None, True))("c")
    a = _layouts((301, 90), "float64")[layout]
    col = np.linspace(-1, 1, 301)[:, None]
    got = _both([x, c], M.tanh(x) * c, [a, col])
    np.testing.assert_allclose(got, np.tanh(a) * col, rtol=1e-12)


@pytest.mark.parametrize("axis", [0, 1, None])
def test_reductions_on_the_team_only_split_kept_rows(team, axis):
    x = TensorType("float64", (None, None))("x")
    a = _layouts((517, 300), "float64", seed=5)["contiguous"]
    got = _both([x], M.sum(x * x, axis=axis), [a])
    np.testing.assert_allclose(got, (a * a).sum(axis=axis), rtol=1e-12)
    got = _both([x], M.max(x, axis=axis), [_layouts((517, 300), "float64")["fortran"]])
    np.testing.assert_array_equal(got, _layouts((517, 300), "float64")["fortran"].max(axis=axis))


def test_without_a_team_large_loops_ask_to_be_split():
    state = llvm_abi.team_state()
    before = (state.fork, state.thread_num, state.num_threads, state.threads), state.min_work
    llvm_abi.use_team(None, 0)
    try:
        x = TensorType("float32", (None,))("x")
        f = sg.function([x], x * 2, mode=LL)
        a = np.ones(llvm_abi.PARALLEL_MIN, "float32")
        assert _entry_code(f, a, np.empty_like(a)) == 3
        np.testing.assert_array_equal(f(a), 2 * a)
    finally:
        llvm_abi.use_team(before[0] if before[0][0] else None, before[1])


def test_python_threads_may_run_loops_on_the_team_at_once(team):
    import threading

    x = TensorType("float64", (None,))("x")
    f = sg.function([x], M.exp(x) * 2, mode=LL)
    wrong = []

    def work(seed):
        rng = np.random.default_rng(seed)
        for _ in range(40):
            v = rng.standard_normal(50_000 + 7 * seed)
            if not np.allclose(f(v), np.exp(v) * 2, rtol=1e-12):
                wrong.append(seed)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong
