"""The C backend: the native driver of codegen/program.py, with kernels from codegen/c.py.

The driver (schedule, storage plan, fast and general paths, BLAS steps, numpy fallbacks) is the
LLVM backend's; only the kernel compiler differs. program_steps.py names its compiler as a module
global (``compile_kernel``) rather than taking it as a parameter, so rather than fork the
driver's source this module loads private copies of program_steps.py and program.py (the same
files, executed again under other module names) and points the copies' ``compile_kernel`` at
``c.compile_kernel``. Nothing of the LLVM backend is mutated, so LLVM and C functions can be
compiled at once, and the copy follows every change of the driver. ``CProgram`` checks that
each kernel it got is a C kernel, so a change this misses fails loudly instead of running LLVM
code under the name "c".

If program.py grows a ``compiler`` parameter, this module shrinks to passing it.
"""

from __future__ import annotations

import importlib.util
import sys
import types
import warnings

from symgraph.codegen import c, program, program_steps
from symgraph.fgraph import FunctionGraph


def _load_copy(original: types.ModuleType, suffix: str) -> types.ModuleType:
    """A fresh execution of `original`'s source as the module `<name>_<suffix>`."""
    name = f"{original.__name__}_{suffix}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, original.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    spec.loader.exec_module(module)
    return module


def _c_driver() -> types.ModuleType:
    """program.py's copy whose steps compile C kernels."""
    steps = _load_copy(program_steps, "c")
    steps.compile_kernel = c.compile_kernel
    for shared in ("_POOL", "_POOL_LOCK"):  # one thread pool per process, not one per copy
        if hasattr(program_steps, shared):
            setattr(steps, shared, getattr(program_steps, shared))
    driver = _load_copy(program, "c")
    # what the copy imported from the original program_steps now comes from the C copy
    for key, value in list(vars(driver).items()):
        if getattr(program_steps, key, None) is value and hasattr(steps, key):
            setattr(driver, key, getattr(steps, key))
    return driver


_DRIVER = _c_driver()


class CProgram(_DRIVER.LLVMProgram):
    """The compiled function (see program.LLVMProgram); its kernels are C shared libraries."""

    def __init__(self, fg: FunctionGraph, name: str | None = None):
        super().__init__(fg, name)
        for step in self.kernel_steps:
            if not isinstance(step.compiled, c.CompiledKernel):
                raise RuntimeError(
                    f"internal error: the C program of {name or 'a function'} got a "
                    f"{type(step.compiled).__name__} for {step.node}: codegen/program.py "
                    "changed how it compiles kernels; update codegen/c_program.py")


_WARNED: list[str] = []


class CBackend:
    """The C backend: kernels through the system compiler, BLAS, numpy for the rest.

    Without a usable compiler it warns once and compiles with the LLVM backend instead.
    """

    name = "c"

    def compile(self, fg: FunctionGraph, **options):
        tc = c.toolchain()
        if not tc.available:
            if not _WARNED:
                _WARNED.append(tc.missing or "")
                warnings.warn(f"symgraph: the C backend is unavailable ({tc.missing}); "
                              "compiling with the LLVM backend instead", stacklevel=2)
            return program.LLVMBackend().compile(fg, **options)
        return CProgram(fg, options.get("name"))
