"""The numpy-like math namespace: elementwise functions, casts and reductions on tensors."""

from __future__ import annotations

from symgraph.ops import scalar as s
from symgraph.ops.elemwise import Elemwise
from symgraph.ops.reduce import Argmax, CAReduce, keep_dims, normalize_axis, reduce_dtype
from symgraph.types import DISCRETE_DTYPES, normalize_dtype, upgrade_to_float
from symgraph.variable import as_tensor_variable, constant

# --- elementwise (each is an Elemwise instance, callable like a function, as in Theano) ---
add = Elemwise(s.add)
sub = Elemwise(s.sub)
mul = Elemwise(s.mul)
true_div = Elemwise(s.true_div)
int_div = Elemwise(s.int_div)
floor_div = int_div
mod = Elemwise(s.mod)
pow = Elemwise(s.pow)
neg = Elemwise(s.neg)
abs = Elemwise(s.abs)
abs_ = abs
sgn = Elemwise(s.sgn)
sign = sgn
sqr = Elemwise(s.sqr)
square = sqr
sqrt = Elemwise(s.sqrt)
exp = Elemwise(s.exp)
exp2 = Elemwise(s.exp2)
expm1 = Elemwise(s.expm1)
log = Elemwise(s.log)
log2 = Elemwise(s.log2)
log10 = Elemwise(s.log10)
log1p = Elemwise(s.log1p)
sin = Elemwise(s.sin)
cos = Elemwise(s.cos)
tan = Elemwise(s.tan)
arcsin = Elemwise(s.arcsin)
arccos = Elemwise(s.arccos)
arctan = Elemwise(s.arctan)
arctan2 = Elemwise(s.arctan2)
sinh = Elemwise(s.sinh)
cosh = Elemwise(s.cosh)
tanh = Elemwise(s.tanh)
arcsinh = Elemwise(s.arcsinh)
arccosh = Elemwise(s.arccosh)
arctanh = Elemwise(s.arctanh)
floor = Elemwise(s.floor)
ceil = Elemwise(s.ceil)
trunc = Elemwise(s.trunc)
erf = Elemwise(s.erf)
erfc = Elemwise(s.erfc)
erfinv = Elemwise(s.erfinv)
erfcinv = Elemwise(s.erfcinv)
gammaln = Elemwise(s.gammaln)
psi = Elemwise(s.psi)
tri_gamma = Elemwise(s.tri_gamma)
sigmoid = Elemwise(s.sigmoid)
softplus = Elemwise(s.softplus)
maximum = Elemwise(s.maximum)
minimum = Elemwise(s.minimum)
lt = Elemwise(s.lt)
gt = Elemwise(s.gt)
le = Elemwise(s.le)
ge = Elemwise(s.ge)
eq = Elemwise(s.eq)
neq = Elemwise(s.neq)
isnan = Elemwise(s.isnan)
isinf = Elemwise(s.isinf)
and_ = Elemwise(s.and_)
or_ = Elemwise(s.or_)
xor = Elemwise(s.xor)
invert = Elemwise(s.invert)
bitwise_and, bitwise_or, bitwise_xor, bitwise_not = and_, or_, xor, invert
identity = Elemwise(s.identity)
tensor_copy = identity
second = Elemwise(s.second)
fill = second
real = Elemwise(s.real)
imag = Elemwise(s.imag)
conj = Elemwise(s.conj)
_switch = Elemwise(s.switch)
_clip = Elemwise(s.clip)


def switch(cond, ift, iff):
    """Elementwise `ift` where `cond` else `iff` (both branches are computed)."""
    return _switch(cond, ift, iff)


where = switch


def clip(x, min, max):
    """Limit `x` to [min, max]; the gradient passes where x is inside the interval."""
    x = as_tensor_variable(x)
    return _clip(x, *[_like(b, x) for b in (min, max)])


def _like(value, x):
    """Python numbers take x's dtype (so clip(float32, 0, 1) stays float32)."""
    if isinstance(value, (int, float)) and x.dtype not in DISCRETE_DTYPES:
        return constant(value, dtype=x.dtype)
    return value


def round(x, mode: str | None = None):
    """Round to integral values: 'half_away_from_zero' (Theano's default) or 'half_to_even'."""
    mode = mode or "half_away_from_zero"
    if mode == "half_away_from_zero":
        return Elemwise(s.round_half_away_from_zero)(x)
    if mode == "half_to_even":
        return Elemwise(s.round_half_to_even)(x)
    raise ValueError(f"round: mode must be 'half_away_from_zero' or 'half_to_even', got {mode!r}")


def iround(x, mode=None):
    return cast(round(x, mode), "int64")


def cast(x, dtype):
    """`x` converted to `dtype` (a no-op when it already has it)."""
    x = as_tensor_variable(x)
    dtype = normalize_dtype(dtype)
    if x.dtype == dtype:
        return x
    return Elemwise(s.CASTS[dtype])(x)


def zeros_like(x, dtype=None):
    """Zeros with the shape of `x` (and its dtype unless given)."""
    x = as_tensor_variable(x)
    return second(x, constant(0, dtype=dtype or x.dtype))


def ones_like(x, dtype=None):
    """Ones with the shape of `x` (and its dtype unless given)."""
    x = as_tensor_variable(x)
    return second(x, constant(1, dtype=dtype or x.dtype))


# --- reductions ------------------------------------------------------------------------------


def _reduce(op: s.ScalarOp, x, axis, keepdims: bool, dtype=None, what: str = ""):
    x = as_tensor_variable(x)
    axes = normalize_axis(axis, x.ndim, what or op.name)
    out_dtype = normalize_dtype(dtype) if dtype is not None else None
    if out_dtype == reduce_dtype(op.name, x.dtype):
        out_dtype = None
    res = CAReduce(op, axes, out_dtype)(x)
    return keep_dims(x, res, axes) if keepdims else res


def sum(x, axis=None, dtype=None, keepdims=False, acc_dtype=None):
    """Sum over `axis` (None: all axes). Small integers sum in int64 as in numpy."""
    return _reduce(s.add, x, axis, keepdims, dtype, "sum")


def prod(x, axis=None, dtype=None, keepdims=False, acc_dtype=None, no_zeros_in_input=False):
    """Product over `axis`; the gradient is exact also where x has zeros."""
    return _reduce(s.mul, x, axis, keepdims, dtype, "prod")


def max(x, axis=None, keepdims=False):
    """Maximum over `axis`; the gradient goes to every position that attains it."""
    return _reduce(s.maximum, x, axis, keepdims, what="max")


def min(x, axis=None, keepdims=False):
    """Minimum over `axis`."""
    return _reduce(s.minimum, x, axis, keepdims, what="min")


def all(x, axis=None, keepdims=False):
    return _reduce(
        s.and_,
        neq(x, 0) if as_tensor_variable(x).dtype != "bool" else x,
        axis,
        keepdims,
        what="all",
    )


def any(x, axis=None, keepdims=False):
    return _reduce(
        s.or_, neq(x, 0) if as_tensor_variable(x).dtype != "bool" else x, axis, keepdims, what="any"
    )


def argmax(x, axis=None, keepdims=False):
    """Index of the maximum over `axis` (a flat index over several axes, as in Theano)."""
    x = as_tensor_variable(x)
    axes = normalize_axis(axis, x.ndim, "argmax")
    res = Argmax(axes)(x)
    return keep_dims(x, res, axes) if keepdims else res


def argmin(x, axis=None, keepdims=False):
    """Index of the minimum over `axis`."""
    x = as_tensor_variable(x)
    axes = normalize_axis(axis, x.ndim, "argmin")
    res = Argmax(axes, minimum=True)(x)
    return keep_dims(x, res, axes) if keepdims else res


def max_and_argmax(x, axis=None, keepdims=False):
    return max(x, axis, keepdims), argmax(x, axis, keepdims)


def _count(x, axes):
    """Number of elements reduced over `axes`, as an int64 scalar."""
    from symgraph.ops.shape import shape_i

    n = constant(1, dtype="int64")
    for a in axes:
        n = n * shape_i(x, a)
    return n


def mean(x, axis=None, dtype=None, keepdims=False, acc_dtype=None):
    """Arithmetic mean over `axis`; integer inputs give float64, as in numpy."""
    x = as_tensor_variable(x)
    axes = normalize_axis(axis, x.ndim, "mean")
    total = sum(x, axis=axes, dtype=dtype, keepdims=keepdims)
    out_dtype = (
        normalize_dtype(dtype)
        if dtype
        else ("float64" if x.dtype in DISCRETE_DTYPES else upgrade_to_float(total.dtype))
    )
    return true_div(cast(total, out_dtype), cast(_count(x, axes), out_dtype))


def var(x, axis=None, ddof=0, keepdims=False, corrected=False):
    """Variance over `axis` (ddof=1 or corrected=True for the unbiased estimate)."""
    x = as_tensor_variable(x)
    axes = normalize_axis(axis, x.ndim, "var")
    centered = x - mean(x, axis=axes, keepdims=True)
    ddof = 1 if corrected else ddof
    if ddof == 0:
        return mean(sqr(centered), axis=axes, keepdims=keepdims)
    total = sum(sqr(centered), axis=axes, keepdims=keepdims)
    n = cast(_count(x, axes), total.dtype)
    return total / (n - ddof)


def std(x, axis=None, ddof=0, keepdims=False, corrected=False):
    """Standard deviation over `axis`."""
    return sqrt(var(x, axis=axis, ddof=ddof, keepdims=keepdims, corrected=corrected))


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) computed without overflow (the max is subtracted first)."""
    from symgraph.gradient import disconnected_grad

    x = as_tensor_variable(x)
    axes = normalize_axis(axis, x.ndim, "logsumexp")
    m = disconnected_grad(max(x, axis=axes, keepdims=True))
    m = switch(isinf(m), 0, m)
    res = log(sum(exp(x - m), axis=axes, keepdims=True)) + m
    if keepdims:
        return res
    from symgraph.ops.shape import dimshuffle

    return dimshuffle(res, tuple(a for a in range(x.ndim) if a not in axes))
