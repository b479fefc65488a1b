"""symgraph.compile.sharedvalue: Theano's path of SharedVariable and shared()."""

from symgraph.shared import SharedVariable, shared

__all__ = ["SharedVariable", "shared"]
