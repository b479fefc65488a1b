"""nvcc: CUDA sources to cubins, cached on disk (no GPU and no pycuda needed).

``compile_cuda(source, arch)`` returns the cubin (or PTX) bytes, built once per key
``cache_key(source, "cuda", flags + [arch], {"nvcc": <nvcc --version>})``. nvcc is
``$CUDA_ROOT/bin/nvcc``, ``$CUDA_HOME/bin/nvcc`` or the one on PATH. A compile error raises
``CudaCompileError`` with the command, the source's path and nvcc's message.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from symgraph.codegen.c_toolchain import run_compiler
from symgraph.codegen.cache import DiskCache, cache_key

# no --use_fast_math and no FMA contraction (-fmad=false): numpy's results are the reference,
# and elementwise kernels are bound by memory anyway; warning 177 is "declared but never
# referenced", which generated code (a load whose value an op ignores) may well be
FLAGS = ("-O3", "-std=c++17", "-fmad=false", "-diag-suppress", "177")
COMPILE_TIMEOUT_S = 300
_CACHE = DiskCache()


class CudaCompileError(RuntimeError):
    """nvcc rejected a generated source (or is missing)."""


@functools.cache
def nvcc_path() -> str | None:
    """The nvcc this process compiles with, or None."""
    for root in (os.environ.get("CUDA_ROOT"), os.environ.get("CUDA_HOME"),
                 os.environ.get("CUDA_PATH")):
        if root and (Path(root) / "bin" / "nvcc").is_file():
            return str(Path(root) / "bin" / "nvcc")
    return shutil.which("nvcc")


@functools.cache
def nvcc_version() -> str:
    """nvcc's version line ("Cuda compilation tools, release 13.0, V13.0.88")."""
    path = nvcc_path()
    if path is None:
        return ""
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    lines = [line for line in out.stdout.splitlines() if "release" in line]
    return lines[-1].strip() if lines else out.stdout.strip()


def compile_cuda(source: str, arch: str, name: str, output: str = "cubin",
                 extra_flags: Sequence[str] = ()) -> bytes:
    """The cubin (output='cubin', arch like 'sm_90') or PTX (output='ptx') of `source`."""
    nvcc = nvcc_path()
    if nvcc is None:
        raise CudaCompileError(
            f"cannot compile the CUDA kernel {name}: nvcc not found (install the CUDA toolkit, "
            "or set CUDA_ROOT to it)")
    flags = [f"-{output}", f"-arch={arch}", *FLAGS, *extra_flags]
    key = cache_key(source, "cuda", flags, {"nvcc": nvcc_version()})

    def build(tmp: Path) -> None:
        src = tmp.parent / f"{key}.cu"  # kept next to the cubin: what a person debugs
        src.write_text(source)
        run_compiler([nvcc, *flags, str(src), "-o", str(tmp)], src, name, "nvcc",
                     CudaCompileError, COMPILE_TIMEOUT_S)

    path, _ = _CACHE.get_or_build_file(key, f".{output}", build,
                                       meta={"kernel": name, "backend": "cuda", "arch": arch})
    return path.read_bytes()
