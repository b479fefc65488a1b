"""symgraph.tensor: the numpy-like namespace at Theano's path (a facade over symgraph.ops)."""

from symgraph.constructors import *  # noqa: F403
from symgraph.constructors import tensor
from symgraph.gradient import Lop, Rop, grad, hessian, jacobian
from symgraph.ops.advanced import (
    AdvancedIncSubtensor, AdvancedIncSubtensor1, AdvancedSubtensor, AdvancedSubtensor1, take,
)
from symgraph.ops.alloc import (
    Alloc, ARange, Eye, Repeat, Tri, alloc, arange, eye, full, identity_like, ones, repeat, tile,
    tri, tril, triu, zeros,
)
from symgraph.ops.blas import BatchedDot, Dot, batched_dot, dot, matmul, outer
from symgraph.ops.gemm import Gemm, Gemv, Ger
from symgraph.ops.join import (
    Join, MakeVector, Split, concatenate, horizontal_stack, join, split, stack, vertical_stack,
)
from symgraph.ops.linalg import batched_tensordot, tensordot
from symgraph.ops.math import *  # noqa: F403
from symgraph.ops.math import (
    abs, all, any, max, min, pow, round, sum,  # noqa: A004 - numpy-like names, as in Theano
)
from symgraph.ops.shape import (
    Rebroadcast, Reshape, Shape, Shape_i, addbroadcast, dimshuffle, expand_dims, flatten, moveaxis,
    patternbroadcast, reshape, shape, shape_i, shape_padaxis, shape_padleft, shape_padright,
    specify_shape, squeeze, swapaxes, transpose, unbroadcast,
)
from symgraph.ops.subtensor import IncSubtensor, Subtensor, inc_subtensor, set_subtensor
from symgraph.types import TensorType
from symgraph.variable import (
    TensorConstant, TensorVariable, as_tensor, as_tensor_variable, constant,
)

from symgraph.tensor import nnet  # noqa: E402  (needs the names above)
from symgraph.tensor import blas, nlinalg, random, shared_randomstreams  # noqa: E402

__all__ = [name for name in dir() if not name.startswith("_")]
