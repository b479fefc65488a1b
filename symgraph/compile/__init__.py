"""Compilation modes at Theano's paths (symgraph.compile.mode.Mode, get_default_mode ...).

The check modes: ``DebugMode`` (symgraph.compile.debugmode), ``NanGuardMode``
(symgraph.compile.nanguardmode) and ``MonitorMode`` (symgraph.compile.monitormode).
"""

from symgraph.compile.debugmode import DebugMode
from symgraph.compile.mode import FAST_COMPILE, FAST_RUN, Mode, get_default_mode, get_mode
from symgraph.compile.monitormode import MonitorMode
from symgraph.compile.nanguardmode import NanGuardMode

# theano.compile's other names, loaded on first use: symgraph.function imports this package
_LAZY = {
    "function": ("symgraph.function", "function"),
    "In": ("symgraph.function", "In"),
    "Out": ("symgraph.function", "Out"),
    "shared": ("symgraph.shared", "shared"),
    "SharedVariable": ("symgraph.shared", "SharedVariable"),
    "ProfileStats": ("symgraph.compile.profiling", "ProfileStats"),
    "as_op": ("symgraph.compile.ops", "as_op"),
    "ops": ("symgraph.compile.ops", None),
    "sharedvalue": ("symgraph.compile.sharedvalue", None),
}


def __getattr__(name: str):
    found = _LAZY.get(name)
    if found is None:
        raise AttributeError(f"module 'symgraph.compile' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(found[0])
    return module if found[1] is None else getattr(module, found[1])


__all__ = ["FAST_COMPILE", "FAST_RUN", "Mode", "get_default_mode", "get_mode", "DebugMode",
           "MonitorMode", "NanGuardMode"]
