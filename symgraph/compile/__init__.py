"""Compilation modes at Theano's paths (symgraph.compile.mode.Mode, get_default_mode ...).

The check modes: ``DebugMode`` (symgraph.compile.debugmode), ``NanGuardMode``
(symgraph.compile.nanguardmode) and ``MonitorMode`` (symgraph.compile.monitormode).
"""

from symgraph.compile.debugmode import DebugMode
from symgraph.compile.mode import FAST_COMPILE, FAST_RUN, Mode, get_default_mode, get_mode
from symgraph.compile.monitormode import MonitorMode
from symgraph.compile.nanguardmode import NanGuardMode


def __getattr__(name: str):
    # theano.compile.function / theano.compile.shared: loaded on first use, since
    # symgraph.function imports this package
    if name == "function":
        from symgraph.function import function

        return function
    if name == "shared":
        from symgraph.shared import shared

        return shared
    if name == "ops":
        import importlib

        return importlib.import_module("symgraph.compile.ops")
    raise AttributeError(f"module 'symgraph.compile' has no attribute {name!r}")


__all__ = ["FAST_COMPILE", "FAST_RUN", "Mode", "get_default_mode", "get_mode", "DebugMode",
           "MonitorMode", "NanGuardMode"]
