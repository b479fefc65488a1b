"""A CPU emulation of the GPU, so the cuda backend's own code runs in CI without one.

``emulated_gpu`` (a fixture) installs a fake ``pycuda`` (device memory is host memory, copies
are memmoves) and compiles each generated CUDA source with g++ and a small header that
emulates what symgraph's kernels use: every CUDA thread of a block is a host thread,
``__syncthreads`` and warp shuffles are barriers, ``__shared__`` is static storage (blocks run
one after another), ``__half`` is ``_Float16`` bits. cuBLAS becomes numpy on the same memory.
What this checks: the driver, the program, storage and copy counting, kernel parameters and
geometry layouts, and the kernels' arithmetic (reductions, softmax, philox) bit for bit where
the host computes as the GPU does. What it cannot check: pycuda itself, and real concurrency.

The fake pycuda follows pycuda's documented interfaces closely enough to catch misuse: a
launch packs its arguments as pycuda does (``__call__`` by each argument's type;
``prepare`` + ``prepared_async_call`` by the prepared struct format, refusing a struct
parameter at an offset CUDA would not read it from), memory comes from a pool that keeps freed
blocks for reuse as pycuda's DeviceMemoryPool does, and every pointer a kernel, copy or cuBLAS
call gets must lie in a live allocation, which it must not write past (guard bytes). With
``run_kernels=False`` launches stop after packing and cuBLAS is a library of no-ops: what
benchmarks/gpu/host_overhead.py times.
"""

from __future__ import annotations

import bisect
import ctypes
import functools
import hashlib
import queue
import re
import shutil
import struct
import subprocess
import sys
import threading
import types
from collections import Counter
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

# pycuda packs kernel arguments with (a copy of) Python's struct, native alignment; the host
# build of a kernel takes them as these ctypes types ('s': a struct by value)
_CTYPES = {"P": ctypes.c_uint64, "q": ctypes.c_int64, "l": ctypes.c_int64,
           "Q": ctypes.c_uint64, "L": ctypes.c_uint64, "i": ctypes.c_int32,
           "I": ctypes.c_uint32, "h": ctypes.c_int16, "H": ctypes.c_uint16, "b": ctypes.c_int8,
           "B": ctypes.c_uint8, "?": ctypes.c_uint8, "f": ctypes.c_float, "d": ctypes.c_double}
_FIELD = re.compile(r"(\d*)([xcbB?hHiIlLqQefdsP])")


@functools.cache
def _fields(fmt: str) -> tuple[tuple[str, int, int], ...]:
    """(struct char, offset, size) of each parameter that `fmt` packs."""
    out, prefix = [], "@"
    for count, char in _FIELD.findall(fmt.replace(" ", "")):
        n = int(count or 1)
        for spec in [f"{n}s"] if char == "s" else [char] * n:
            size = struct.calcsize("@" + spec)
            offset = struct.calcsize(prefix + spec) - size
            prefix += spec
            if char != "x":
                out.append((char, offset, size))
    return tuple(out)


@functools.cache
def _struct_type(nbytes: int) -> type:
    return type("Geom", (ctypes.Structure,), {"_fields_": [("v", ctypes.c_int64 * (nbytes // 8))]})


GUARD = b"\xa5" * 64  # written after every allocation: a kernel writing past its end breaks it


class Emulator:
    """The emulated device's state: memory in use and held by the pool, live allocations (a
    kernel, copy or cuBLAS call given a pointer into none of them fails, naming it: a use
    after free on a real GPU; one that writes past the end of one breaks its guard bytes,
    and fails too: host memory corrupted unnoticed would crash the process later, anywhere),
    and counters of what the host asked of the device."""

    def __init__(self, memory_limit: int, run_kernels: bool):
        self.limit, self.run_kernels = memory_limit, run_kernels
        self.in_use = self.held = 0
        self.starts: list[int] = []  # sorted start addresses of live allocations
        self.sizes: dict[int, int] = {}
        self.counts: Counter = Counter()

    def check(self, ptr: int, what: str) -> None:
        if not self.run_kernels or ptr == 0:
            return
        k = bisect.bisect_right(self.starts, ptr) - 1
        if k < 0 or ptr >= self.starts[k] + max(self.sizes[self.starts[k]], 1):
            raise AssertionError(f"{what}: pointer 0x{ptr:x} is in no live device allocation")

    def check_guard(self, ptr: int, what: str) -> None:
        """The guard bytes after the allocation holding `ptr` are intact."""
        if not self.run_kernels or ptr == 0:
            return
        start = self.starts[bisect.bisect_right(self.starts, ptr) - 1]
        if ctypes.string_at(start + self.sizes[start], len(GUARD)) != GUARD:
            raise AssertionError(f"{what} wrote past the end of the {self.sizes[start]} bytes "
                                 f"allocated at 0x{start:x}")

    def born(self, ptr: int, n: int) -> None:
        bisect.insort(self.starts, ptr)
        self.sizes[ptr] = n
        self.in_use += n

    def died(self, ptr: int, n: int) -> None:
        del self.starts[bisect.bisect_left(self.starts, ptr)]
        del self.sizes[ptr]
        self.in_use -= n


class _Function:
    """pycuda.driver.Function over the host build of a kernel: the launch interfaces that
    pycuda documents, packing the arguments as pycuda's own Python code does (``__call__``:
    a format from each argument's type; ``prepare`` + ``prepared_async_call``: the prepared
    format), then running the kernel from that buffer as cuLaunchKernel reads it."""

    def __init__(self, emu: Emulator, lib, name: str, stream_type: type):
        self.emu, self.lib, self.name = emu, lib, name
        self.fn = getattr(lib, name)
        self.fn.restype = None
        self.stream_type = stream_type
        self.block = None
        self.texrefs: list = []

    # --- pycuda's Python layer (pycuda/driver.py, _add_functionality), mirrored ------------

    def __call__(self, *args, **kwargs):
        grid = kwargs.pop("grid", (1, 1))
        stream = kwargs.pop("stream", None)
        block = kwargs.pop("block", None)
        shared = kwargs.pop("shared", 0)
        kwargs.pop("texrefs", None)
        if kwargs:
            raise ValueError(f"extra keyword arguments: {','.join(kwargs)}")
        if block is None:
            raise ValueError("must specify block size")
        self._set_block_shape(*block)
        arg_data, fmt = [], ""
        for i, arg in enumerate(args):  # _build_arg_buf
            if isinstance(arg, np.number):
                arg_data.append(arg)
                fmt += arg.dtype.char
            elif isinstance(arg, _Allocation):
                arg_data.append(int(arg))
                fmt += "P"
            elif isinstance(arg, np.ndarray):
                arg_data.append(arg)
                fmt += f"{arg.nbytes}s"
            elif isinstance(arg, np.void):
                arg_data.append(bytes(memoryview(arg)))
                fmt += f"{arg.itemsize}s"
            else:
                cai = getattr(arg, "__cuda_array_interface__", None)
                if cai:
                    arg_data.append(cai["data"][0])
                    fmt += "P"
                    continue
                raise TypeError(f"invalid type on parameter #{i} (0-based)")
        self._launch_kernel(grid, block, struct.pack(fmt, *arg_data), shared, stream, fmt)

    def prepare(self, arg_types, texrefs=None):
        self.texrefs = texrefs or []
        self.arg_format = ""
        for arg_type in arg_types:
            if isinstance(arg_type, type) and np.number in arg_type.__mro__:
                self.arg_format += np.dtype(arg_type).char
            elif isinstance(arg_type, np.dtype):
                self.arg_format += (f"{arg_type.itemsize}s" if arg_type.char == "V"
                                    else arg_type.char)
            elif isinstance(arg_type, str):
                self.arg_format += arg_type
            else:
                self.arg_format += np.dtype(np.uintp).char
        return self

    def prepared_call(self, grid, block, *args, shared_size=0):
        self.prepared_async_call(grid, block, None, *args, shared_size=shared_size)

    def prepared_async_call(self, grid, block, stream, *args, **kwargs):
        if not isinstance(block, tuple):
            raise TypeError("the emulation wants the block as a tuple (pycuda deprecates "
                            "the other form)")
        self._set_block_shape(*block)
        shared_size = kwargs.pop("shared_size", 0)
        if kwargs:
            raise TypeError("unknown keyword arguments: " + ", ".join(kwargs.keys()))
        arg_buf = struct.pack(self.arg_format, *args)
        self._launch_kernel(grid, block, arg_buf, shared_size, stream, self.arg_format)

    # --- pycuda's C++ layer: the launch (fmt: how the buffer was packed, for decoding) -----

    def _set_block_shape(self, x, y=1, z=1):
        self.block = (x, y, z)

    def _launch_kernel(self, grid, block, arg_buf, shared, stream, fmt) -> None:
        for v in (*grid, *block):  # boost.python extracts unsigned ints: Python ints
            if type(v) is not int or v < 1:
                raise TypeError(f"grid {grid} / block {block}: positive Python ints wanted")
        if stream is not None and not isinstance(stream, self.stream_type):
            raise TypeError(f"stream: a pycuda Stream or None, not {type(stream).__name__}")
        self.emu.counts["launch"] += 1
        if not self.emu.run_kernels:
            return
        fields = _fields(fmt)
        assert len(arg_buf) == (fields[-1][1] + fields[-1][2] if fields else 0)
        cargs, pointers = [], []
        for char, offset, size in fields:
            raw = arg_buf[offset:offset + size]
            if char == "s":  # CUDA aligns a struct of int64s to 8; pycuda's 's' to 1
                assert offset % 8 == 0 and size % 8 == 0, (
                    f"{self.name}: a struct parameter at offset {offset} (size {size}): "
                    "misaligned for CUDA; put it after an 8-byte parameter")
                cargs.append(_struct_type(size).from_buffer_copy(raw))
            else:
                cargs.append(_CTYPES[char].from_buffer_copy(raw))
                if char == "P":
                    self.emu.check(cargs[-1].value, f"kernel {self.name}")
                    pointers.append(cargs[-1].value)
        self.fn.argtypes = [type(a) for a in cargs]
        threads, blocks = block[0] * block[1] * block[2], grid[0]
        assert threads % 32 == 0 and block[1:] == (1, 1) and tuple(grid[1:]) in ((), (1,)), (
            "the emulation runs 1-d grids of whole warps")
        for b in range(blocks):
            self.lib.sg_emu_block(blocks, threads)

            def thread(t=0, b=b):
                self.lib.sg_emu_thread(t, b)
                self.fn(*cargs)

            _WORKERS[0].run([lambda t=t: thread(t) for t in range(threads)])
        for ptr in pointers:
            self.emu.check_guard(ptr, f"kernel {self.name}")


class _Allocation:
    """A pooled allocation (pycuda's PooledDeviceAllocation): host memory that goes back to
    its pool, unchanged, when the last reference goes."""

    def __init__(self, pool, buffer, n: int):
        self.pool, self.buffer, self.n = pool, buffer, n
        self.ptr = ctypes.addressof(buffer)
        pool.emu.born(self.ptr, n)

    def __int__(self) -> int:
        return self.ptr

    __index__ = __int__

    def free(self) -> None:
        if self.buffer is not None:
            self.pool.emu.died(self.ptr, self.n)
            self.pool.release(self.buffer, self.n)
            self.buffer = None

    def __del__(self):
        try:
            self.free()
        except Exception:  # noqa: BLE001 (interpreter shutdown)
            pass


class _Pool:
    """pycuda.tools.DeviceMemoryPool: freed blocks are held for reuse (of the same size) and
    count as device memory until ``free_held``."""

    def __init__(self, emu: Emulator):
        self.emu = emu
        self.bins: dict[int, list] = {}

    def allocate(self, n: int) -> _Allocation:
        n = int(n)
        self.emu.counts["allocate"] += 1
        held = self.bins.get(n)
        if held:
            self.emu.held -= n
            return _Allocation(self, held.pop(), n)
        if self.emu.in_use + self.emu.held + n > self.emu.limit:
            raise self.error("cuMemAlloc failed: out of memory")
        buffer = (ctypes.c_char * (n + len(GUARD)))()
        ctypes.memmove(ctypes.addressof(buffer) + n, GUARD, len(GUARD))
        return _Allocation(self, buffer, n)

    def release(self, buffer, n: int) -> None:
        self.bins.setdefault(n, []).append(buffer)
        self.emu.held += n

    def free_held(self) -> None:
        self.bins.clear()
        self.emu.held = 0

    def stop_holding(self) -> None:
        self.free_held()

    @property
    def held_blocks(self) -> int:
        return sum(map(len, self.bins.values()))

    @property
    def active_blocks(self) -> int:
        return len(self.emu.starts)


def fake_pycuda(memory_limit: int, run_kernels: bool = True) -> dict[str, types.ModuleType]:
    """Modules pycuda, pycuda.driver and pycuda.tools over host memory (``run_kernels``
    False: launches pack their arguments and stop; what the host-overhead benchmark times)."""
    emu = Emulator(memory_limit, run_kernels)
    drv = types.ModuleType("pycuda.driver")

    class Error(Exception):
        pass

    class MemoryError_(Error):
        pass

    class Context:
        """pycuda's: a context stack per thread, which must be empty when the process ends
        (pycuda aborts it otherwise)."""

        def push(self) -> None:
            emu.counts["context_depth"] += 1

        def pop(self) -> None:
            if not emu.counts["context_depth"]:
                raise Error("cannot pop non-current context")
            emu.counts["context_depth"] -= 1

        @staticmethod
        def synchronize() -> None:
            emu.counts["synchronize"] += 1

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
            emu.counts["synchronize"] += 1

    class Module:
        def __init__(self, path: str):
            self.lib = ctypes.CDLL(path, mode=ctypes.RTLD_LOCAL)

        def get_function(self, name: str) -> _Function:
            return _Function(emu, self.lib, name, Stream)

    def module_from_buffer(buffer: bytes) -> Module:
        return Module(buffer.decode())

    def copy(kind: str, dst: int, src: int, n: int, stream) -> None:
        if stream is not None and not isinstance(stream, Stream):
            raise TypeError("stream: a pycuda Stream or None")
        emu.counts[kind] += 1
        for ptr in {"htod": [dst], "dtoh": [src], "dtod": [dst, src]}.get(kind, [dst]):
            emu.check(int(ptr), f"memcpy_{kind}")
        if n:
            ctypes.memmove(int(dst), int(src), n)
        if kind != "dtoh":
            emu.check_guard(int(dst), f"memcpy_{kind}")

    pool = _Pool(emu)
    pool.error = MemoryError_
    drv.Error, drv.MemoryError = Error, MemoryError_
    drv.Device, drv.Stream, drv.Context = Device, Stream, Context
    drv.module_from_buffer = module_from_buffer
    drv.device_attribute = types.SimpleNamespace(MULTIPROCESSOR_COUNT=16)
    drv.init = lambda: None
    drv.mem_get_info = lambda: (memory_limit - emu.in_use - emu.held, memory_limit)
    drv.memcpy_htod_async = lambda dst, src, stream=None: copy(
        "htod", dst, np.ascontiguousarray(src).ctypes.data, src.nbytes, stream)
    drv.memcpy_dtoh_async = lambda dst, src, stream=None: copy(
        "dtoh", dst.ctypes.data, src, dst.nbytes, stream)
    drv.memcpy_dtod_async = lambda dst, src, n, stream=None: copy("dtod", dst, src, n, stream)

    def memset(dst, byte: int, n: int, stream=None) -> None:
        emu.counts["memset"] += 1
        emu.check(int(dst), "memset_d8")
        ctypes.memset(int(dst), byte, n)
        emu.check_guard(int(dst), "memset_d8")

    drv.memset_d8_async = memset
    drv._emulator = emu
    tools = types.ModuleType("pycuda.tools")
    tools.DeviceMemoryPool = lambda: pool
    tools.clear_context_caches = lambda: None
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
    """cuBLAS's gemm on host memory, column-major as the real one (pointers as ints or
    c_void_p, alpha and beta by reference), each pointer checked against live memory."""

    def __init__(self, emu: Emulator):
        self.emu = emu

    @staticmethod
    def _matrix(ptr: int, rows: int, cols: int, ld: int, dtype) -> np.ndarray:
        count = ld * (cols - 1) + rows if rows and cols else 0
        flat = np.ctypeslib.as_array((ctypes.c_char * (count * dtype.itemsize)).from_address(
            ptr)).view(dtype) if count else np.zeros(0, dtype)
        return np.lib.stride_tricks.as_strided(flat, (rows, cols),
                                               (dtype.itemsize, ld * dtype.itemsize))

    def _gemm(self, dtype, name: str):
        def gemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
            self.emu.counts["cublas"] += 1
            a, b, c = (int(getattr(p, "value", p) or 0) for p in (a, b, c))
            for p in (a, b, c):
                self.emu.check(p, name)
            shapes = [(a, (m, k) if ta == 0 else (k, m), lda),
                      (b, (k, n) if tb == 0 else (n, k), ldb), (c, (m, n), ldc)]
            for p, (rows, cols), ld in shapes:  # the last element read or written
                if rows and cols:
                    self.emu.check(p + (ld * (cols - 1) + rows) * dtype.itemsize - 1, name)
            A = self._matrix(a, *((m, k) if ta == 0 else (k, m)), lda, dtype)
            B = self._matrix(b, *((k, n) if tb == 0 else (n, k)), ldb, dtype)
            C = self._matrix(c, m, n, ldc, dtype)
            A, B = (A if ta == 0 else A.T), (B if tb == 0 else B.T)
            al, be = alpha._obj.value, beta._obj.value
            result = al * (A.astype(dtype) @ B.astype(dtype))
            C[...] = result if be == 0 else result + be * C
            self.emu.check_guard(c, name)
            return 0

        return gemm

    def __getitem__(self, name):  # ctypes' CDLL[name]: a function object of one's own
        return self.__getattr__(name)

    def __getattr__(self, name):
        if name == "cublasSgemm_v2":
            return self._gemm(np.dtype("float32"), name)
        if name == "cublasDgemm_v2":
            return self._gemm(np.dtype("float64"), name)
        return lambda *args: 0


NULL_CUBLAS = r"""
#define G(name, T) int name(void *h, int ta, int tb, int m, int n, int k, const T *alpha, \
    const T *a, int lda, const T *b, int ldb, const T *beta, T *c, int ldc) \
    { sg_null_cublas_calls++; return 0; }
extern "C" {
int sg_null_cublas_calls = 0;
G(cublasSgemm_v2, float)
G(cublasDgemm_v2, double)
int cublasCreate_v2(void **h) { *h = 0; return 0; }
int cublasSetStream_v2(void *h, void *s) { return 0; }
int cublasSetPointerMode_v2(void *h, int mode) { return 0; }
}
"""


def null_cublas(workdir: Path) -> ctypes.CDLL:
    """A libcublas whose functions do nothing but return success: calling it costs what a
    ctypes call into the real one costs on the host."""
    src, lib = workdir / "null_cublas.cpp", workdir / "libnull_cublas.so"
    src.write_text(NULL_CUBLAS)
    subprocess.run(["g++", "-O1", "-shared", "-fPIC", str(src), "-o", str(lib)], check=True)
    return ctypes.CDLL(str(lib))


def install(monkeypatch, workdir: Path, run_kernels: bool = True):
    """Point the cuda backend at the emulated GPU (undone by `monkeypatch`); its driver.
    ``run_kernels=False``: launches and cuBLAS calls do everything but compute (see
    benchmarks/gpu/host_overhead.py)."""
    if not _WORKERS:
        _WORKERS.append(_Workers())
    modules = fake_pycuda(memory_limit=1 << 30, run_kernels=run_kernels)
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    from symgraph.codegen.cuda import (
        backend,
        blas,
        compiler,
        driver,
        elemwise,
        steps_conv,
        steps_nnet,
    )

    compile_fn = host_compile(workdir)
    for module in (elemwise, steps_nnet, steps_conv):
        monkeypatch.setattr(module, "compile_cuda", compile_fn)
    for module in (compiler, backend):
        monkeypatch.setattr(module, "nvcc_path", lambda: "/emulated/nvcc")
    emu = modules["pycuda.driver"]._emulator
    lib = FakeCublas(emu) if run_kernels else null_cublas(workdir)
    monkeypatch.setattr(blas, "cublas", lambda: lib)
    if run_kernels:
        monkeypatch.setattr(blas, "handle", lambda: ctypes.c_void_p(0))
    else:
        monkeypatch.setattr(blas, "handle", functools.cache(blas.handle.__wrapped__))
    monkeypatch.setattr(blas, "_BOUND", {}, raising=False)  # (absent before prepared calls)
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


def test_the_emulation_finds_stale_pointers_overruns_and_misplaced_structs():
    emu = Emulator(1 << 20, run_kernels=True)
    pool = _Pool(emu)
    a = pool.allocate(64)
    ptr = int(a)
    emu.check(ptr + 63, "kernel k")
    with pytest.raises(AssertionError, match="no live device allocation"):
        emu.check(ptr + 64, "kernel k")
    ctypes.memset(ptr, 0, 65)  # one byte too many
    with pytest.raises(AssertionError, match="wrote past the end of the 64 bytes"):
        emu.check_guard(ptr, "kernel k")
    del a  # back to the pool: a pointer into it is a use after free
    with pytest.raises(AssertionError, match="no live device allocation"):
        emu.check(ptr, "kernel k")
    assert pool.allocate(64).ptr == ptr and pool.held_blocks == 0  # reused, as pycuda's pool
    # pycuda packs by Python's struct rules: a struct ('s') after a float lands at offset 12,
    # where CUDA would read it at 16; the emulated launch refuses that layout
    assert [offset for _, offset, _ in _fields("Pf48s")] == [0, 8, 12]
    assert [offset for _, offset, _ in _fields("PP6qf")] == [0, 8, 16, 24, 32, 40, 48, 56, 64]
