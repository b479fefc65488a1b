"""GEMM and GEMV with alpha and beta, straight into a BLAS library: MKL or numpy's own.

numpy computes ``x @ y`` but has no ``beta * z + alpha * x @ y``: spelled with ufuncs, a
Gemm costs three extra passes over ``z`` (scale the product, scale ``z``, add). A BLAS does it
in one, so this module calls one through ctypes. Which one is `config.blas`:

- ``"mkl"``: libmkl_rt of PyPI's `mkl` package (a dependency on x86-64 Linux), by
  its ILP64 names (``cblas_sgemm_64``). On this project's 2-core Xeon its threaded products ran
  the MLP step's GEMMs in 1.55 ms against 2.1 ms for numpy's OpenBLAS, and the logistic
  regression's 400x784 float64 gemv pair ~3x faster (the cause not measured; likely each of
  its two threads keeping its half of the matrix in its core's cache).
- ``"numpy"``: the OpenBLAS numpy's wheels bundle, with 64-bit integers and prefixed names
  (``scipy_cblas_sgemm64_``); other builds may export plain ``cblas_sgemm``. Not scipy's copy,
  a second OpenBLAS.
- ``"auto"`` (the default): MKL on an Intel CPU where it is installed, else numpy's. MKL's
  kernels are tuned for Intel's cores; elsewhere OpenBLAS is the safer choice.

Every product of a compiled function goes to the one library chosen (Dot and the convolutions
too, see blas_calls.py and `matmul_into`): two libraries' thread pools spinning after each
other's calls slow both down (FACTS.md; an MLP step took 3-12 ms instead of 2 with Dot on
OpenBLAS and Gemm on MKL).

A ctypes call costs ~8 us with the checks here, as much as a 32x64x64 product: the driver's
Gemm / Gemv steps call these functions through a native entry instead (blas_entry.py, which
takes their addresses from `library`), and this path only where that entry cannot be built.
``gemm`` / ``gemv`` return False when an operand's layout is not one BLAS takes (no unit
stride, negative or unaligned strides), so the caller keeps numpy's path for those.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
import site
import sys
import threading
from typing import NamedTuple

import numpy as np

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
DTYPES = {np.dtype("float32"): ("s", ctypes.c_float), np.dtype("float64"): ("d", ctypes.c_double)}


class Library(NamedTuple):
    path: str
    functions: dict  # (kind, dtype) -> ctypes function, kind "gemm" | "gemv"
    index_bits: int = 64  # the width of the functions' integer arguments
    name: str = "numpy"  # "mkl" | "numpy": which of config.blas's libraries this is


def _candidates() -> list[str]:
    """Shared libraries that may hold numpy's BLAS: its bundled one first, then any BLAS
    library already mapped into this process (a system numpy links one)."""
    bundled = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    paths = sorted(glob.glob(os.path.join(bundled, "*openblas*.so*")))
    try:
        with open("/proc/self/maps") as maps:
            mapped = {line.split()[-1] for line in maps if "blas" in line.lower() and "/" in line}
        paths += sorted(p for p in mapped if p not in paths)
    except OSError:
        pass
    return paths


def _mkl_paths() -> list[str]:
    """libmkl_rt of PyPI's `mkl` package, where it is installed: its files land in the lib/ of
    the environment (a venv's, the system's, conda's) or of the user's site (pip --user).
    Looked up by name rather than through importlib.metadata, whose import alone takes ~20 ms
    of a warm start."""
    roots = [sys.prefix] + ([site.USER_BASE] if site.ENABLE_USER_SITE and site.USER_BASE else [])
    return [path for root in roots
            for path in sorted(glob.glob(os.path.join(root, "lib", "libmkl_rt.so*")))]


def _lp64_openblas(lib) -> bool:
    """Whether `lib` is OpenBLAS built with 32-bit integers (what plain cblas_* take)."""
    try:
        config = lib.openblas_get_config
    except AttributeError:
        return False
    config.restype = ctypes.c_char_p
    return b"USE64BITINT" not in (config() or b"")


def _bind(lib, prefix: str, suffix: str, index) -> dict | None:
    functions = {}
    for dtype, (letter, scalar) in DTYPES.items():
        try:
            gemm = getattr(lib, f"{prefix}{letter}gemm{suffix}")
            gemv = getattr(lib, f"{prefix}{letter}gemv{suffix}")
        except AttributeError:
            return None
        ptr = ctypes.c_void_p
        gemm.argtypes = [ctypes.c_int] * 3 + [index] * 3 + [scalar, ptr, index, ptr, index,
                                                             scalar, ptr, index]
        gemv.argtypes = [ctypes.c_int] * 2 + [index] * 2 + [scalar, ptr, index, ptr, index,
                                                            scalar, ptr, index]
        gemm.restype = gemv.restype = None
        functions["gemm", dtype] = gemm
        functions["gemv", dtype] = gemv
    return functions


# How each library spells its CBLAS functions: (prefix, suffix, integer type), tried in order
_SPELLINGS = {
    "mkl": [("cblas_", "_64", ctypes.c_int64)],
    "numpy": [("scipy_cblas_", "64_", ctypes.c_int64), ("cblas_", "64_", ctypes.c_int64)],
}


_CHOSEN: list = []  # library()'s answer, once chosen
_CHOOSING = threading.Lock()
_LOADER: list = []  # the thread load_in_background started


def library() -> Library | None:
    """The BLAS `config.blas` names, with its CBLAS functions, or None (then numpy's path is
    used). Chosen once per process: compiled functions keep the pointers they were given."""
    if not _CHOSEN:
        with _CHOOSING:
            if not _CHOSEN:
                _CHOSEN.append(_choose())
    return _CHOSEN[0]


def chosen() -> Library | None:
    """The library `library` chose, without choosing one (None before that, or when none)."""
    return _CHOSEN[0] if _CHOSEN else None


def load_in_background() -> None:
    """Choose and load the library on another thread, if no thread has yet. MKL's first
    product takes ~15 ms (its CPU-specific kernels and threads start); a function's compilation
    starts this before its rewrites, which it then overlaps (ctypes releases the GIL), and
    waits for it (the lock in `library`) when its first product step is built."""
    if not _CHOSEN and not _LOADER:
        _LOADER.append(threading.Thread(target=_load_quietly, name="symgraph-blas", daemon=True))
        _LOADER[0].start()


def _load_quietly() -> None:
    try:
        library()
    except Exception:  # noqa: BLE001 (a bad config.blas: the compiling thread raises it again)
        pass


def _choose() -> Library | None:
    from symgraph.config import config

    if os.environ.get("SYMGRAPH_NO_CBLAS"):
        return None
    choice = config.blas
    if choice == "auto":
        found = _find("mkl", _mkl_paths()) if _intel_cpu() else None
        return found or _find("numpy", _candidates())
    if choice == "mkl":
        found = _find("mkl", _mkl_paths())
        if found is None:
            raise RuntimeError(
                "config.blas is 'mkl', but no working libmkl_rt was found: install PyPI's mkl "
                "package (pip install mkl), or set SYMGRAPH_FLAGS=blas=auto")
        return found
    return _find("numpy", _candidates())


def _find(kind: str, paths: list[str]) -> Library | None:
    """The first of `paths` that loads and computes a small product right."""
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        spellings = list(_SPELLINGS[kind])
        if kind == "numpy" and _lp64_openblas(lib):
            spellings.append(("cblas_", "", ctypes.c_int32))
        for prefix, suffix, index in spellings:
            functions = _bind(lib, prefix, suffix, index)
            if functions is not None and _works(functions):
                return Library(path, functions, 8 * ctypes.sizeof(index), kind)
    return None


# MKL's OpenMP threading layers, by library name, and the runtime each runs on (libmkl_rt
# picks GNU's when libgomp is in the process already, else Intel's)
_MKL_OPENMP = {"libmkl_intel_thread": "libiomp5", "libmkl_gnu_thread": "libgomp"}
_TEAM: list = []  # openmp_team's answer, once a library is chosen


def openmp_team() -> tuple[int, int, int, int] | None:
    """MKL's OpenMP team, for the kernels' loops (llvm_abi.use_team): the addresses of its
    runtime's GOMP_parallel, omp_get_thread_num and omp_get_num_threads, and its thread count.
    None unless the chosen library is MKL on an OpenMP threading layer with several threads.
    A loop on the team's threads starts in ~1-3 us (they spin after each product; see
    llvm_abi.TEAM_MIN), where a hand-off to the driver's pool costs ~10-20 us and its worker
    shares a core with a spinning MKL thread (see program_steps.PARALLEL_MIN_WITH_BLAS)."""
    if not _TEAM and chosen() is not None:
        _TEAM.append(_mkl_team(chosen()))
    return _TEAM[0] if _TEAM else None


def _mkl_team(lib: Library) -> tuple[int, int, int, int] | None:
    if lib.name != "mkl":
        return None
    try:
        threads = int(ctypes.CDLL(lib.path).MKL_Get_Max_Threads())  # loads its threading layer
        with open("/proc/self/maps") as maps:
            mapped = {line.split()[-1] for line in maps if ".so" in line}
        runtimes = {runtime for layer, runtime in _MKL_OPENMP.items()
                    if any(os.path.basename(p).startswith(layer) for p in mapped)}
        if len(runtimes) != 1:  # sequential, TBB, or not told apart
            return None
        (runtime,) = runtimes
        paths = [p for p in mapped if os.path.basename(p).startswith(runtime + ".so")]
        if len(paths) != 1:
            return None
        omp = ctypes.CDLL(paths[0])
        names = ("GOMP_parallel", "omp_get_thread_num", "omp_get_num_threads")
        fork, thread_num, num_threads = (ctypes.cast(getattr(omp, n), ctypes.c_void_p).value
                                         for n in names)
    except (OSError, AttributeError, ValueError):
        return None
    from symgraph.codegen.llvm_abi import cpu_threads

    threads = min(threads, cpu_threads())
    return (fork, thread_num, num_threads, threads) if threads > 1 else None


def _intel_cpu() -> bool:
    """Whether this processor is Intel's (Linux's cpuinfo, else the platform's name)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("vendor_id"):
                    return "GenuineIntel" in line
    except OSError:
        pass
    import platform

    return "Intel" in platform.processor()


def _works(functions: dict) -> bool:
    """A small product through the found functions equals numpy's (guards the ABI guess)."""
    a = np.arange(6, dtype="float64").reshape(2, 3)
    b = np.arange(6, dtype="float64").reshape(3, 2) - 2
    c = np.ones((2, 2))
    _call_gemm(functions["gemm", np.dtype("float64")], 2.0, a, b, 0.5, c)
    return bool(np.array_equal(c, 2.0 * a @ b + 0.5))


@functools.cache
def _data_offset() -> int:
    from symgraph.codegen.llvm_abi import abi  # the ndarray layout, checked on live arrays

    return abi()["data"]


def _data(a: np.ndarray) -> int:
    """The address of a's first element: read from the ndarray struct, since ``a.ctypes.data``
    builds a helper object per call (~2.5 us, more than a small product)."""
    return ctypes.c_size_t.from_address(id(a) + _data_offset()).value


def _layout(m: np.ndarray) -> tuple[int, int] | None:
    """(transpose flag, leading dimension) describing matrix `m` to row-major CBLAS."""
    rows, cols = m.shape
    size = m.itemsize
    s0, s1 = m.strides
    if s0 % size or s1 % size or s0 < 0 or s1 < 0:
        return None
    s0, s1 = s0 // size, s1 // size
    if (cols <= 1 or s1 == 1) and (rows <= 1 or s0 >= max(cols, 1)):
        return NO_TRANS, s0 if rows > 1 else max(cols, 1)
    if (rows <= 1 or s0 == 1) and (cols <= 1 or s1 >= max(rows, 1)):
        return TRANS, s1 if cols > 1 else max(rows, 1)
    return None


def _call_gemm(fn, alpha, a, b, beta, c) -> bool:
    if c.size == 0:
        return True
    if a.shape[1] == 0:  # zero-size operands may have any strides: no BLAS call needed
        np.multiply(c, beta, out=c)
        return True
    lc = _layout(c)
    if lc is not None and lc[0] == TRANS:  # a column-major c: compute c^T = b^T a^T
        a, b, c = b.T, a.T, c.T
        lc = _layout(c)
    la, lb = _layout(a), _layout(b)
    if la is None or lb is None or lc is None or lc[0] != NO_TRANS:
        return False
    (m, k), n = a.shape, b.shape[1]
    fn(ROW_MAJOR, la[0], lb[0], m, n, k, alpha, _data(a), la[1], _data(b), lb[1],
       beta, _data(c), lc[1])
    return True


def _matching(a: np.ndarray, b: np.ndarray, out: np.ndarray, ranks: tuple) -> bool:
    """Plain ndarrays of out's dtype, one BLAS takes, with the ranks `ranks` and sizes that
    fit a product (what the driver's Gemm / Gemv steps have checked already)."""
    if out.dtype not in DTYPES or (a.ndim, b.ndim, out.ndim) != ranks:
        return False
    if not all(type(v) is np.ndarray and v.dtype == out.dtype for v in (a, b, out)):
        return False
    return a.shape[1] == b.shape[0] and out.shape == a.shape[:1] + b.shape[1:]


def _apart(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> bool:
    """What BLAS needs beyond matching operands: a library, aligned data, `out` writeable and
    not overlapping the inputs."""
    if library() is None or not (a.flags.aligned and b.flags.aligned and out.flags.aligned):
        return False
    if not out.flags.writeable:
        return False
    return not (np.may_share_memory(out, a) or np.may_share_memory(out, b))


def gemm(alpha, a: np.ndarray, b: np.ndarray, beta, c: np.ndarray) -> bool:
    """c <- alpha * a @ b + beta * c for matrices of one BLAS dtype, in place (c writeable and
    not overlapping a or b); False, with c untouched, when BLAS cannot take these operands."""
    return _matching(a, b, c, (2, 2, 2)) and gemm_into(alpha, a, b, beta, c)


def gemm_into(alpha, a: np.ndarray, b: np.ndarray, beta, c: np.ndarray) -> bool:
    """`gemm` for operands whose dtypes, ranks and sizes the caller has checked."""
    if not _apart(a, b, c):
        return False
    return _call_gemm(library().functions["gemm", c.dtype], alpha, a, b, beta, c)


def matmul_into(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out <- a @ b for matrices: through the library above where it takes the operands, else
    np.matmul. Native steps whose products are not Dot / Gemm nodes (the convolutions) call
    this, so that a function's products all run on one BLAS's threads."""
    if not gemm(1.0, a, b, 0.0, out):
        np.matmul(a, b, out=out)
    return out


def gemv(alpha, a: np.ndarray, x: np.ndarray, beta, y: np.ndarray) -> bool:
    """y <- alpha * a @ x + beta * y (a a matrix, x and y vectors), like `gemm`."""
    return _matching(a, x, y, (2, 1, 1)) and gemv_into(alpha, a, x, beta, y)


def gemv_into(alpha, a: np.ndarray, x: np.ndarray, beta, y: np.ndarray) -> bool:
    """`gemv` for operands whose dtypes, ranks and sizes the caller has checked."""
    if not _apart(a, x, y) or a.shape[1] == 0:  # BLAS would not scale y by beta
        return False
    lib, dtype = library(), y.dtype
    la = _layout(a)
    incx, incy = x.strides[0] // x.itemsize, y.strides[0] // y.itemsize
    if la is None or x.strides[0] % x.itemsize or y.strides[0] % y.itemsize:
        return False
    if (x.shape[0] > 1 and incx <= 0) or (y.shape[0] > 1 and incy <= 0):
        return False
    m, n = a.shape if la[0] == NO_TRANS else a.shape[::-1]  # the stored matrix's shape
    if a.shape[0]:
        lib.functions["gemv", dtype](ROW_MAJOR, la[0], m, n, alpha, _data(a), la[1],
                                     _data(x), max(incx, 1), beta, _data(y),
                                     max(incy, 1))
    return True
