"""Machine ceilings, measured with numpy in a process of its own before the benchmarks.

- float32 copy bandwidth with 2 threads (each copies half of a 256 MB array into a buffer it
  has already touched), counting bytes read plus bytes written;
- sgemm 2048^3 through numpy's BLAS, GFLOP/s.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from benchmarks.harness import MARK, summarize

COPY_ELEMENTS = 64 * 2**20  # 256 MB of float32, far beyond the caches
GEMM_N = 2048
THREADS = 2


def copy_bandwidth(repeat: int = 10) -> dict:
    """Bytes per second (read + write) of a float32 copy split over ``THREADS`` threads."""
    src = np.random.default_rng(0).standard_normal(COPY_ELEMENTS, dtype=np.float32)
    dst = np.empty_like(src)
    dst[:] = 0  # touch the pages once: first-touch page faults are expensive in these VMs
    halves = list(zip(np.array_split(dst, THREADS), np.array_split(src, THREADS)))
    times = []
    with ThreadPoolExecutor(THREADS) as pool:
        for _ in range(repeat + 1):
            t0 = time.perf_counter()
            list(pool.map(lambda pair: np.copyto(*pair), halves))
            times.append(time.perf_counter() - t0)
    stats = summarize(times[1:])
    nbytes = 2 * src.nbytes
    return {"GB/s": nbytes / stats["median"] / 1e9, "best GB/s": nbytes / stats["min"] / 1e9}


def sgemm(repeat: int = 10) -> dict:
    """GFLOP/s of a float32 2048^3 matrix product through numpy's BLAS."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((GEMM_N, GEMM_N), dtype=np.float32)
    b = rng.standard_normal((GEMM_N, GEMM_N), dtype=np.float32)
    out = np.empty_like(a)
    times = []
    for _ in range(repeat + 1):
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - t0)
    stats = summarize(times[1:])
    flops = 2 * GEMM_N**3
    return {"GFLOP/s": flops / stats["median"] / 1e9, "best GFLOP/s": flops / stats["min"] / 1e9}


if __name__ == "__main__":
    ceilings = {"copy_float32_2threads": copy_bandwidth(), "sgemm_2048": sgemm()}
    print(MARK + json.dumps({"ok": True, "ceilings": ceilings}), flush=True)
