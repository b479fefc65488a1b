"""symgraph.tensor: the numpy-like namespace at Theano's path (a facade over symgraph.ops)."""

from symgraph.constructors import *  # noqa: F403
from symgraph.constructors import tensor
from symgraph.gradient import Lop, Rop, grad, hessian, jacobian
from symgraph.ops.math import *  # noqa: F403
from symgraph.ops.math import (
    abs, all, any, max, min, pow, round, sum,  # noqa: A004 - numpy-like names, as in Theano
)
from symgraph.ops.shape import Shape, Shape_i, dimshuffle, shape, shape_i, specify_shape, transpose
from symgraph.types import TensorType
from symgraph.variable import TensorConstant, TensorVariable, as_tensor, as_tensor_variable, constant

from symgraph.tensor import nnet  # noqa: E402  (needs the names above)

__all__ = [name for name in dir() if not name.startswith("_")]
