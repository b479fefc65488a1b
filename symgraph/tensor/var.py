"""symgraph.tensor.var: the variable classes at Theano's path (a facade)."""

from symgraph.graph import Constant, Variable
from symgraph.shared import SharedVariable
from symgraph.variable import TensorConstant, TensorVariable, as_tensor_variable

TensorSharedVariable = SharedVariable  # one shared class serves every tensor type

__all__ = ["Constant", "SharedVariable", "TensorConstant", "TensorSharedVariable",
           "TensorVariable", "Variable", "as_tensor_variable"]
