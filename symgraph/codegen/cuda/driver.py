"""The GPU through pycuda: the only module of symgraph that imports pycuda.

One ``Driver`` per process (``get_driver()``): the device's primary context (shared with the
CUDA runtime, so cuBLAS and other libraries see the same memory), one stream every launch,
copy and cuBLAS call is ordered on, a memory pool (freed arrays are reused without cudaMalloc),
loaded modules, and ``copies``: a count of every host <-> device transfer, by direction and
purpose, so a training step can show that it moves no parameters.
"""

from __future__ import annotations

import atexit
import gc
import importlib.util
import sys
import threading
from collections import Counter
from typing import Any

import numpy as np

SG_BLOCK = 256  # threads per block of every symgraph kernel (kernels/cuda_prelude.h)
BLOCK = (SG_BLOCK, 1, 1)


class CudaUnavailable(RuntimeError):
    """The cuda backend cannot run here (no pycuda, or no GPU): the message says which."""


class DeviceOutOfMemory(MemoryError):
    """An allocation on the GPU failed (the message names its size and what it was for)."""


def require() -> None:
    """Raise CudaUnavailable, saying what is missing and how to install it, unless pycuda and
    a GPU are both here."""
    if importlib.util.find_spec("pycuda") is None:
        raise CudaUnavailable(
            "symgraph's cuda backend needs pycuda, which is not installed: "
            "`pip install pycuda` (it builds against the CUDA toolkit: set CUDA_ROOT to it, e.g. "
            "`export CUDA_ROOT=$(dirname $(dirname $(which nvcc)))`). Or use the CPU backends "
            "(device=cpu, Mode(backend='llvm' or 'c')).")
    try:
        import pycuda.driver as cuda
    except ImportError as exc:
        if "libcuda" in str(exc):
            raise CudaUnavailable(
                f"pycuda is installed but cannot load the CUDA driver ({exc}): this machine has "
                "no NVIDIA GPU driver (libcuda.so). Use a machine with a GPU, or the CPU backends."
            ) from exc
        raise CudaUnavailable(f"pycuda is installed but does not import: {exc}") from exc
    try:
        cuda.init()
        count = cuda.Device.count()
    except cuda.Error as exc:
        raise CudaUnavailable(f"no usable NVIDIA GPU: the CUDA driver says {exc}") from exc
    if count == 0:
        raise CudaUnavailable("no NVIDIA GPU found (the CUDA driver reports 0 devices)")


def _human(nbytes: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:.1f} {unit}" if unit != "B" else f"{nbytes} B"
        nbytes /= 1024
    return str(nbytes)


class Driver:
    """The device, its context, stream, memory pool, modules and copy counter."""

    def __init__(self, device: int = 0):
        require()
        import pycuda.driver as cuda
        from pycuda.tools import DeviceMemoryPool

        self.cuda = cuda
        self.device = cuda.Device(device)
        self.context = self.device.retain_primary_context()
        self.context.push()
        major, minor = self.device.compute_capability()
        self.arch = f"sm_{major}{minor}"
        self.name = self.device.name()
        self.sm_count = self.device.get_attribute(cuda.device_attribute.MULTIPROCESSOR_COUNT)
        self.max_blocks = self.sm_count * 32
        self.stream = cuda.Stream()
        self.pool = DeviceMemoryPool()
        self.modules: dict[str, Any] = {}
        # ("htod" | "dtoh", purpose) -> count, and the same with "_bytes"
        self.copies: Counter = Counter()

    def _close(self) -> None:
        """At interpreter exit, while the context is still current: wait for the stream,
        free the device memory still referenced (shared variables, step buffers) and the
        pool's (stop_holding frees what it holds), then pop the context. pycuda aborts the
        process when its context stack is not empty at exit (seen on the H100: every benchmark
        process ended with SIGABRT), and memory freed after the pop would push the context
        again."""
        for action in (self.stream.synchronize, _free_device_arrays, self.pool.stop_holding):
            try:
                action()
            except Exception:  # the process is ending: the rest of the clean-up still runs
                pass
        try:
            self.context.pop()
        except Exception as exc:
            print(f"symgraph: popping the CUDA context at exit failed: {exc}", file=sys.stderr)
        try:
            from pycuda.tools import clear_context_caches

            clear_context_caches()
        except Exception:
            pass

    # --- memory ---------------------------------------------------------------------------

    def alloc(self, nbytes: int, what: str = "an array") -> Any:
        """`nbytes` of device memory (at least 1), from the pool; the allocation frees itself
        when garbage collected. Out of memory raises DeviceOutOfMemory naming size and use."""
        try:
            return self.pool.allocate(max(int(nbytes), 1))
        except self.cuda.MemoryError:
            self.pool.free_held()  # memory the pool keeps for reuse: give it back, try again
            try:
                return self.pool.allocate(max(int(nbytes), 1))
            except self.cuda.MemoryError:
                free, total = self.cuda.mem_get_info()
                raise DeviceOutOfMemory(
                    f"CUDA out of memory: could not allocate {_human(nbytes)} for {what} on "
                    f"{self.name} ({_human(free)} free of {_human(total)})") from None

    def count(self, direction: str, purpose: str, nbytes: int) -> None:
        self.copies[(direction, purpose)] += 1
        self.copies[(direction + "_bytes", purpose)] += int(nbytes)

    def htod(self, ptr: int, host: np.ndarray, purpose: str) -> None:
        """Copy a C-contiguous host array to device memory at `ptr` (counted)."""
        self.cuda.memcpy_htod_async(ptr, host, self.stream)
        self.count("htod", purpose, host.nbytes)

    def dtoh(self, host: np.ndarray, ptr: int, purpose: str) -> None:
        """Copy device memory at `ptr` into a C-contiguous host array (counted); waits."""
        self.cuda.memcpy_dtoh_async(host, ptr, self.stream)
        self.stream.synchronize()
        self.count("dtoh", purpose, host.nbytes)

    def dtod(self, dst: int, src: int, nbytes: int) -> None:
        if nbytes:
            self.cuda.memcpy_dtod_async(dst, src, nbytes, self.stream)

    def memset(self, ptr: int, byte: int, nbytes: int) -> None:
        if nbytes:
            self.cuda.memset_d8_async(ptr, byte, nbytes, self.stream)

    def synchronize(self) -> None:
        self.stream.synchronize()

    def total_copies(self, purpose: str | None = None) -> int:
        """Host <-> device copies so far (of one purpose, or all)."""
        return sum(n for (d, p), n in self.copies.items()
                   if not d.endswith("_bytes") and (purpose is None or p == purpose))

    # --- code -----------------------------------------------------------------------------

    def function(self, key: str, cubin: bytes, name: str, arg_format: str) -> Any:
        """Kernel `name` of the module `cubin` (loaded once per key), prepared for its
        parameters: `arg_format` is pycuda's struct format ("P" a pointer, "q" an int64,
        "f" a float, "48s" a struct of 48 bytes by value, which CUDA aligns to 8 bytes, so it
        must follow an 8-byte parameter). Launch it with ``launch`` or, where the host's time
        counts, ``fn.prepared_async_call(grid, BLOCK, driver.stream, *args)``: no argument
        is inspected at launch, they are packed in one call."""
        module = self.modules.get(key)
        if module is None:
            module = self.modules[key] = self.cuda.module_from_buffer(cubin)
        return module.get_function(name).prepare(arg_format)

    def grid(self, n: int, per_thread: int = 1) -> tuple[int, int]:
        """Blocks of BLOCK threads for `n` work items, `per_thread` each (grid-stride kernels:
        at most 32 blocks per multiprocessor, at least one block)."""
        return (max(min(-(-n // (SG_BLOCK * per_thread)), self.max_blocks), 1), 1)

    def pass_grid(self, n: int, per_thread: int) -> tuple[int, int]:
        """Blocks for one pass over `n` work items, `per_thread` each, but at least 4 per
        multiprocessor while there are items for them (a kernel with a grid-stride loop
        still covers every item, whatever the grid)."""
        blocks = max(-(-n // (SG_BLOCK * per_thread)),
                     min(-(-n // SG_BLOCK), 4 * self.sm_count), 1)
        return (min(blocks, 2**31 - 1), 1)

    def launch(self, fn: Any, n: int, args: list, per_thread: int = 1,
               grid: int | None = None) -> None:
        """The prepared `fn` on `args` with enough blocks for `n` work items (or `grid`)."""
        if grid is None:
            if n <= 0:
                return
            blocks = self.grid(n, per_thread)
        else:
            blocks = (max(int(grid), 1), 1)
        fn.prepared_async_call(blocks, BLOCK, self.stream, *args)


def _free_device_arrays() -> None:
    """Free the allocation under every DeviceArray still alive (at exit: nothing may use
    them afterwards). Each allocation once: views share their base's."""
    from symgraph.codegen.cuda.storage import DeviceArray

    freed = set()
    for obj in gc.get_objects():
        if type(obj) is not DeviceArray:
            continue
        base = obj.base
        while isinstance(base, DeviceArray):
            base = base.base
        if base is not None and id(base) not in freed and hasattr(base, "free"):
            freed.add(id(base))
            try:
                base.free()
            except Exception:  # already freed by its owner
                pass


_DRIVER: list[Driver] = []
_LOCK = threading.Lock()


@atexit.register
def _close_driver() -> None:
    """The process's driver cleans up before pycuda's own teardown (see Driver._close)."""
    if _DRIVER:
        _DRIVER[0]._close()


def get_driver() -> Driver:
    """The process's driver (created on first use; raises CudaUnavailable without a GPU)."""
    if not _DRIVER:
        with _LOCK:
            if not _DRIVER:
                _DRIVER.append(Driver())
    return _DRIVER[0]


def available() -> tuple[bool, str]:
    """(True, device name) when the cuda backend can run here, else (False, why not)."""
    try:
        return True, get_driver().name
    except CudaUnavailable as exc:
        return False, str(exc)
