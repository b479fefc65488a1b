"""Modes: which rewrite passes run and which backend compiles (Theano's Mode, at its path)."""

from __future__ import annotations

from symgraph.config import config
from symgraph.opt import pipeline

# Theano linker names -> symgraph backends ('native' is the best CPU backend available).
LINKERS = {
    "py": "python",
    "python": "python",
    "vm": "native",
    "vm_nogc": "native",
    "cvm": "native",
    "cvm_nogc": "native",
    "c": "native",
    "c|py": "native",
    "c|py_nogc": "native",
    "llvm": "llvm",
    "cuda": "cuda",
    None: "native",
}

OPTIMIZERS = {
    None: "none",
    "None": "none",
    "none": "none",
    "fast_compile": "fast_compile",
    "fast_run": "fast_run",
    "default": "fast_run",
    "o4": "fast_run",
}


def native_backend() -> str:
    """The default compiled backend for this machine ('python' until a native one registers)."""
    from symgraph.codegen import BACKENDS

    if config.device == "cuda":
        return "cuda"
    return "llvm" if "llvm" in BACKENDS else "python"


_BLAS_BACKENDS = ("llvm", "c")  # the backends whose products call codegen/cblas.py's library
# Passes a backend does without: CUDA runs softmax and the fused crossentropy with kernels
# of its own, which the expand pass would take apart.
_BACKEND_EXCLUDES = {"cuda": ("expand",)}


class Mode:
    """How a function is compiled: a set of rewrite passes and a backend.

    Parameters
    ----------
    linker : Theano linker name ('py', 'cvm', 'c|py', 'vm') or a backend name ('python',
        'llvm', 'c', 'cuda').
    optimizer : None (no rewrites), 'fast_compile' (merge and constant folding) or 'fast_run'.
    backend : a backend name; overrides `linker`.
    """

    def __init__(
        self,
        linker=None,
        optimizer="fast_run",
        backend: str | None = None,
        including=(),
        excluding=(),
    ):
        if backend is None:
            if linker not in LINKERS:
                raise ValueError(
                    f"unknown linker {linker!r}; use one of {sorted(map(str, LINKERS))}"
                )
            backend = LINKERS[linker]
        if optimizer not in OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {optimizer!r}; use None, 'fast_compile' or 'fast_run'"
            )
        self.linker = linker
        self.optimizer = OPTIMIZERS[optimizer]
        self.backend_name = backend
        self.included = _passes_of(_names(including))
        self.excluded = _passes_of(_names(excluding))

    @property
    def backend(self) -> str:
        return native_backend() if self.backend_name == "native" else self.backend_name

    def pass_names(self) -> list[str]:
        if self.optimizer == "none":
            base: list[str] = []
        elif self.optimizer == "fast_compile":
            base = list(pipeline.FAST_COMPILE_PASSES)
        else:
            base = pipeline.pass_names()
        excluded = self.excluded + _BACKEND_EXCLUDES.get(self.backend, ())
        names = [n for n in base if n not in excluded]
        return names + [n for n in self.included if n not in names and n not in excluded]

    def optimize(self, fg):
        """Run this mode's rewrite passes on `fg`, in pipeline order (FunctionMaker calls it)."""
        return pipeline.optimize(fg, self.pass_names())

    def prepare(self, outputs) -> None:
        """Start loading, on another thread, what compiling `outputs` will need: the BLAS
        library, for a CPU backend and a graph with a product (its load overlaps the rewrites
        and the graph's lookup in the cache)."""
        if self.backend not in _BLAS_BACKENDS:
            return
        from symgraph.graph import ancestors
        from symgraph.ops.blas import BatchedDot, Dot
        from symgraph.ops.conv import ConvParams

        products = (Dot, BatchedDot, ConvParams)  # what codegen/blas_calls.py and conv run
        if any(v.owner and isinstance(v.owner.op, products) for v in ancestors(outputs)):
            from symgraph.codegen import cblas

            cblas.load_in_background()

    def link(self, fg, name: str | None = None, profile=None):
        """Compile the rewritten `fg` with this mode's backend into a program."""
        from symgraph.codegen import get_backend

        return get_backend(self.backend).compile(fg, name=name, profile=profile)

    def _clone(self, **changes) -> Mode:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new

    def including(self, *names: str) -> Mode:
        """A copy of this mode that also runs the passes `names` (Theano's tags and rewrite
        names are translated to passes; those with no counterpart here change nothing)."""
        return self._clone(included=self.included + _passes_of(names))

    def excluding(self, *names: str) -> Mode:
        """A copy of this mode without the passes `names` (Theano's names as in `including`)."""
        return self._clone(excluded=self.excluded + _passes_of(names))

    def requiring(self, *names: str) -> Mode:
        return self.including(*names)

    def __str__(self) -> str:
        return f"Mode(backend={self.backend!r}, optimizer={self.optimizer!r})"

    __repr__ = __str__


# Theano's optimizer tags and best-known rewrite names -> the passes that do their job here.
# Other Theano names (GPU, cuDNN, BLAS, single local rewrites: _THEANO_PREFIXES) select
# nothing, as in Theano; any other name is taken for a typo and refused.
_THEANO_TAGS = {
    "fast_run": tuple(pipeline.pass_names()),
    "fast_compile": pipeline.FAST_COMPILE_PASSES,
    "constant_folding": ("constant_fold",),
    "topo_constant_folding": ("constant_fold",),
    "merge1": ("merge",),
    "merge2": ("merge",),
    "local_elemwise_fusion": ("fusion",),
    "elemwise_fusion": ("fusion",),
    "composite_elemwise_fusion": ("fusion",),
    "inplace_opt": ("inplace",),
    "inplace_elemwise_opt": ("inplace",),
    "scan_eqopt1": ("scan",),
    "scan_eqopt2": ("scan",),
    "scanOp_pushout_output": ("scan",),
    "scanOp_pushout_nonseqs_ops": ("scan",),
    "scanOp_pushout_seqs_ops": ("scan",),
}


# prefixes of Theano's other optimizer tags and rewrite names (they select nothing here)
_THEANO_PREFIXES = ("local_", "gpu", "cudnn", "dnn", "conv", "cuda", "blas", "BlasOpt", "cxx",
                    "scan", "inplace", "fusion", "merge", "canonicalize", "stabilize",
                    "specialize", "uncanonicalize", "shape", "ShapeOpt", "unsafe",
                    "crossentropy", "softmax", "useless", "add_destroy_handler", "alloc",
                    "elemwise", "constant", "numerics", "opt", "abstract", "fast_")


def _names(names) -> tuple:
    return (names,) if isinstance(names, str) else tuple(names)


def _passes_of(names) -> tuple:
    known = pipeline.pass_names()
    out: list[str] = []
    for name in names:
        if name in known or (name not in _THEANO_TAGS and not name.startswith(_THEANO_PREFIXES)):
            out.append(name)  # a pass here, or a typo: optimize() names the known passes
        else:
            out += _THEANO_TAGS.get(name, ())
    return tuple(out)


class ReferenceMode(Mode):
    """A Mode whose functions run node by node on the python reference backend, whatever the
    linker says: the base of the modes that inspect every node (DebugMode, NanGuardMode,
    MonitorMode)."""

    def __init__(self, optimizer="fast_run", linker=None, including=(), excluding=()):
        super().__init__(optimizer=optimizer, backend="python", including=including,
                         excluding=excluding)


FAST_RUN = Mode(optimizer="fast_run")
FAST_COMPILE = Mode(linker="py", optimizer="fast_compile")
PRESETS: dict[str, Mode] = {"FAST_RUN": FAST_RUN, "FAST_COMPILE": FAST_COMPILE}


def _debug_mode() -> Mode:
    from symgraph.compile.debugmode import DebugMode

    return DebugMode()


def _nan_guard_mode() -> Mode:
    from symgraph.compile.nanguardmode import NanGuardMode

    return NanGuardMode(nan_is_error=True, inf_is_error=True, big_is_error=True)


# mode names (as in Theano) whose classes import this module: built on first use
CHECK_MODES = {"DebugMode": _debug_mode, "DEBUG_MODE": _debug_mode,
               "NanGuardMode": _nan_guard_mode}


def get_mode(mode) -> Mode:
    """A Mode from None (config.mode), a preset name ('FAST_RUN', 'FAST_COMPILE') or a Mode."""
    if mode is None:
        mode = config.mode
        if config.optimizer is not None or config.linker is not None or mode == "Mode":
            preset = PRESETS.get(mode, FAST_RUN)
            optimizer = config.optimizer if config.optimizer is not None else preset.optimizer
            return Mode(linker=config.linker or preset.linker, optimizer=optimizer)
    if isinstance(mode, Mode):
        return mode
    if isinstance(mode, str):
        if mode == "Mode":
            return FAST_RUN
        if mode in PRESETS:
            return PRESETS[mode]
        if mode in CHECK_MODES:
            return CHECK_MODES[mode]()
        if mode in LINKERS:
            return Mode(linker=mode)
        from symgraph.codegen import BACKENDS

        if mode in BACKENDS:
            return Mode(backend=mode)
    raise ValueError(
        f"unknown mode {mode!r}; use a Mode or one of {sorted(PRESETS) + sorted(CHECK_MODES)}"
    )


def get_default_mode() -> Mode:
    return get_mode(None)
