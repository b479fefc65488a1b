"""symgraph.gof: Theano's path of the graph core (theano.gof.Variable, theano.gof.graph ...)."""

from symgraph.fgraph import FunctionGraph, MissingInputError
from symgraph.gof import graph
from symgraph.graph import Apply, Constant, Op, Variable

__all__ = ["Apply", "Constant", "FunctionGraph", "MissingInputError", "Op", "Variable", "graph"]
