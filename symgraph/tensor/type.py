"""symgraph.tensor.type: TensorType at Theano's path (a facade over symgraph.types)."""

from symgraph.types import TensorType

__all__ = ["TensorType"]
