"""codegen/cblas.py: GEMM / GEMV with alpha and beta in MKL and in numpy's BLAS, every layout;
which library config.blas picks."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest

from symgraph.codegen import cblas

FINDERS = {
    "numpy": lambda: cblas._find("numpy", cblas._candidates()),
    "mkl": lambda: cblas._find("mkl", cblas._mkl_paths()),
}


@pytest.fixture(params=sorted(FINDERS))
def blas(request, monkeypatch):
    """A test asking for it runs on each library: `library` answers with that one meanwhile."""
    found = FINDERS[request.param]()
    if found is None:  # mkl is a dependency on x86-64 Linux only
        pytest.skip(f"no {request.param} BLAS on this platform")
    monkeypatch.setattr(cblas, "library", lambda: found)
    return found


def _layouts(rows: int, cols: int, dtype, rng):
    """The same matrix as C order, Fortran order, a strided slice and a transposed view."""
    base = rng.standard_normal((rows, cols)).astype(dtype)
    padded = np.zeros((rows, cols + 3), dtype)
    padded[:, :cols] = base
    return {"c": base.copy(), "f": np.asfortranarray(base), "slice": padded[:, :cols],
            "t": np.ascontiguousarray(base.T).T}


@pytest.mark.usefixtures("blas")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(5, 7, 3), (1, 4, 6), (6, 1, 2), (3, 5, 1), (4, 0, 2),
                                   (0, 3, 2)])
def test_gemm_matches_numpy_for_every_layout(dtype, shape):
    m, k, n = shape
    rng = np.random.default_rng(0)
    tol = 1e-5 if dtype == "float32" else 1e-12
    for (la, a), (lb, b), (lc, c0) in itertools.product(
            _layouts(m, k, dtype, rng).items(), _layouts(k, n, dtype, rng).items(),
            _layouts(m, n, dtype, rng).items()):
        c = c0.copy(order="K") if lc != "slice" else c0
        before = c.copy()
        assert cblas.gemm(-0.5, a, b, 0.75, c), (la, lb, lc)
        np.testing.assert_allclose(c, 0.75 * before - 0.5 * (a @ b), rtol=tol, atol=tol)


@pytest.mark.usefixtures("blas")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemv_matches_numpy_for_every_layout(dtype):
    rng = np.random.default_rng(1)
    tol = 1e-5 if dtype == "float32" else 1e-12
    for m, k in [(5, 7), (1, 3), (4, 1)]:
        for name, a in _layouts(m, k, dtype, rng).items():
            x = rng.standard_normal(2 * k).astype(dtype)[::2]  # a strided vector
            y = rng.standard_normal(m).astype(dtype)
            want = 2.0 * (a @ x) + 0.5 * y
            assert cblas.gemv(2.0, a, x, 0.5, y), name
            np.testing.assert_allclose(y, want, rtol=tol, atol=tol)


@pytest.mark.usefixtures("blas")
def test_operands_blas_cannot_take_are_refused_untouched():
    a = np.ones((4, 4), "float32")
    c = np.ones((4, 4), "float32")
    assert not cblas.gemm(1.0, a[::2, ::2], a, 1.0, c[:2])  # no unit stride
    assert not cblas.gemm(1.0, a[::-1], a, 1.0, c)  # negative stride
    assert not cblas.gemm(1.0, a, a, 1.0, a)  # the output overlaps an input
    assert not cblas.gemm(1.0, a.astype("int32"), a, 1.0, c)  # not one float dtype
    assert not cblas.gemv(1.0, np.ones((3, 0), "float32"), np.ones(0, "float32"), 2.0,
                          np.ones(3, "float32"))  # BLAS would skip scaling y
    np.testing.assert_array_equal(c, 1)


def choose(value: str):
    """What library() picks with config.blas = `value` (it keeps its first answer)."""
    from symgraph.config import change_flags

    with change_flags(blas=value):
        return cblas._choose()


def test_config_blas_picks_the_library(monkeypatch):
    numpy_blas = FINDERS["numpy"]()
    assert choose("numpy").path == numpy_blas.path and choose("numpy").name == "numpy"
    if FINDERS["mkl"]() is not None:
        assert choose("mkl").name == "mkl" and "mkl_rt" in choose("mkl").path
        monkeypatch.setattr(cblas, "_intel_cpu", lambda: True)
        assert choose("auto").name == "mkl"
        monkeypatch.setattr(cblas, "_intel_cpu", lambda: False)  # OpenBLAS off Intel's CPUs
        assert choose("auto").name == "numpy"
    monkeypatch.setattr(cblas, "_mkl_paths", lambda: [])
    assert choose("auto").name == "numpy"
    with pytest.raises(RuntimeError, match="config.blas is 'mkl'.*pip install mkl"):
        choose("mkl")
    with pytest.raises(ValueError, match="blas must be one of"):
        choose("openblas")


@pytest.mark.usefixtures("blas")
def test_matmul_into_uses_blas_and_falls_back_to_numpy():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((5, 3))
    out = np.full((4, 3), np.nan)
    assert cblas.matmul_into(a, b, out) is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-12)
    ints = np.arange(6).reshape(2, 3)  # not a BLAS dtype: numpy's product
    out = np.zeros((2, 2), ints.dtype)
    np.testing.assert_array_equal(cblas.matmul_into(ints, ints.T, out), ints @ ints.T)


def test_the_library_loads_in_the_background_once(monkeypatch):
    monkeypatch.setattr(cblas, "_CHOSEN", [])  # as in a new process
    monkeypatch.setattr(cblas, "_LOADER", [])
    cblas.load_in_background()
    for thread in threading.enumerate():
        if thread.name == "symgraph-blas":
            thread.join()
    assert len(cblas._CHOSEN) == 1 and cblas.library() is cblas._CHOSEN[0]
    assert cblas.library().path == cblas._choose().path
    cblas.load_in_background()  # chosen: no second thread
    assert not any(t.name == "symgraph-blas" for t in threading.enumerate())


def test_a_bad_choice_fails_in_the_compiling_thread_not_the_loader(monkeypatch):
    from symgraph.config import change_flags

    escaped = []  # exceptions that ended a thread
    monkeypatch.setattr(threading, "excepthook", escaped.append)
    monkeypatch.setattr(cblas, "_CHOSEN", [])
    monkeypatch.setattr(cblas, "_LOADER", [])
    monkeypatch.setattr(cblas, "_mkl_paths", lambda: [])
    with change_flags(blas="mkl"):
        cblas.load_in_background()
        cblas._LOADER[0].join()
        assert escaped == []  # the loader stays quiet
        with pytest.raises(RuntimeError, match="config.blas is 'mkl'"):
            cblas.library()


def test_mkl_lends_its_openmp_team_to_the_kernels_loops():
    import ctypes

    lib = cblas.library()
    team = cblas._mkl_team(lib) if lib is not None else None
    if lib is None or lib.name != "mkl":
        assert team is None  # numpy's OpenBLAS: loops split on the driver's own threads
        return
    threads = ctypes.CDLL(lib.path).MKL_Get_Max_Threads()
    if threads < 2:
        assert team is None
        return
    fork, thread_num, num_threads, count = team
    assert count == threads
    with open("/proc/self/maps") as maps:  # Intel's runtime, or GNU's if loaded before MKL
        paths = {line.split()[-1] for line in maps if "libiomp5" in line or "libgomp" in line}
    runtimes = [ctypes.CDLL(path) for path in paths]
    assert fork in [ctypes.cast(omp.GOMP_parallel, ctypes.c_void_p).value for omp in runtimes]
    (omp,) = [o for o in runtimes if ctypes.cast(o.GOMP_parallel, ctypes.c_void_p).value == fork]
    assert thread_num == ctypes.cast(omp.omp_get_thread_num, ctypes.c_void_p).value
    assert num_threads == ctypes.cast(omp.omp_get_num_threads, ctypes.c_void_p).value


def test_one_thread_asked_for_means_no_team(monkeypatch):
    monkeypatch.setenv("SYMGRAPH_NUM_THREADS", "1")
    lib = cblas.library()
    assert lib is None or cblas._mkl_team(lib) is None
