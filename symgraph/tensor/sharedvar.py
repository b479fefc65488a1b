"""symgraph.tensor.sharedvar: the shared variable class and constructor at Theano's path."""

from symgraph.shared import SharedVariable, shared

TensorSharedVariable = SharedVariable  # one shared class serves every tensor type
tensor_constructor = shared

__all__ = ["SharedVariable", "TensorSharedVariable", "shared", "tensor_constructor"]
