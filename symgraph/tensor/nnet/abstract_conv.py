"""symgraph.tensor.nnet.abstract_conv: Theano's module path for the 2-d convolution ops and
bilinear upsampling."""

from symgraph.ops.conv import AbstractConv2d, conv2d, get_conv_output_shape
from symgraph.ops.conv3d import conv3d
from symgraph.ops.conv_variants import causal_conv1d, separable_conv2d
from symgraph.ops.conv_grad import (
    AbstractConv2d_gradInputs,
    AbstractConv2d_gradWeights,
    conv2d_grad_wrt_inputs,
    conv2d_grad_wrt_weights,
    conv2d_transpose,
)
from symgraph.ops.upsample import bilinear_kernel_1D, bilinear_kernel_2D, bilinear_upsampling

__all__ = [
    "bilinear_kernel_1D",
    "bilinear_kernel_2D",
    "bilinear_upsampling",
    "AbstractConv2d",
    "AbstractConv2d_gradInputs",
    "AbstractConv2d_gradWeights",
    "causal_conv1d",
    "conv2d",
    "conv3d",
    "conv2d_grad_wrt_inputs",
    "conv2d_grad_wrt_weights",
    "conv2d_transpose",
    "get_conv_output_shape",
    "separable_conv2d",
]
