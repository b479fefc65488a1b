"""symgraph.tensor.nnet: neural-network ops at Theano's path."""

from symgraph.ops.math import sigmoid, softplus

__all__ = ["sigmoid", "softplus"]
