"""Scalar operations: each written once as (numpy impl, dtype rule, gradient), lifted by Elemwise.

A scalar op is data, not a class: ``SCALAR_OPS`` maps its name to a ScalarOp. Backends keep
per-name expression tables (a test checks every name is covered), rewrites match on names,
and pickles refer to ops by name. Gradients are tensor expressions over the Elemwise inputs,
output and output gradient; the Elemwise op sums them over broadcast axes.
"""

from __future__ import annotations

import math as _math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from symgraph.config import config
from symgraph.types import ALL_DTYPES, upcast, upgrade_to_float


def _discrete(dtype: str) -> bool:
    return dtype == "bool" or dtype.startswith(("int", "uint"))


class _LazyMath:
    """symgraph.ops.math, imported on first use (it imports this module)."""

    def __getattr__(self, name):
        from symgraph.ops import math

        return getattr(math, name)


m = _LazyMath()


def _special(name: str) -> Callable:
    """scipy.special's `name`, imported at the first call: importing scipy.special costs
    ~0.25 s, more than the rest of `import symgraph`, and most programs never call it."""

    def impl(*args):
        import scipy.special

        return getattr(scipy.special, name)(*args)

    impl.__name__ = impl.__qualname__ = name
    return impl

ZERO = "zero"  # gradient rule: piecewise constant, the gradient is 0 everywhere it exists

DTYPE_RULES: dict[str, Callable[..., str]] = {
    "upcast": lambda *d: upcast(*d),
    "float": lambda *d: upgrade_to_float(upcast(*d)),
    # Theano's TrueDiv: int / int gives floatX (a float32 program stays float32)
    "div": lambda *d: config.floatX if all(map(_discrete, d)) else upgrade_to_float(upcast(*d)),
    "bool": lambda *d: "bool",
    "real": lambda *d: {"complex64": "float32", "complex128": "float64"}.get(d[0], d[0]),
    "last": lambda *d: upcast(*d[1:]),  # switch / second: the value inputs decide
}


@dataclass(frozen=True, eq=False)
class ScalarOp:
    """One scalar function; `nin` None means variadic (add, mul)."""

    name: str
    nin: int | None
    impl: Callable = field(repr=False)
    dtype_rule: str = "upcast"
    grad: Callable | str | None = field(default=None, repr=False)
    commutative: bool = False
    associative: bool = False
    identity: float | None = None  # neutral element, for reductions

    def output_dtype(self, *dtypes: str) -> str:
        return DTYPE_RULES[self.dtype_rule](*dtypes)

    @property
    def casts_inputs(self) -> bool:
        """Float-valued ops compute in the output dtype (np.exp(int8) would give float16)."""
        return self.dtype_rule in ("float", "div")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScalarOp) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("ScalarOp", self.name))

    def __str__(self) -> str:
        return self.name

    def __reduce__(self):
        return (scalar_op, (self.name,))


SCALAR_OPS: dict[str, ScalarOp] = {}


def scalar_op(name: str) -> ScalarOp:
    """The registered scalar op called `name`."""
    try:
        return SCALAR_OPS[name]
    except KeyError:
        raise KeyError(f"no scalar op named {name!r}") from None


def _def(name, nin, impl, rule="upcast", grad=None, **kw) -> ScalarOp:
    op = ScalarOp(name, nin, impl, rule, grad, **kw)
    SCALAR_OPS[name] = op
    return op


def _round_half_away(x):
    t = np.trunc(x)
    return t + np.where(np.abs(x - t) >= 0.5, np.sign(x), 0).astype(x.dtype)


def _switch(c, a, b):
    return np.where(c, a, b)


# Gradient rules take (inputs, output, gz) and return one gradient (or None) per input.
# fmt: off
add = _def("add", None, lambda *xs: _fold(np.add, xs), grad=lambda i, o, g: [g] * len(i),
           commutative=True, associative=True, identity=0)
mul = _def("mul", None, lambda *xs: _fold(np.multiply, xs), commutative=True, associative=True,
           identity=1, grad=lambda i, o, g: [g * m.mul(*(i[:k] + i[k + 1:])) if len(i) > 1 else g
                                            for k in range(len(i))])
sub = _def("sub", 2, np.subtract, grad=lambda i, o, g: [g, -g])
true_div = _def("true_div", 2, np.true_divide, "div",
                grad=lambda i, o, g: [g / i[1], -g * o / i[1]])
int_div = _def("int_div", 2, np.floor_divide, grad=ZERO)
mod = _def("mod", 2, np.mod, grad=lambda i, o, g: [g, -g * m.int_div(i[0], i[1])])
pow = _def("pow", 2, np.power,
           grad=lambda i, o, g: [g * i[1] * m.pow(i[0], i[1] - 1),
                                 g * o * m.log(m.switch(m.gt(i[0], 0), i[0], 1))])
maximum = _def("maximum", 2, np.maximum, commutative=True, associative=True, identity=-np.inf,
               grad=lambda i, o, g: [g * m.eq(o, i[0]), g * m.eq(o, i[1])])
minimum = _def("minimum", 2, np.minimum, commutative=True, associative=True, identity=np.inf,
               grad=lambda i, o, g: [g * m.eq(o, i[0]), g * m.eq(o, i[1])])
arctan2 = _def("arctan2", 2, np.arctan2, "float",
               grad=lambda i, o, g: [g * i[1] / (m.sqr(i[0]) + m.sqr(i[1])),
                                     -g * i[0] / (m.sqr(i[0]) + m.sqr(i[1]))])

neg = _def("neg", 1, np.negative, grad=lambda i, o, g: [-g])
identity = _def("identity", 1, lambda x: x, grad=lambda i, o, g: [g])
abs = _def("abs", 1, np.abs, "real", grad=lambda i, o, g: [g * m.sgn(i[0])])
sgn = _def("sgn", 1, np.sign, grad=ZERO)
sqr = _def("sqr", 1, np.square, grad=lambda i, o, g: [g * 2 * i[0]])
sqrt = _def("sqrt", 1, np.sqrt, "float", grad=lambda i, o, g: [g / (2 * o)])
exp = _def("exp", 1, np.exp, "float", grad=lambda i, o, g: [g * o])
exp2 = _def("exp2", 1, np.exp2, "float", grad=lambda i, o, g: [g * o * _math.log(2.0)])
expm1 = _def("expm1", 1, np.expm1, "float", grad=lambda i, o, g: [g * (o + 1)])
log = _def("log", 1, np.log, "float", grad=lambda i, o, g: [g / i[0]])
log2 = _def("log2", 1, np.log2, "float", grad=lambda i, o, g: [g / (i[0] * _math.log(2.0))])
log10 = _def("log10", 1, np.log10, "float", grad=lambda i, o, g: [g / (i[0] * _math.log(10.0))])
log1p = _def("log1p", 1, np.log1p, "float", grad=lambda i, o, g: [g / (1 + i[0])])
sin = _def("sin", 1, np.sin, "float", grad=lambda i, o, g: [g * m.cos(i[0])])
cos = _def("cos", 1, np.cos, "float", grad=lambda i, o, g: [-g * m.sin(i[0])])
tan = _def("tan", 1, np.tan, "float", grad=lambda i, o, g: [g * (1 + m.sqr(o))])
arcsin = _def("arcsin", 1, np.arcsin, "float",
              grad=lambda i, o, g: [g / m.sqrt(1 - m.sqr(i[0]))])
arccos = _def("arccos", 1, np.arccos, "float",
              grad=lambda i, o, g: [-g / m.sqrt(1 - m.sqr(i[0]))])
arctan = _def("arctan", 1, np.arctan, "float", grad=lambda i, o, g: [g / (1 + m.sqr(i[0]))])
sinh = _def("sinh", 1, np.sinh, "float", grad=lambda i, o, g: [g * m.cosh(i[0])])
cosh = _def("cosh", 1, np.cosh, "float", grad=lambda i, o, g: [g * m.sinh(i[0])])
tanh = _def("tanh", 1, np.tanh, "float", grad=lambda i, o, g: [g * (1 - m.sqr(o))])
arcsinh = _def("arcsinh", 1, np.arcsinh, "float",
               grad=lambda i, o, g: [g / m.sqrt(m.sqr(i[0]) + 1)])
arccosh = _def("arccosh", 1, np.arccosh, "float",
               grad=lambda i, o, g: [g / m.sqrt(m.sqr(i[0]) - 1)])
arctanh = _def("arctanh", 1, np.arctanh, "float", grad=lambda i, o, g: [g / (1 - m.sqr(i[0]))])
# as numpy and Theano (upgrade_to_float): floor / ceil / trunc of ints give floats
floor = _def("floor", 1, np.floor, "float", grad=ZERO)
ceil = _def("ceil", 1, np.ceil, "float", grad=ZERO)
trunc = _def("trunc", 1, np.trunc, "float", grad=ZERO)
round_half_to_even = _def("round_half_to_even", 1, np.round, grad=ZERO)
round_half_away_from_zero = _def("round_half_away_from_zero", 1, _round_half_away, grad=ZERO)
erf = _def("erf", 1, _special("erf"), "float",
           grad=lambda i, o, g: [g * (2 / _math.sqrt(_math.pi)) * m.exp(-m.sqr(i[0]))])
erfc = _def("erfc", 1, _special("erfc"), "float",
            grad=lambda i, o, g: [g * (-2 / _math.sqrt(_math.pi)) * m.exp(-m.sqr(i[0]))])
erfinv = _def("erfinv", 1, _special("erfinv"), "float",
              grad=lambda i, o, g: [g * (_math.sqrt(_math.pi) / 2) * m.exp(m.sqr(o))])
erfcinv = _def("erfcinv", 1, _special("erfcinv"), "float",
               grad=lambda i, o, g: [g * (-_math.sqrt(_math.pi) / 2) * m.exp(m.sqr(o))])
tri_gamma = _def("tri_gamma", 1, lambda x: _special("polygamma")(1, x), "float")
psi = _def("psi", 1, _special("digamma"), "float", grad=lambda i, o, g: [g * m.tri_gamma(i[0])])
gammaln = _def("gammaln", 1, _special("gammaln"), "float", grad=lambda i, o, g: [g * m.psi(i[0])])
sigmoid = _def("sigmoid", 1, _special("expit"), "float", grad=lambda i, o, g: [g * o * (1 - o)])
softplus = _def("softplus", 1, lambda x: np.logaddexp(np.zeros((), x.dtype), x), "float",
                grad=lambda i, o, g: [g * m.sigmoid(i[0])])
clip = _def("clip", 3, np.clip,
            grad=lambda i, o, g: [g * m.and_(m.ge(i[0], i[1]), m.le(i[0], i[2])),
                                  g * m.lt(i[0], i[1]), g * m.gt(i[0], i[2])])
switch = _def("switch", 3, _switch, "last",
              grad=lambda i, o, g: [None, m.switch(i[0], g, 0), m.switch(i[0], 0, g)])
second = _def("second", 2, lambda a, b: np.broadcast_to(b, np.broadcast_shapes(a.shape, b.shape)),
              "last", grad=lambda i, o, g: [None, g])

lt = _def("lt", 2, np.less, "bool")
gt = _def("gt", 2, np.greater, "bool")
le = _def("le", 2, np.less_equal, "bool")
ge = _def("ge", 2, np.greater_equal, "bool")
eq = _def("eq", 2, np.equal, "bool", commutative=True)
neq = _def("neq", 2, np.not_equal, "bool", commutative=True)
isnan = _def("isnan", 1, np.isnan, "bool")
isinf = _def("isinf", 1, np.isinf, "bool")
and_ = _def("and_", 2, np.bitwise_and, commutative=True, associative=True, identity=True)
or_ = _def("or_", 2, np.bitwise_or, commutative=True, associative=True, identity=False)
xor = _def("xor", 2, np.bitwise_xor, commutative=True, associative=True)
invert = _def("invert", 1, np.invert)

real = _def("real", 1, np.real, "real", grad=lambda i, o, g: [g])
imag = _def("imag", 1, np.imag, "real")
conj = _def("conj", 1, np.conj, grad=lambda i, o, g: [m.conj(g)])
# fmt: on


def _cast_impl(dtype: str) -> Callable:
    return lambda x: x.astype(dtype)


CASTS: dict[str, ScalarOp] = {}
for _dtype in ALL_DTYPES:
    CASTS[_dtype] = _def(
        f"cast_{_dtype}", 1, _cast_impl(_dtype), "upcast", grad=lambda i, o, g: [g]
    )
    DTYPE_RULES[f"cast_{_dtype}"] = lambda *d, _t=_dtype: _t
    object.__setattr__(CASTS[_dtype], "dtype_rule", f"cast_{_dtype}")


def _fold(fn: Callable, xs: tuple):
    out = xs[0]
    for x in xs[1:]:
        out = fn(out, x)
    return out
