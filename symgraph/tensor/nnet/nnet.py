"""symgraph.tensor.nnet.nnet: Theano's module path for the neural-network ops (a re-export)."""

from symgraph.ops.nnet import *  # noqa: F403
from symgraph.ops.nnet import __all__  # noqa: F401
from symgraph.ops.metrics import confusion_matrix  # noqa: F401, E402
