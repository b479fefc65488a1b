"""The system C compiler: finding it, its version and flags, and building cached shared libraries.

The compiler is ``$SYMGRAPH_CC``, else ``$CC``, else the first of cc / gcc / clang on PATH; it
also needs Python's and numpy's headers (entry points read ndarray fields). ``toolchain()`` says
whether all of that is there (the C backend falls back to LLVM when not). A library is built
once per key: ``cache_key(source, "c", flags, {"cc": <compiler --version>})``, so a new compiler,
new flags or another CPU (``-march=native``) never reuse an old artifact. A compiler error
raises ``CCompileError`` with the command, the generated source's path and the compiler's
message.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symgraph.codegen.cache import DiskCache, cache_key, host_cpu

BASE_FLAGS = ("-O3", "-march=native", "-shared", "-fPIC", "-std=gnu11",
              # errno is never read: lets sqrt & co. inline and loops vectorize
              "-fno-math-errno",
              # no FMA contraction: a*b+c rounds twice, as numpy computes it
              "-ffp-contract=off",
              # honours `#pragma omp simd` (vectorized float sums) without the OpenMP runtime
              "-fopenmp-simd")
COMPILE_TIMEOUT_S = 120


class CCompileError(RuntimeError):
    """The C compiler rejected a generated source."""


@dataclass(frozen=True)
class Toolchain:
    """A usable C compiler, or why there is none (`missing`)."""

    cc: str | None
    version: str
    include_dirs: tuple[str, ...]
    missing: str | None = None

    @property
    def available(self) -> bool:
        return self.missing is None


def _find_compiler() -> str | None:
    for candidate in (os.environ.get("SYMGRAPH_CC"), os.environ.get("CC"), "cc", "gcc", "clang"):
        if candidate:
            path = shutil.which(shlex.split(candidate)[0])
            if path:
                return candidate
    return None


@functools.cache
def toolchain() -> Toolchain:
    """The C compiler this process uses (looked up once)."""
    cc = _find_compiler()
    includes = (sysconfig.get_paths()["include"], np.get_include())
    if cc is None:
        return Toolchain(None, "", includes, "no C compiler found (tried $SYMGRAPH_CC, $CC, "
                         "cc, gcc, clang)")
    if not (Path(includes[0]) / "Python.h").is_file():
        return Toolchain(cc, "", includes, f"Python's headers are missing ({includes[0]}/"
                         "Python.h): install the python3-dev package")
    try:
        out = subprocess.run([*shlex.split(cc), "--version"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Toolchain(cc, "", includes, f"{cc} --version failed: {exc}")
    version = (out.stdout or out.stderr).strip().splitlines()
    return Toolchain(cc, version[0] if version else "unknown", includes)


def compile_flags(openmp: bool = False) -> list[str]:
    """The flags of a kernel library (OpenMP threads only when asked)."""
    tc = toolchain()
    flags = list(BASE_FLAGS) + (["-fopenmp"] if openmp else [])
    return flags + [f"-I{d}" for d in tc.include_dirs]


_CACHE = DiskCache()


def run_compiler(cmd: list[str], source: Path, kernel: str, tool: str,
                 error: type[Exception], timeout_s: float) -> None:
    """Run a compiler command; on failure or timeout raise `error` with what a person needs
    to debug it: the kernel, the source file kept on disk, the command and the compiler's
    own message."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise error(f"{tool} took over {timeout_s} s on kernel {kernel}; "
                    f"source: {source}") from None
    if done.returncode != 0:
        raise error(f"{tool} failed on kernel {kernel} (exit {done.returncode})\n"
                    f"source: {source}\ncommand: {shlex.join(cmd)}\n"
                    f"{(done.stderr or done.stdout).strip()}")


def build_shared_library(source: str, name: str, openmp: bool = False) -> tuple[Path, bool]:
    """The cached shared library built from `source` (path, cache hit)."""
    tc = toolchain()
    if not tc.available:
        raise CCompileError(f"cannot compile kernel {name}: {tc.missing}")
    flags = compile_flags(openmp)
    key = cache_key(source, "c", flags + [host_cpu()], {"cc": tc.version})

    def build(tmp: Path) -> None:
        src = tmp.parent / f"{key}.c"  # kept next to the library: what a person debugs
        src.write_text(source)
        cmd = [*shlex.split(tc.cc or "cc"), *flags, str(src), "-o", str(tmp), "-lm"]
        run_compiler(cmd, src, name, "the C compiler", CCompileError, COMPILE_TIMEOUT_S)

    return _CACHE.get_or_build_file(key, ".so", build, meta={"kernel": name, "backend": "c"})
