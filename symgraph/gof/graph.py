"""symgraph.gof.graph: Theano's path of the graph functions (``inputs`` is graph_inputs)."""

from symgraph.graph import (
    Apply,
    Constant,
    Variable,
    ancestors,
    clone,
    equal_computations,
    is_same_graph,
    toposort,
)
from symgraph.graph import graph_inputs as inputs

__all__ = ["Apply", "Constant", "Variable", "ancestors", "clone", "equal_computations",
           "inputs", "is_same_graph", "toposort"]
