"""Configuration flags, read once from ``SYMGRAPH_FLAGS`` (Theano's ``THEANO_FLAGS`` spelling).

``SYMGRAPH_FLAGS="floatX=float32,device=cpu,mode=FAST_RUN"``; a bare name such as
``print_rewrites`` sets a boolean flag to True.

A ported program's ``THEANO_FLAGS`` is read first (SYMGRAPH_FLAGS wins where both set a flag),
so that its run scripts keep working: Theano's ``device=gpu``, ``gpu0`` or ``cuda0`` mean
``cuda``, and flags symgraph does not have (``lib.cnmem``, ``dnn.enabled`` ...) are ignored
with one warning that names them; a bad value of a known flag is an error, as here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path


def _default_compiledir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "symgraph")


_CHOICES = {
    "floatX": ("float64", "float32", "float16"),
    "device": ("cpu", "cuda"),
    "on_unused_input": ("raise", "warn", "ignore"),
    "warn_float64": ("ignore", "warn", "raise"),
    "exception_verbosity": ("low", "high"),
    "on_opt_error": ("warn", "raise", "ignore"),
    "blas": ("auto", "mkl", "numpy"),
}


@dataclass
class Config:
    floatX: str = "float64"
    device: str = "cpu"
    mode: str = "FAST_RUN"
    compiledir: str = field(default_factory=_default_compiledir)
    on_unused_input: str = "raise"
    print_rewrites: bool = False
    compute_test_value: str = "off"
    cast_policy: str = "custom"
    # With mode 'Mode' (or left unset): the rewrites and the backend of the default mode,
    # spelled as Theano's flags (optimizer=None|fast_compile|fast_run, linker=py|cvm|...).
    optimizer: str | None = None
    linker: str | None = None
    profile: bool = False  # profile every function (as function(..., profile=True))
    warn_float64: str = "ignore"  # what a compiled graph holding a float64 variable does
    # keep each function's rewritten graph in compiledir (compile/function_cache.py), so that
    # compiling the same graph again skips the rewrites
    function_cache: bool = True
    # the BLAS of compiled products (codegen/cblas.py): "auto" takes MKL on an Intel CPU where
    # PyPI's mkl package is installed (a dependency on x86-64 Linux), else numpy's
    # OpenBLAS; "mkl" / "numpy" name one
    blas: str = "auto"
    # Theano flags accepted so that scripts setting them run; they change nothing here
    # (buffers are always reused, threads are the driver's, errors always name the node).
    exception_verbosity: str = "low"
    allow_gc: bool = True
    openmp: bool = False
    on_opt_error: str = "warn"
    deterministic: str = "default"

    def __setattr__(self, name: str, value) -> None:
        if name not in {f.name for f in fields(Config)}:
            raise AttributeError(f"symgraph.config has no flag {name!r}")
        allowed = _CHOICES.get(name)
        if allowed is not None and value not in allowed:
            raise ValueError(f"config.{name} must be one of {allowed}, got {value!r}")
        object.__setattr__(self, name, value)

    @property
    def compiledir_path(self) -> Path:
        return Path(self.compiledir)


def _parse_flags(text: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep:
            out[name] = True
        elif value.lower() in ("true", "false"):
            out[name] = value.lower() == "true"
        else:
            out[name] = value
    return out


def _theano_flags(text: str) -> dict[str, object]:
    """THEANO_FLAGS as symgraph's flags: devices renamed, unknown flags dropped (warned)."""
    known = {f.name for f in fields(Config)}
    flags, ignored = {}, []
    for name, value in _parse_flags(text).items():
        if name == "device" and isinstance(value, str) and value.startswith(("gpu", "cuda")):
            value = "cuda"
        if name in known:
            flags[name] = value
        else:
            ignored.append(name)
    if ignored:
        import warnings

        warnings.warn(f"THEANO_FLAGS: symgraph has no flag {', '.join(map(repr, ignored))}; "
                      "ignored (symgraph reads THEANO_FLAGS, then SYMGRAPH_FLAGS)", stacklevel=2)
    return flags


def _load() -> Config:
    cfg = Config()
    flags = _theano_flags(os.environ.get("THEANO_FLAGS", ""))
    flags.update(_parse_flags(os.environ.get("SYMGRAPH_FLAGS", "")))
    for name, value in flags.items():
        setattr(cfg, name, value)
    return cfg


config = _load()


class change_flags:  # noqa: N801 - Theano's name
    """Set flags of `config` for the duration of a ``with`` block or of a decorated function.

    Examples
    --------
    >>> from symgraph.config import config, change_flags
    >>> with change_flags(floatX="float32"):
    ...     config.floatX
    'float32'
    """

    def __init__(self, args=(), **kwargs):
        self.changes = {**dict(args), **kwargs}
        self._saved: list[dict] = []

    def __enter__(self):
        self._saved.append({name: getattr(config, name) for name in self.changes})
        for name, value in self.changes.items():
            setattr(config, name, value)
        return self

    def __exit__(self, *exc):
        for name, value in self._saved.pop().items():
            setattr(config, name, value)
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)

        return wrapper
