"""Compilation modes at Theano's paths (symgraph.compile.mode.Mode, get_default_mode ...)."""

from symgraph.compile.mode import FAST_COMPILE, FAST_RUN, Mode, get_default_mode, get_mode

__all__ = ["FAST_COMPILE", "FAST_RUN", "Mode", "get_default_mode", "get_mode"]
