"""symgraph.tensor.nnet.abstract_conv: Theano's module path for the 2-d convolution ops."""

from symgraph.ops.conv import AbstractConv2d, conv2d, get_conv_output_shape
from symgraph.ops.conv_grad import (
    AbstractConv2d_gradInputs,
    AbstractConv2d_gradWeights,
    conv2d_grad_wrt_inputs,
    conv2d_grad_wrt_weights,
    conv2d_transpose,
)

__all__ = [
    "AbstractConv2d",
    "AbstractConv2d_gradInputs",
    "AbstractConv2d_gradWeights",
    "conv2d",
    "conv2d_grad_wrt_inputs",
    "conv2d_grad_wrt_weights",
    "conv2d_transpose",
    "get_conv_output_shape",
]
