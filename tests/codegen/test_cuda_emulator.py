"""A CPU emulation of the GPU, so the cuda backend's own code runs in CI without one.

``emulated_gpu`` (a fixture) installs a fake ``pycuda`` (device memory is host memory, copies
are memmoves) and compiles each generated CUDA source with g++ and a small header that
emulates what symgraph's kernels use: every CUDA thread of a block is a host thread,
``__syncthreads`` and warp shuffles are barriers, ``__shared__`` is static storage (blocks run
one after another), ``__half`` is ``_Float16`` bits. cuBLAS becomes numpy on the same memory.
What this checks: the driver, the program, storage and copy counting, kernel parameters and
geometry layouts, and the kernels' arithmetic (reductions, softmax, philox) bit for bit where
the host computes as the GPU does. What it cannot check: pycuda itself, and real concurrency.
"""

from __future__ import annotations

import ctypes
import hashlib
import queue
import shutil
import subprocess
import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest

SHIM = r"""
#pragma once
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <math.h>
struct dim3 { unsigned x, y, z; };
inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
inline std::barrier<> *sg_block_barrier = nullptr;
inline std::barrier<> *sg_warp_barrier[32] = {};
inline void __syncthreads() { sg_block_barrier->arrive_and_wait(); }
template <typename T> T __shfl_down_sync(unsigned, T v, int offset) {
    static T slots[1024];
    const unsigned t = threadIdx.x, lane = t & 31, warp = t >> 5;
    slots[t] = v;
    sg_warp_barrier[warp]->arrive_and_wait();
    const T r = lane + offset < 32 ? slots[t + offset] : v;
    sg_warp_barrier[warp]->arrive_and_wait();
    return r;
}
struct __half { uint16_t bits; };
inline float __half2float(__half h) { _Float16 f; std::memcpy(&f, &h.bits, 2); return (float)f; }
inline __half sg_half(_Float16 f) { __half h; std::memcpy(&h.bits, &f, 2); return h; }
inline __half __float2half_rn(float f) { return sg_half((_Float16)f); }
inline __half __double2half(double d) { return sg_half((_Float16)d); }
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((uint64_t)a * b) >> 32); }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
extern "C" void sg_emu_block(unsigned grid, unsigned threads) {
    blockDim = {threads, 1, 1};
    gridDim = {grid, 1, 1};
    delete sg_block_barrier;
    sg_block_barrier = new std::barrier<>(threads);
    for (unsigned w = 0; w < 32; w++) {
        delete sg_warp_barrier[w];
        sg_warp_barrier[w] = new std::barrier<>(32);
    }
}
extern "C" void sg_emu_thread(unsigned thread, unsigned block) {
    threadIdx = {thread, 0, 0};
    blockIdx = {block, 0, 0};
}
"""


class _Workers:
    """Host threads that run the CUDA threads of one block at a time."""

    def __init__(self, n: int = 256):
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(n):
            threading.Thread(target=self._work, daemon=True).start()

    def _work(self) -> None:
        while True:
            fn, done = self.tasks.get()
            try:
                fn()
                done.put(None)
            except BaseException as exc:  # noqa: BLE001 (handed to the launcher)
                done.put(exc)

    def run(self, fns: list) -> None:
        done: queue.SimpleQueue = queue.SimpleQueue()
        for fn in fns:
            self.tasks.put((fn, done))
        errors = [e for e in (done.get() for _ in fns) if e is not None]
        if errors:
            raise errors[0]


_WORKERS: list[_Workers] = []


def _ctype(arg):
    """A pycuda-style kernel argument as a ctypes value (structs by value as int64 arrays)."""
    if isinstance(arg, np.void):
        n = arg.dtype.itemsize // 8
        cls = type("Geom", (ctypes.Structure,), {"_fields_": [("v", ctypes.c_int64 * n)]})
        return cls.from_buffer_copy(bytes(arg))
    table = {np.dtype(np.uintp): ctypes.c_uint64, np.dtype(np.int64): ctypes.c_int64,
             np.dtype(np.uint64): ctypes.c_uint64, np.dtype(np.float64): ctypes.c_double,
             np.dtype(np.float32): ctypes.c_float, np.dtype(np.uint8): ctypes.c_uint8,
             np.dtype(np.int8): ctypes.c_int8, np.dtype(np.uint16): ctypes.c_uint16,
             np.dtype(np.int16): ctypes.c_int16, np.dtype(np.int32): ctypes.c_int32,
             np.dtype(np.uint32): ctypes.c_uint32}
    return table[arg.dtype](arg.item())


class _Function:
    def __init__(self, lib, name: str):
        self.lib, self.fn = lib, getattr(lib, name)
        self.fn.restype = None

    def __call__(self, *args, block, grid, stream=None, shared=0):
        cargs = [_ctype(a) for a in args]
        self.fn.argtypes = [type(a) for a in cargs]
        threads, blocks = block[0], grid[0]
        for b in range(blocks):
            self.lib.sg_emu_block(blocks, threads)

            def thread(t=0, b=b):
                self.lib.sg_emu_thread(t, b)
                self.fn(*cargs)

            _WORKERS[0].run([lambda t=t: thread(t) for t in range(threads)])


class _Allocation:
    def __init__(self, n: int):
        self.buffer = (ctypes.c_char * n)()
        self.ptr = ctypes.addressof(self.buffer)

    def __int__(self) -> int:
        return self.ptr

    __index__ = __int__


def fake_pycuda(memory_limit: int) -> dict[str, types.ModuleType]:
    """Modules pycuda, pycuda.driver and pycuda.tools over host memory."""
    drv = types.ModuleType("pycuda.driver")

    class Error(Exception):
        pass

    class MemoryError_(Error):
        pass

    in_use = {"bytes": 0}

    class Pool:
        def allocate(self, n: int):
            if in_use["bytes"] + n > memory_limit:
                raise MemoryError_("cuMemAlloc failed: out of memory")
            in_use["bytes"] += n
            alloc = _Allocation(n)
            alloc_ref = alloc.buffer
            import weakref

            weakref.finalize(alloc, lambda: in_use.__setitem__("bytes", in_use["bytes"] - n))
            del alloc_ref
            return alloc

        def free_held(self) -> None:
            pass

    class Context:
        def push(self) -> None:
            pass

        def pop(self) -> None:
            pass

    class Device:
        def __init__(self, k: int):
            self.k = k

        @staticmethod
        def count() -> int:
            return 1

        def retain_primary_context(self) -> Context:
            return Context()

        def compute_capability(self) -> tuple[int, int]:
            return (9, 0)

        def name(self) -> str:
            return "emulated GPU (host threads)"

        def get_attribute(self, attr) -> int:
            return 2

    class Stream:
        handle = 0

        def synchronize(self) -> None:
            pass

    class Module:
        def __init__(self, path: str):
            self.lib = ctypes.CDLL(path, mode=ctypes.RTLD_LOCAL)

        def get_function(self, name: str) -> _Function:
            return _Function(self.lib, name)

    def module_from_buffer(buffer: bytes) -> Module:
        return Module(buffer.decode())

    drv.Error, drv.MemoryError = Error, MemoryError_
    drv.Device, drv.Stream, drv.module_from_buffer = Device, Stream, module_from_buffer
    drv.device_attribute = types.SimpleNamespace(MULTIPROCESSOR_COUNT=16)
    drv.init = lambda: None
    drv.mem_get_info = lambda: (memory_limit - in_use["bytes"], memory_limit)
    drv.memcpy_htod_async = lambda dst, src, stream=None: ctypes.memmove(
        int(dst), np.ascontiguousarray(src).ctypes.data, src.nbytes)
    drv.memcpy_dtoh_async = lambda dst, src, stream=None: ctypes.memmove(
        dst.ctypes.data, int(src), dst.nbytes)
    drv.memcpy_dtod_async = lambda dst, src, n, stream=None: ctypes.memmove(int(dst), int(src), n)
    drv.memset_d8_async = lambda dst, byte, n, stream=None: ctypes.memset(int(dst), byte, n)
    tools = types.ModuleType("pycuda.tools")
    tools.DeviceMemoryPool = Pool
    root = types.ModuleType("pycuda")
    root.driver, root.tools = drv, tools
    root.__spec__ = types.SimpleNamespace(name="pycuda")  # find_spec() sees it
    return {"pycuda": root, "pycuda.driver": drv, "pycuda.tools": tools}


def host_compile(workdir: Path):
    """compile_cuda's stand-in: the CUDA source as a host shared library (its path, as the
    'cubin' bytes that module_from_buffer receives)."""
    (workdir / "shim").mkdir(exist_ok=True)
    (workdir / "shim" / "cuda_fp16.h").write_text("/* the emulation header has __half */\n")
    (workdir / "shim" / "emu.h").write_text(SHIM)

    def compile_cuda(source: str, arch: str, name: str, output: str = "cubin", extra_flags=()):
        key = hashlib.sha256(source.encode()).hexdigest()[:24]
        lib = workdir / f"{key}.so"
        if not lib.exists():
            src = workdir / f"{key}.cpp"
            src.write_text(source)
            cmd = ["g++", "-std=c++20", "-O1", "-shared", "-fPIC", "-ffp-contract=off",
                   "-w", f"-I{workdir / 'shim'}", "-include", str(workdir / "shim" / "emu.h"),
                   str(src), "-o", str(lib)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            assert done.returncode == 0, f"host build of {name} failed:\n{done.stderr[:4000]}"
        return str(lib).encode()

    return compile_cuda


class FakeCublas:
    """cuBLAS's gemm on host memory, column-major as the real one."""

    @staticmethod
    def _matrix(ptr, rows: int, cols: int, ld: int, dtype) -> np.ndarray:
        count = ld * (cols - 1) + rows if rows and cols else 0
        flat = np.ctypeslib.as_array((ctypes.c_char * (count * dtype.itemsize)).from_address(
            ptr.value)).view(dtype) if count else np.zeros(0, dtype)
        return np.lib.stride_tricks.as_strided(flat, (rows, cols),
                                               (dtype.itemsize, ld * dtype.itemsize))

    def _gemm(self, dtype):
        def gemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
            A = self._matrix(a, *((m, k) if ta == 0 else (k, m)), lda, dtype)
            B = self._matrix(b, *((k, n) if tb == 0 else (n, k)), ldb, dtype)
            C = self._matrix(c, m, n, ldc, dtype)
            A, B = (A if ta == 0 else A.T), (B if tb == 0 else B.T)
            al, be = alpha._obj.value, beta._obj.value
            result = al * (A.astype(dtype) @ B.astype(dtype))
            C[...] = result if be == 0 else result + be * C
            return 0

        return gemm

    def __getattr__(self, name):
        if name == "cublasSgemm_v2":
            return self._gemm(np.dtype("float32"))
        if name == "cublasDgemm_v2":
            return self._gemm(np.dtype("float64"))
        return lambda *args: 0


def install(monkeypatch, workdir: Path):
    """Point the cuda backend at the emulated GPU (undone by `monkeypatch`); its driver."""
    if not _WORKERS:
        _WORKERS.append(_Workers())
    for name, module in fake_pycuda(memory_limit=1 << 30).items():
        monkeypatch.setitem(sys.modules, name, module)
    from symgraph.codegen.cuda import backend, blas, compiler, driver, elemwise, steps_nnet

    compile_fn = host_compile(workdir)
    for module in (elemwise, steps_nnet):
        monkeypatch.setattr(module, "compile_cuda", compile_fn)
    for module in (compiler, backend):
        monkeypatch.setattr(module, "nvcc_path", lambda: "/emulated/nvcc")
    monkeypatch.setattr(blas, "cublas", lambda: FakeCublas())
    monkeypatch.setattr(blas, "handle", lambda: ctypes.c_void_p(0))
    monkeypatch.setattr(elemwise, "_LOADED", {})
    monkeypatch.setattr(driver, "_DRIVER", [])
    return driver.get_driver()


@pytest.fixture
def emulated_gpu(monkeypatch, tmp_path_factory):
    """The cuda backend on the emulated GPU (skips without g++)."""
    if shutil.which("g++") is None:
        pytest.skip("g++ not found: the GPU emulation compiles kernels for the host")
    return install(monkeypatch, tmp_path_factory.mktemp("emulated_kernels"))


def test_the_emulation_runs_a_block_reduction(emulated_gpu):
    from symgraph.codegen.cuda.elemwise import ReduceKernel, compiled
    from symgraph.codegen.cuda.storage import empty, to_device
    from symgraph.codegen.kernel import lower_careduce
    from symgraph.ops import math as M
    from symgraph.types import TensorType

    x = TensorType("float32", (None, None))("x")
    kernel = lower_careduce(M.sum(x, axis=1).owner)
    host = np.arange(3 * 1000, dtype="float32").reshape(3, 1000)
    out = empty((3,), "float32")
    compiled(kernel, ReduceKernel).run(to_device(host, "input"), out)
    np.testing.assert_allclose(out.get(), host.sum(axis=1), rtol=1e-6)
