"""symgraph.tensor: the numpy-like namespace at Theano's path (a facade over symgraph.ops)."""

from symgraph.constructors import *  # noqa: F403
from symgraph.constructors import tensor
from symgraph.gradient import (
    Lop, Rop, consider_constant, grad, hessian, jacobian, numeric_grad, verify_grad,
)
from symgraph.ops.constant_value import (
    NotScalarConstantError, extract_constant, get_scalar_constant_value,
)
from symgraph.ops.elemwise import DimShuffle, Elemwise
from symgraph.ops.reduce import CAReduce
from symgraph.shared import SharedVariable as TensorSharedVariable
from symgraph.types import (
    ALL_DTYPES as all_dtypes, COMPLEX_DTYPES as complex_dtypes,
    CONTINUOUS_DTYPES as continuous_dtypes, DISCRETE_DTYPES as discrete_dtypes,
    FLOAT_DTYPES as float_dtypes, INT_DTYPES as int_dtypes, UINT_DTYPES as uint_dtypes,
)
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

from symgraph.ops.diag import diag, diagonal, trace
from symgraph.ops.extra_ops import (
    bartlett, bincount, compress, cumprod, cumsum, diff, fill_diagonal, fill_diagonal_offset,
    searchsorted, to_one_hot, unique,
)
from symgraph.ops.numeric import (
    allclose, choose, deg2rad, flatnonzero, gamma, inv, isclose, largest, mgrid, nonzero,
    nonzero_values, norm, ogrid, ptp, rad2deg, reciprocal, roll, smallest, stacklists,
)
from symgraph.ops.math import pow as power  # noqa: E402

from symgraph.tensor import nnet  # noqa: E402  (needs the names above)
from symgraph.tensor import blas, nlinalg, random, shared_randomstreams  # noqa: E402
from symgraph.tensor import extra_ops, slinalg, type  # noqa: E402, A004
from symgraph.tensor import elemwise, fft, sharedvar, signal  # noqa: E402

# Theano's names that are both a submodule and a function (var, sort): the submodules are
# loaded now, since loading one later would rebind the name to the module; then the functions
# are bound again (``from symgraph.tensor.sort import argsort`` still reads the module)
_importlib = __import__("importlib")
_importlib.import_module("symgraph.tensor.var")
_importlib.import_module("symgraph.tensor.sort")
from symgraph.ops.math import var  # noqa: E402, F811
from symgraph.ops.sort import argsort, sort, take_along_axis  # noqa: E402, F811
from symgraph.tensor import basic  # noqa: E402  (last: it copies the names above)

# not `type`: a star import would hide the builtin
__all__ = [name for name in dir() if not name.startswith("_") and name != "type"]
