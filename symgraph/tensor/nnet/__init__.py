"""symgraph.tensor.nnet: neural-network ops at Theano's path (T.nnet.softmax, ...)."""

from symgraph.ops.nnet import *  # noqa: F403
from symgraph.ops.nnet import __all__ as _ops_all
from symgraph.tensor.nnet import nnet

__all__ = [*_ops_all, "nnet"]
