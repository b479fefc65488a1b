"""codegen/blas_entry.py: the native Gemm / Gemv entries against numpy, and what they refuse."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from symgraph.codegen import blas_entry
from tests.helpers import object_at_end_of_a_page, run_in_new_processes

ENTRIES = {kind: blas_entry.entry(*kind) for kind in blas_entry.KINDS}
BUILT = None not in ENTRIES.values()
pytestmark = pytest.mark.skipif(not BUILT, reason="no CBLAS or no LLVM entry here")
DTYPES = ["float32", "float64"]


def _tol(dtype) -> float:
    return 1e-5 if dtype == "float32" else 1e-12


def _layouts(rows: int, cols: int, dtype, rng) -> dict:
    """The same matrix as C order, Fortran order, a row-padded slice, a column-padded slice
    and a transposed view."""
    base = rng.standard_normal((rows, cols)).astype(dtype)
    padded = np.zeros((rows, cols + 3), dtype)
    padded[:, :cols] = base
    tall = np.zeros((rows + 2, cols), dtype, order="F")
    tall[:rows] = base
    return {
        "c": base.copy(),
        "f": np.asfortranarray(base),
        "rows": padded[:, :cols],
        "cols": tall[:rows],
        "t": np.ascontiguousarray(base.T).T,
    }


def _gemm(dtype):
    return ENTRIES["gemm", dtype]


def _gemv(dtype):
    return ENTRIES["gemv", dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 7, 3), (1, 4, 6), (6, 1, 2), (3, 5, 1), (1, 1, 1)])
def test_gemm_matches_numpy_for_every_layout(dtype, shape):
    m, k, n = shape
    rng = np.random.default_rng(0)
    alpha, beta = np.asarray(-0.5, dtype), 0.75  # a 0-d array and a Python float
    for (la, a), (lb, b), (lc, c) in itertools.product(
        _layouts(m, k, dtype, rng).items(),
        _layouts(k, n, dtype, rng).items(),
        _layouts(m, n, dtype, rng).items(),
    ):
        before = c.copy()
        assert _gemm(dtype)(alpha, a, b, beta, c) == 0, (la, lb, lc)
        want = 0.75 * before - 0.5 * (a.astype("float64") @ b)
        np.testing.assert_allclose(c, want, rtol=_tol(dtype), atol=_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha, beta", [(1.0, 1.0), (1.0, 0.0), (0.0, 2.0), (-3.0, -1.0)])
def test_gemm_alpha_beta(dtype, alpha, beta):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((4, 6)).astype(dtype), rng.standard_normal((6, 3)).astype(dtype)
    c = rng.standard_normal((4, 3)).astype(dtype)
    want = beta * c + alpha * (a @ b)
    scalars = [(alpha, beta), (np.asarray(alpha, "float32"), np.asarray(beta, "float64"))]
    for al, be in scalars:
        got = c.copy()
        assert _gemm(dtype)(al, a, b, be, got) == 0
        np.testing.assert_allclose(got, want, rtol=_tol(dtype), atol=_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_beta_zero_does_not_read_z(dtype):
    a, b = np.ones((3, 4), dtype), np.ones((4, 2), dtype)
    c = np.full((3, 2), np.nan, dtype)
    assert _gemm(dtype)(2.0, a, b, 0.0, c) == 0
    np.testing.assert_array_equal(c, 8.0)
    y = np.full(3, np.nan, dtype)
    assert _gemv(dtype)(2.0, a, np.ones(4, dtype), 0.0, y) == 0
    np.testing.assert_array_equal(y, 8.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemv_matches_numpy_for_every_layout(dtype):
    rng = np.random.default_rng(1)
    for m, k in [(5, 7), (1, 3), (4, 1), (1, 1)]:
        for name, a in _layouts(m, k, dtype, rng).items():
            for step_x, step_y in [(1, 1), (2, 3)]:
                x = rng.standard_normal(step_x * k).astype(dtype)[::step_x]
                y = rng.standard_normal(step_y * m).astype(dtype)[::step_y]
                want = 2.0 * (a @ x) + 0.5 * y
                assert _gemv(dtype)(2.0, a, x, 0.5, y) == 0, (name, step_x, step_y)
                np.testing.assert_allclose(y, want, rtol=_tol(dtype), atol=_tol(dtype))


def test_empty_outputs_are_done_and_an_empty_inner_dimension_is_refused():
    f = np.float64
    assert _gemm("float64")(1.0, np.ones((0, 3)), np.ones((3, 2)), 1.0, np.ones((0, 2))) == 0
    assert _gemv("float64")(1.0, np.ones((0, 3)), np.ones(3), 1.0, np.ones(0)) == 0
    c, y = np.ones((2, 2), f), np.ones(2, f)
    assert _gemm("float64")(1.0, np.ones((2, 0)), np.ones((0, 2)), 2.0, c) == 1
    assert _gemv("float64")(1.0, np.ones((2, 0)), np.ones(0), 2.0, y) == 1
    np.testing.assert_array_equal(c, 1)
    np.testing.assert_array_equal(y, 1)


def _refusals(dtype) -> list:
    """(why, alpha, x, y, beta, z) of Gemm calls the entry must refuse."""
    a, b = np.ones((4, 4), dtype), np.ones((4, 4), dtype)
    c = np.ones((4, 4), dtype)
    other = "float64" if dtype == "float32" else "float32"
    frozen = np.ones((4, 4), dtype)
    frozen.flags.writeable = False
    buf = np.ones((4, 6), dtype)
    return [
        ("no unit stride", 1.0, a[::2, ::2], b[:2], 1.0, c[:2]),
        ("negative stride", 1.0, a[::-1], b, 1.0, c),
        ("z is x", 1.0, a, b, 1.0, a),
        ("z overlaps x", 1.0, buf[:, :4], b, 1.0, buf[:, 2:]),
        ("z overlaps y", 1.0, a, buf[:, 1:5], 1.0, buf[:, :4]),
        ("z strided over x's rows", 1.0, buf[:, :2], b[:2], 1.0, buf[:, 2:6]),
        ("dtype", 1.0, a.astype(other), b, 1.0, c),
        ("int dtype", 1.0, a, b, 1.0, c.astype("int64")),
        ("rank", 1.0, a[0], b, 1.0, c),
        ("inner shape", 1.0, a[:, :3], b, 1.0, c),
        ("rows", 1.0, a[:3], b, 1.0, c),
        ("cols", 1.0, a, b[:, :3], 1.0, c),
        ("z not writeable", 1.0, a, b, 1.0, frozen),
        ("a list", 1.0, a.tolist(), b, 1.0, c),
        ("a subclass", 1.0, a.view(type("Sub", (np.ndarray,), {})), b, 1.0, c),
        ("alpha an int", 1, a, b, 1.0, c),
        ("alpha a numpy scalar", np.float32(1), a, b, 1.0, c),
        ("beta a vector", 1.0, a, b, np.ones(1), c),
        ("beta of int dtype", 1.0, a, b, np.asarray(1), c),
        ("alpha None", None, a, b, 1.0, c),
    ]


@pytest.mark.parametrize("dtype", DTYPES)
def test_refused_operands_leave_z_untouched(dtype):
    for why, alpha, x, y, beta, z in _refusals(dtype):
        before = np.array(z, copy=True) if isinstance(z, np.ndarray) else None
        assert _gemm(dtype)(alpha, x, y, beta, z) == 1, why
        np.testing.assert_array_equal(z, before, err_msg=why)


def test_gemv_refusals():
    a, x, y = np.ones((3, 4)), np.ones(4), np.ones(3)
    buf = np.ones(8)
    cases = [
        ("x reversed", a, x[::-1], y),
        ("y reversed", a, x, y[::-1]),
        ("y overlaps x", a, buf[:4], buf[2:5]),
        ("y inside a", np.ones((3, 4)), x, None),
        ("x a matrix", a, a, y),
        ("shape", a, x[:3], y),
        ("dtype", a.astype("float32"), x, y),
    ]
    for why, A, xv, yv in cases:
        yv = A[0, :3] if yv is None else yv
        before = yv.copy()
        assert _gemv("float64")(1.0, A, xv, 1.0, yv) == 1, why
        np.testing.assert_array_equal(yv, before, err_msg=why)


def test_wrong_argument_count_is_refused():
    a = np.ones((2, 2))
    assert _gemm("float64")(1.0, a, a, 1.0) == 1
    assert _gemm("float64")(1.0, a, a, 1.0, np.ones((2, 2)), 0) == 1


def test_the_type_is_checked_before_reading_any_other_field():
    a = np.ones((2, 2))
    ok = [1.0, a, a, 1.0, np.ones((2, 2))]
    for position in range(5):
        # a float header where an array goes, a header of another type where a scalar goes
        obj, region = object_at_end_of_a_page(float if position in (1, 2, 4) else tuple)
        args = list(ok)
        args[position] = obj
        assert _gemm("float64")(*args) == 1, position
        del obj, args  # the region stays mapped: the object's refcount never reaches zero
    assert _gemm("float64")(*ok) == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_source_is_copied_into_z_first(dtype):
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((4, 5)).astype(dtype), rng.standard_normal((5, 3)).astype(dtype)
    vec = rng.standard_normal(5).astype(dtype)
    for name, src in _layouts(4, 3, dtype, rng).items():
        before = src.copy()
        out = np.full((4, 3), np.nan, dtype)
        assert _gemm(dtype)(2.0, a, b, 0.5, out, src) == 0, name
        np.testing.assert_allclose(
            out, 0.5 * before + 2.0 * (a @ b), rtol=_tol(dtype), atol=_tol(dtype), err_msg=name
        )
        np.testing.assert_array_equal(src, before)  # the source is only read
        y = np.full(4, np.nan, dtype)
        assert _gemv(dtype)(2.0, a, vec, 0.5, y, src[:, 1]) == 0, name
        np.testing.assert_allclose(
            y,
            0.5 * before[:, 1] + 2.0 * (a @ vec),
            rtol=_tol(dtype),
            atol=_tol(dtype),
            err_msg=name,
        )
    out = np.empty((4, 3), dtype)
    assert _gemm(dtype)(1.0, a, b, 0.0, out, np.full((4, 3), np.nan, dtype)) == 0  # not read
    np.testing.assert_allclose(out, a @ b, rtol=_tol(dtype), atol=_tol(dtype))


def test_a_source_that_does_not_fit_is_refused_before_any_write():
    a, b = np.ones((4, 5)), np.ones((5, 3))
    out = np.zeros((4, 3))
    big = np.ones((4, 6))
    for why, src in [
        ("shape", np.ones((3, 3))),
        ("dtype", np.ones((4, 3), "float32")),
        ("rank", np.ones(3)),
        ("a list", [[1.0] * 3] * 4),
        ("overlaps z", out),
        ("overlaps z partly", big[:, 1:4]),
    ]:
        z = big[:, :3] if why == "overlaps z partly" else out
        before = z.copy()
        assert _gemm("float64")(1.0, a, b, 1.0, z, src) == 1, why
        np.testing.assert_array_equal(z, before, err_msg=why)


def test_the_entries_are_built_wherever_numpy_has_a_cblas():
    from symgraph.codegen import cblas

    assert BUILT == (cblas.library() is not None)


def test_large_products_release_the_gil_and_run_on_threads():
    import threading

    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((96, 128)), rng.standard_normal((128, 96))  # above the threshold
    assert a.shape[0] * a.shape[1] * b.shape[1] >= blas_entry.GIL_RELEASE_WORK
    outs = [np.zeros((96, 96)) for _ in range(4)]
    codes = []
    threads = [
        threading.Thread(target=lambda o=o: codes.append(_gemm("float64")(1.0, a, b, 0.0, o)))
        for o in outs
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [0] * 4
    for o in outs:
        np.testing.assert_allclose(o, a @ b, rtol=1e-12, atol=1e-12)


def test_the_ir_for_a_32_bit_cblas_compiles():
    from symgraph.codegen import llvm_jit

    assert llvm_jit.emit_object(blas_entry.render(32))


def test_a_second_process_loads_the_entries_from_the_disk_cache(tmp_path):


    script = (
        "import sys, numpy as np, symgraph as sg, symgraph.tensor as T\n"
        "z, x, y = T.dmatrix('z'), T.dmatrix('x'), T.dmatrix('y')\n"
        "f = sg.function([z, x, y], T.exp(z) + T.dot(x, y))\n"
        "assert 'Gemm' in f.program.source and '_E' in f.program.source\n"
        "assert np.allclose(f(np.ones((2, 2)), np.eye(2), np.eye(2)), np.e + np.eye(2))\n"
        "names = ('symgraph.codegen.llvm', 'llvmlite')\n"
        "print(sorted(m for m in sys.modules if m.startswith(names)))\n"
    )
    first, second = run_in_new_processes(script, tmp_path)
    assert "symgraph.codegen.llvm'" in first  # the first process rendered (kernels too)
    assert "symgraph.codegen.llvm'" not in second, second
    assert "llvmlite.binding" not in second, second  # entry and kernels from their libraries
