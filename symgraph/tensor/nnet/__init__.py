"""symgraph.tensor.nnet: neural-network ops at Theano's path (T.nnet.softmax, ...)."""

from symgraph.ops.nnet import *  # noqa: F403
from symgraph.ops.nnet import __all__ as _ops_all
from symgraph.tensor.nnet import nnet
from symgraph.tensor.nnet import abstract_conv, bn, conv, conv3d2d, ctc, neighbours
from symgraph.tensor.nnet.abstract_conv import conv2d, conv2d_transpose
from symgraph.tensor.nnet.neighbours import images2neibs, neibs2images
from symgraph.ops.conv3d import conv3d
from symgraph.ops.conv_variants import separable_conv2d
from symgraph.ops.h_softmax import h_softmax
from symgraph.ops.metrics import confusion_matrix

__all__ = [*_ops_all, "nnet", "abstract_conv", "bn", "conv", "conv3d2d", "ctc", "neighbours",
           "conv2d", "conv2d_transpose", "images2neibs", "neibs2images", "confusion_matrix",
           "conv3d", "separable_conv2d", "h_softmax"]
