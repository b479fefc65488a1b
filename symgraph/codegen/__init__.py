"""Backends: each lowers an optimized FunctionGraph to a callable program."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

BACKENDS: dict[str, Callable[[], object]] = {}


def register_backend(name: str, factory: Callable[[], object]) -> None:
    BACKENDS[name] = factory


def get_backend(name: str):
    """The backend called `name` ('python', 'llvm', 'c', 'cuda')."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; available: {sorted(BACKENDS)}")
    return BACKENDS[name]()


def _python():
    from symgraph.codegen.python import PythonBackend

    return PythonBackend()


register_backend("python", _python)


def _llvm():
    from symgraph.codegen.program import LLVMBackend

    return LLVMBackend()


# The native CPU default (compile/mode.py native_backend) wherever llvmlite is installed.
if importlib.util.find_spec("llvmlite") is not None:
    register_backend("llvm", _llvm)


def _c():
    from symgraph.codegen.c_program import CBackend

    return CBackend()


register_backend("c", _c)


def _cuda():
    from symgraph.codegen.cuda.backend import CudaBackend

    return CudaBackend()


register_backend("cuda", _cuda)
