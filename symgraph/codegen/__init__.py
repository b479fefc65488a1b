"""Backends: each lowers an optimized FunctionGraph to a callable program."""

from __future__ import annotations

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
