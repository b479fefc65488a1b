"""Compilation modes at Theano's paths (symgraph.compile.mode.Mode, get_default_mode ...).

The check modes: ``DebugMode`` (symgraph.compile.debugmode), ``NanGuardMode``
(symgraph.compile.nanguardmode) and ``MonitorMode`` (symgraph.compile.monitormode).
"""

from symgraph.compile.debugmode import DebugMode
from symgraph.compile.mode import FAST_COMPILE, FAST_RUN, Mode, get_default_mode, get_mode
from symgraph.compile.monitormode import MonitorMode
from symgraph.compile.nanguardmode import NanGuardMode

__all__ = ["FAST_COMPILE", "FAST_RUN", "Mode", "get_default_mode", "get_mode", "DebugMode",
           "MonitorMode", "NanGuardMode"]
