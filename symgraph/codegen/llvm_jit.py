"""One process-wide LLVM JIT (MCJIT through llvmlite), tuned for the host CPU.

Kernels arrive as LLVM IR text, are optimized at O3 with the loop and SLP vectorizers and
compiled into a single execution engine that lives as long as the process::

    mod = compile_ir(ir_text)
    fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(mod.address("kernel"))

For the disk cache, ``emit_object(ir_text)`` gives the optimized object code and
``load_object(obj)`` links it into the engine, so a later process skips optimization and
codegen. ``emit_object`` may run on several threads at once: each call parses into its own
LLVM context and borrows a target machine of its own, and its two long native calls (the pass
pipeline and machine codegen) skip llvmlite's process-wide lock, so they overlap on two cores.
Function names share one namespace per engine: renderers make them unique (for example by
putting the cache hash in the name); ``compile_ir`` refuses a name already defined.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import llvmlite.binding as llvm
from llvmlite.binding import ffi

if TYPE_CHECKING:
    import llvmlite.ir as ir

__all__ = [
    "CompiledModule",
    "Jit",
    "compile_ir",
    "data_layout",
    "emit_object",
    "function_attributes",
    "host_cpu_features",
    "host_cpu_name",
    "host_vector_width_bits",
    "jit",
    "load_object",
    "optimize",
    "set_kernel_attributes",
    "target_triple",
]


@functools.cache
def _initialize() -> None:
    """Initialize llvmlite's native target once (llvm.initialize() raises in 0.50)."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    # No load_library_permanently is needed (and 0.50 rejects None): MCJIT resolves memset,
    # memcpy and libm symbols from the process image; tests check that they do.


@functools.cache
def host_cpu_name() -> str:
    """The LLVM name of the host CPU, e.g. ``"sapphirerapids"``."""
    _initialize()
    return llvm.get_host_cpu_name()


@functools.cache
def host_cpu_features() -> str:
    """The host CPU features as LLVM's ``+avx2,-avx512f,...`` string ('' if unknown)."""
    _initialize()
    try:
        return llvm.get_host_cpu_features().flatten()
    except RuntimeError:  # LLVM cannot query features on some hosts; fall back to the CPU name
        return ""


def _has_feature(name: str) -> bool:
    """Whether the host feature string enables ``name`` (e.g. ``"avx512f"``)."""
    return f"+{name}" in host_cpu_features().split(",")


def host_vector_width_bits() -> int:
    """The widest SIMD register the host offers to float code: 512, 256 or 128 bits."""
    if _has_feature("avx512f"):
        return 512
    if _has_feature("avx") or _has_feature("sve"):
        return 256
    return 128


def target_triple() -> str:
    """The LLVM target triple of this process."""
    _initialize()
    return llvm.get_process_triple()


def data_layout() -> str:
    """The data layout string of the host target machine."""
    return str(_target_machine().target_data)


def function_attributes() -> dict[str, str]:
    """The LLVM string attributes every kernel function should carry (target ISA, vector width)."""
    attrs = {"target-cpu": host_cpu_name()}
    if host_cpu_features():
        attrs["target-features"] = host_cpu_features()
    if host_vector_width_bits() == 512:
        # LLVM caps auto-vectorization at 256 bits on AVX-512 CPUs unless told otherwise;
        # 512-bit vectors measured ~1.4x faster for fused transcendental kernels (FACTS.md).
        attrs["prefer-vector-width"] = "512"
    return attrs


@functools.cache
def _kernel_attributes() -> type:
    """llvmlite function attributes that also accept LLVM string attributes ``"key"="value"``
    (made on first use: loading cached kernels does not import llvmlite.ir)."""
    import llvmlite.ir as ir

    class _KernelAttributes(ir.values.FunctionAttributes):
        def add(self, name: str) -> None:
            if name.startswith('"'):
                set.add(self, name)
            else:
                super().add(name)

    return _KernelAttributes


def set_kernel_attributes(fn: ir.Function, extra: dict[str, str] | None = None) -> None:
    """Give ``fn`` the ``function_attributes()`` (plus ``extra``), keeping its existing ones."""
    attrs = _kernel_attributes()(fn.attributes)
    attrs.alignstack = fn.attributes.alignstack
    attrs.personality = fn.attributes.personality
    for key, value in {**function_attributes(), **(extra or {})}.items():
        attrs.add(f'"{key}"="{value}"')
    fn.attributes = attrs


def _target_machine() -> llvm.TargetMachine:
    """The host target machine used for optimization and object emission."""
    return jit().target_machine


def _new_target_machine(opt: int = 3) -> llvm.TargetMachine:
    """A fresh host TargetMachine; jit=True picks the large code model, so object code can be
    relocated anywhere in the address space when a later process loads it. `opt` is the code
    generator's level: 0 for code emitted unoptimized (its fast register allocator and no
    loop analyses: the kernels' shared entry compiles in ~6 ms instead of ~20)."""
    _initialize()
    target = llvm.Target.from_triple(llvm.get_process_triple())
    return target.create_target_machine(
        cpu=host_cpu_name(),
        features=host_cpu_features(),
        opt=opt,
        reloc="default",
        codemodel="jitdefault",
        jit=True,
    )


@dataclass
class CompiledModule:
    """Machine code living in a Jit's engine; look up entry points with ``address``."""

    jit: Jit
    optimized_ir: str | None = None
    names: tuple[str, ...] = field(default=())

    def address(self, name: str) -> int:
        """The address of the function (or global) ``name``; KeyError if it is not defined."""
        if self.names and name not in self.names:
            raise KeyError(f"function {name!r} is not defined in this module; it has {self.names}")
        with self.jit.lock:
            addr = self.jit.engine.get_function_address(name)
        if not addr:
            raise KeyError(f"function {name!r} is not defined in the JIT")
        return addr

    def asm(self) -> str:
        """The host assembly of the optimized IR (for debugging)."""
        if self.optimized_ir is None:
            raise NotImplementedError("assembly is unavailable for modules loaded from objects")
        mod = llvm.parse_assembly(self.optimized_ir)
        with self.jit.lock:
            return self.jit.target_machine.emit_assembly(mod)


class Jit:
    """An MCJIT execution engine plus an O3 vectorizing pass pipeline for the host CPU."""

    def __init__(self) -> None:
        _initialize()
        self.lock = threading.RLock()
        self.target_machine = _new_target_machine()
        # The engine takes ownership of its own target machine, so it gets a separate one.
        empty = llvm.parse_assembly("")
        empty.triple = target_triple()
        self.engine = llvm.create_mcjit_compiler(empty, _new_target_machine())
        self._defined: set[str] = set()

    def _parse(self, ir_text: str) -> llvm.ModuleRef:
        """Parse and verify IR, stamping it with the host triple and data layout."""
        mod = llvm.parse_assembly(ir_text)
        mod.verify()
        mod.triple = target_triple()
        mod.data_layout = str(self.target_machine.target_data)
        return mod

    def optimize(self, mod: llvm.ModuleRef) -> llvm.ModuleRef:
        """Run the O3 pipeline with loop and SLP vectorization on ``mod`` in place."""
        with self.lock:
            pass_builder = _pass_builder(self.target_machine)
            pass_builder.getModulePassManager().run(mod, pass_builder)
        return mod

    def compile_ir(self, ir_text: str) -> CompiledModule:
        """Parse, verify, optimize and JIT-compile ``ir_text``."""
        mod = self.optimize(self._parse(ir_text))
        names = tuple(f.name for f in mod.functions if not f.is_declaration)
        optimized = str(mod)
        with self.lock:
            clash = sorted(set(names) & self._defined)
            if clash:
                raise ValueError(f"functions {clash} are already defined in this JIT")
            self.engine.add_module(mod)
            self.engine.finalize_object()
            self._defined.update(names)
        return CompiledModule(self, optimized, names)

    def emit_object(self, ir_text: str, optimize: bool = True) -> bytes:
        """The host object code of ``ir_text`` (see the module function ``emit_object``)."""
        return emit_object(ir_text, optimize)

    def load_object(self, obj: bytes) -> CompiledModule:
        """Link object code from ``emit_object`` (maybe from another process) into the engine."""
        objfile = llvm.ObjectFileRef.from_data(obj)
        with self.lock:
            self.engine.add_object_file(objfile)
            self.engine.finalize_object()
        return CompiledModule(self)


@functools.cache
def jit() -> Jit:
    """The process-wide JIT, created on first use."""
    return Jit()


def optimize(module_ref: llvm.ModuleRef) -> llvm.ModuleRef:
    """Run the O3 vectorizing pipeline of the process-wide JIT on ``module_ref`` in place."""
    return jit().optimize(module_ref)


def compile_ir(ir_text: str) -> CompiledModule:
    """Compile LLVM IR text into the process-wide JIT."""
    return jit().compile_ir(ir_text)


def _pass_builder(tm: llvm.TargetMachine) -> llvm.PassBuilder:
    """The O3 pipeline with loop and SLP vectorization. A module pass manager cannot be run
    twice in llvmlite 0.50 (it asserts), so each module gets a fresh one (well under 1 ms)."""
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    return llvm.create_pass_builder(tm, pto)


def _unlocked(name: str):
    """llvmlite's C function ``name`` without the process-wide lock llvmlite takes around every
    call: ctypes releases the GIL, but that lock alone would run two threads' compiles one
    after the other. Only for objects no other thread touches (a module in a context of its
    own, a borrowed target machine); LLVM keeps no shared mutable state between contexts."""
    fn = getattr(ffi.lib, name)
    return getattr(fn, "_cfn", fn)  # _cfn: the raw ctypes function under llvmlite's wrapper


_FREE_MACHINES: dict[int, list[llvm.TargetMachine]] = {0: [], 3: []}  # by codegen level
_MACHINES_LOCK = threading.Lock()


def _borrow_machine(opt: int = 3) -> llvm.TargetMachine:
    """A target machine no other thread uses until it is returned (created on demand, ~1 ms)."""
    with _MACHINES_LOCK:
        if _FREE_MACHINES[opt]:
            return _FREE_MACHINES[opt].pop()
    return _new_target_machine(opt)


def _return_machine(tm: llvm.TargetMachine, opt: int = 3) -> None:
    with _MACHINES_LOCK:
        _FREE_MACHINES[opt].append(tm)


def _object_code(tm: llvm.TargetMachine, mod: llvm.ModuleRef) -> bytes:
    """``tm.emit_object(mod)``, outside llvmlite's lock."""
    with ffi.OutputString() as err:
        buf = _unlocked("LLVMPY_TargetMachineEmitToMemory")(tm, mod, 1, err)
        if not buf:
            raise RuntimeError(str(err))
    try:
        start, size = ffi.lib.LLVMPY_GetBufferStart(buf), ffi.lib.LLVMPY_GetBufferSize(buf)
        return ctypes.string_at(start, size)
    finally:
        ffi.lib.LLVMPY_DisposeMemoryBuffer(buf)


def _compile(tm: llvm.TargetMachine, ir_text: str, optimize: bool) -> bytes:
    """Parse, verify, optimize and codegen ``ir_text`` on ``tm``. The pass manager, the module
    and its context are disposed here, in that order, on this thread, also when a step
    raises: left to the garbage collector (a traceback holding them), they would be finalized
    in any order (a context before its module) on whichever thread collects."""
    owned: list = [llvm.create_context()]
    try:
        mod = llvm.parse_assembly(ir_text, context=owned[0])
        owned.append(mod)
        mod.verify()
        mod.triple = target_triple()
        mod.data_layout = str(tm.target_data)
        if optimize:
            pass_builder = _pass_builder(tm)
            manager = pass_builder.getModulePassManager()
            owned += [pass_builder, manager]
            _unlocked("LLVMPY_RunNewModulePassManager")(manager, mod, pass_builder)
        return _object_code(tm, mod)
    finally:
        for obj in reversed(owned):
            obj.close()


def emit_object(ir_text: str, optimize: bool = True) -> bytes:
    """Host object code for ``ir_text`` (optimized unless told otherwise), loadable later with
    ``load_object``. Thread-safe, and threads compile in parallel (see the module docstring)."""
    _initialize()
    level = 3 if optimize else 0
    tm = _borrow_machine(level)
    try:
        return _compile(tm, ir_text, optimize)
    finally:
        _return_machine(tm, level)


def load_object(obj: bytes) -> CompiledModule:
    """Load object code from ``emit_object`` into the process-wide JIT."""
    return jit().load_object(obj)
