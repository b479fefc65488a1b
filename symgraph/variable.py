"""TensorVariable sugar (operators, .T, .shape, [], methods), constants and as_tensor_variable."""

from __future__ import annotations

from typing import Any

import numpy as np

from symgraph.config import config
from symgraph.graph import Constant, Variable
from symgraph.types import TensorType, normalize_dtype


def _m():
    from symgraph.ops import math

    return math


def _s():
    from symgraph.ops import shape

    return shape


class _TensorOps:
    """Operators and numpy-like methods of tensor variables, constants and shared variables."""

    type: TensorType

    # numpy defers to the variable's reflected operators: ``ndarray * x`` and
    # ``np.float64(2) * x`` are symbolic (Theano's __array_priority__), never an object array
    __array_ufunc__ = None
    __array_priority__ = 1000

    # --- type views ---
    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def ndim(self) -> int:
        return self.type.ndim

    @property
    def broadcastable(self) -> tuple[bool, ...]:
        return self.type.broadcastable

    @property
    def shape(self):
        return _s().shape(self)

    @property
    def size(self):
        return _m().prod(self.shape)

    @property
    def T(self):
        return _s().transpose(self)

    # --- arithmetic ---
    def __add__(self, other):
        return _m().add(self, other)

    def __radd__(self, other):
        return _m().add(other, self)

    def __sub__(self, other):
        return _m().sub(self, other)

    def __rsub__(self, other):
        return _m().sub(other, self)

    def __mul__(self, other):
        return _m().mul(self, other)

    def __rmul__(self, other):
        return _m().mul(other, self)

    def __truediv__(self, other):
        return _m().true_div(self, other)

    def __rtruediv__(self, other):
        return _m().true_div(other, self)

    def __floordiv__(self, other):
        return _m().int_div(self, other)

    def __rfloordiv__(self, other):
        return _m().int_div(other, self)

    def __mod__(self, other):
        return _m().mod(self, other)

    def __rmod__(self, other):
        return _m().mod(other, self)

    def __pow__(self, other):
        return _m().pow(self, other)

    def __rpow__(self, other):
        return _m().pow(other, self)

    def __neg__(self):
        return _m().neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _m().abs(self)

    def __matmul__(self, other):
        from symgraph.ops import blas

        return blas.matmul(self, other)

    def __rmatmul__(self, other):
        from symgraph.ops import blas

        return blas.matmul(other, self)

    # comparisons are elementwise, as in Theano; == stays identity so variables can be dict keys
    def __lt__(self, other):
        return _m().lt(self, other)

    def __le__(self, other):
        return _m().le(self, other)

    def __gt__(self, other):
        return _m().gt(self, other)

    def __ge__(self, other):
        return _m().ge(self, other)

    def __and__(self, other):
        return _m().and_(self, other)

    def __rand__(self, other):
        return _m().and_(other, self)

    def __or__(self, other):
        return _m().or_(self, other)

    def __ror__(self, other):
        return _m().or_(other, self)

    def __xor__(self, other):
        return _m().xor(self, other)

    def __rxor__(self, other):
        return _m().xor(other, self)

    def __invert__(self):
        return _m().invert(self)

    def __bool__(self):
        raise TypeError(
            f"symbolic variable {self}{self.where()} has no truth value; use T.switch or "
            "symgraph.ifelse for conditionals, and T.eq / T.neq for comparisons."
        )

    def __iter__(self):
        n = self._static_length()
        if n is not None:  # a vector of known length, e.g. x.shape: `rows, cols = x.shape`
            return (self[i] for i in range(n))
        raise TypeError(
            f"symbolic variable {self}{self.where()} is not iterable: its length is only known "
            "at run time. Index it (x[i]) or use symgraph.scan."
        )

    def __len__(self):
        n = self._static_length()
        if n is None:
            raise TypeError(f"symbolic variable {self} has no len(); use x.shape[0]")
        return n

    def _static_length(self) -> int | None:
        """The length of a vector whose length the graph knows (Theano's get_vector_length)."""
        return self.type.shape[0] if self.ndim == 1 else None

    # --- indexing ---
    def __getitem__(self, index):
        from symgraph.ops import subtensor

        return subtensor.getitem(self, index)

    # --- methods ---
    def dimshuffle(self, *pattern):
        if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
            pattern = tuple(pattern[0])
        return _s().dimshuffle(self, pattern)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
            axes = tuple(axes[0])
        return _s().transpose(self, axes or None)

    def reshape(self, shape, *rest, ndim=None):
        if rest:
            shape = (shape,) + rest
        return _s().reshape(self, shape, ndim=ndim)

    def flatten(self, ndim=1):
        return _s().flatten(self, ndim)

    def ravel(self):
        return _s().flatten(self, 1)

    def squeeze(self, axis=None):
        return _s().squeeze(self, axis)

    def astype(self, dtype):
        return _m().cast(self, dtype)

    def sum(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        return _m().sum(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def prod(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        return _m().prod(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def mean(self, axis=None, dtype=None, keepdims=False, acc_dtype=None):
        return _m().mean(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def var(self, axis=None, ddof=0, keepdims=False):
        return _m().var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, ddof=0, keepdims=False):
        return _m().std(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return _m().max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return _m().min(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None, keepdims=False):
        return _m().argmax(self, axis=axis, keepdims=keepdims)

    def argmin(self, axis=None, keepdims=False):
        return _m().argmin(self, axis=axis, keepdims=keepdims)

    def any(self, axis=None, keepdims=False):
        return _m().any(self, axis=axis, keepdims=keepdims)

    def all(self, axis=None, keepdims=False):
        return _m().all(self, axis=axis, keepdims=keepdims)

    def dot(self, other):
        from symgraph.ops import blas

        return blas.dot(self, other)

    def clip(self, a_min, a_max):
        return _m().clip(self, a_min, a_max)

    def round(self, mode=None):
        return _m().round(self, mode)

    def norm(self, L=2, axis=None, keepdims=False):
        if L == 1:
            return _m().sum(_m().abs(self), axis=axis, keepdims=keepdims)
        if L == 2:
            return _m().sqrt(_m().sum(_m().sqr(self), axis=axis, keepdims=keepdims))
        return _m().pow(
            _m().sum(_m().pow(_m().abs(self), L), axis=axis, keepdims=keepdims), 1.0 / L
        )

    def nonzero(self, return_matrix=False):
        from symgraph.ops import numeric

        return numeric.nonzero(self, return_matrix)

    def nonzero_values(self):
        from symgraph.ops import numeric

        return numeric.nonzero_values(self)

    def sort(self, axis=-1, kind="quicksort", order=None):
        from symgraph.ops import sort

        return sort.sort(self, axis, kind, order)

    def argsort(self, axis=-1, kind="quicksort", order=None):
        from symgraph.ops import sort

        return sort.argsort(self, axis, kind, order)

    def cumsum(self, axis=None):
        from symgraph.ops import extra_ops

        return extra_ops.cumsum(self, axis)

    def cumprod(self, axis=None):
        from symgraph.ops import extra_ops

        return extra_ops.cumprod(self, axis)

    def diagonal(self, offset=0, axis1=0, axis2=1):
        from symgraph.ops import diag

        return diag.diagonal(self, offset, axis1, axis2)

    def repeat(self, repeats, axis=None):
        from symgraph.ops import alloc

        return alloc.repeat(self, repeats, axis)

    def take(self, indices, axis=None, mode="raise"):
        from symgraph.ops import advanced

        return advanced.take(self, indices, axis, mode)

    def copy(self, name=None):
        out = _m().identity(self)
        out.name = name
        return out

    @property
    def real(self):
        return _m().real(self)

    @property
    def imag(self):
        return _m().imag(self)

    def conj(self):
        return _m().conj(self)

    def eval(self, inputs_to_values: dict | None = None):
        """Compile (once per set of inputs) and evaluate this variable."""
        import symgraph

        inputs_to_values = dict(inputs_to_values or {})
        inputs = tuple(inputs_to_values)
        cache = self.__dict__.setdefault("_eval_cache", {})
        if inputs not in cache:
            cache[inputs] = symgraph.function(list(inputs), self, on_unused_input="ignore")
        return cache[inputs](*[inputs_to_values[k] for k in inputs])


class TensorVariable(_TensorOps, Variable):
    """A symbolic tensor: the result of an operation or a graph input."""


class TensorConstant(_TensorOps, Constant):
    """A tensor with a fixed value."""

    def __init__(self, type: TensorType, data: Any, name: str | None = None):
        data = np.asarray(data)
        if data.dtype.name != type.dtype or data.ndim != type.ndim:
            raise TypeError(f"constant data {data.dtype}{data.shape} does not fit {type}")
        data.setflags(write=False)
        super().__init__(type, data, name)


def _python_scalar_dtype(value: Any) -> str:
    """Theano's autocast: Python ints take the smallest int dtype, floats take floatX."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, int):
        for dtype in ("int8", "int16", "int32", "int64"):
            info = np.iinfo(dtype)
            if info.min <= value <= info.max:
                return dtype
        return "uint64"
    if isinstance(value, float):
        # floatX=float32 takes every float literal; otherwise the smallest exact float dtype,
        # so `fvector * 2.0` stays float32 while `fvector * 0.1` is float64, as in Theano.
        fits32 = not np.isfinite(value) or float(np.float32(value)) == value
        if config.floatX == "float32" and (fits32 or abs(value) < 3.4e38):
            return "float32"
        return "float32" if fits32 else "float64"
    if isinstance(value, complex):
        return "complex128"
    return np.asarray(value).dtype.name


def constant(
    value: Any, name: str | None = None, ndim: int | None = None, dtype=None
) -> TensorConstant:
    """A TensorConstant holding `value` (Python scalars are autocast as in Theano)."""
    if isinstance(value, Variable):
        raise TypeError(f"constant() expects a value, got the symbolic variable {value}")
    if dtype is None and isinstance(value, (bool, int, float, complex)):
        dtype = _python_scalar_dtype(value)
    elif dtype is None and isinstance(value, (list, tuple)):
        arr = np.asarray(value)
        if arr.dtype == np.float64 and config.floatX == "float32":
            dtype = "float32"
        elif (
            arr.dtype.kind in "iu"
            and arr.size
            and all(isinstance(v, int) for v in np.ravel(np.asarray(value, dtype=object)))
        ):
            dtype = _python_scalar_dtype(int(arr.max())) if arr.min() >= 0 else arr.dtype.name
            dtype = np.result_type(dtype, _python_scalar_dtype(int(arr.min()))).name
    arr = np.asarray(value, dtype=None if dtype is None else normalize_dtype(dtype))
    if arr.dtype == object:
        raise TypeError(f"constant(): cannot make a tensor constant from {type(value).__name__}")
    if ndim is not None:
        extra = arr.shape[: max(arr.ndim - ndim, 0)]
        if any(n != 1 for n in extra):
            raise ValueError(
                f"constant(): value of shape {arr.shape} has {arr.ndim} dimensions, more than "
                f"ndim={ndim}, and its leading ones are not all of size 1"
            )
        arr = arr.reshape(arr.shape[len(extra) :])
        arr = arr.reshape((1,) * (ndim - arr.ndim) + arr.shape)
    return TensorConstant(TensorType(arr.dtype.name, arr.shape), arr, name=name)


def as_tensor_variable(x: Any, name: str | None = None, ndim: int | None = None, dtype=None):
    """Return `x` as a symbolic tensor: variables pass through, values become constants."""
    if isinstance(x, Variable):
        if not isinstance(x.type, TensorType):
            raise TypeError(f"{x}{x.where()} is a {x.type}, not a tensor")
        if ndim is not None and x.ndim != ndim:
            if x.ndim < ndim:
                return _s().dimshuffle(x, ("x",) * (ndim - x.ndim) + tuple(range(x.ndim)))
            extra = x.ndim - ndim
            if all(n == 1 for n in x.type.shape[:extra]):  # drop leading broadcastable axes
                return _s().dimshuffle(x, tuple(range(extra, x.ndim)))
            raise ValueError(
                f"{x}{x.where()} has {x.ndim} dimensions, expected {ndim} (only leading "
                "broadcastable axes can be dropped)"
            )
        if dtype is not None and x.dtype != normalize_dtype(dtype):
            return _m().cast(x, dtype)
        return x
    if hasattr(x, "owner") and hasattr(x, "type"):
        raise TypeError(f"cannot convert {type(x).__name__} {x} to a symgraph tensor")
    if isinstance(x, (list, tuple)) and _holds_variable(x):
        return _s().stack([as_tensor_variable(e) for e in x])
    return constant(x, name=name, ndim=ndim, dtype=dtype)


def _holds_variable(x) -> bool:
    """Whether the nested lists `x` hold a symbolic variable (not unpacking the variables)."""
    if isinstance(x, Variable):
        return True
    return isinstance(x, (list, tuple)) and any(_holds_variable(e) for e in x)


as_tensor = as_tensor_variable
