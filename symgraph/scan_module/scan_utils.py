"""symgraph.scan_module.scan_utils: Theano's path of equal_computations."""

from symgraph.graph import equal_computations

__all__ = ["equal_computations"]
