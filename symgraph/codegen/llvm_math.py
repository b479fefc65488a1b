"""Vectorizable transcendental functions, emitted as LLVM IR with llvmlite's IRBuilder.

A libm call per element keeps a loop scalar (LLVM even lowers ``llvm.exp.v8f32`` to eight
``expf`` calls), so each function here is written from arithmetic, bit tricks, selects and
intrinsics that have SIMD instructions (``llvm.fma``, ``llvm.fabs``, ``llvm.maxnum``). There
are no branches and no calls, so the loop vectorizer turns a loop of them into SIMD code.
Instruction count is what they cost in a fused kernel (measured: 10M float32 elements of
``tanh(a*x + b) * sigmoid(x) + exp(-x*x)`` are bound by it, not by memory), so nan goes
through the arithmetic rather than through a final select wherever it can.

Each emitter is ``emit_<name>(builder, x) -> ir.Value`` for ``float``, ``double`` or vectors of
them; ``VECTOR_MATH`` maps op names to emitters for the kernel renderer. Accuracy (measured by
tests/codegen/test_llvm_math.py): about 1-3 ulp against a long-double reference; special values
(inf, nan, signed zero, overflow, underflow, denormals) follow C99 / numpy.

Algorithms: exp-like functions round x / ln2 to n with one FMA against a "shifter" constant
that also leaves n in the float's low bits (no fptosi, no rint), reduce by ln2 split into hi
and lo parts (Cody-Waite), use one Horner chain, and scale by 2**n in two steps so that
overflow and gradual underflow round once; log-like functions split exponent and mantissa by
bit operations (scaling denormals first) and use Cephes' polynomial for float and fdlibm's for
double.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import llvmlite.ir as ir

__all__ = [
    "FASTMATH_FLAGS",
    "VECTOR_MATH",
    "emit_exp",
    "emit_exp2",
    "emit_expm1",
    "emit_log",
    "emit_log1p",
    "emit_log2",
    "emit_log10",
    "emit_sigmoid",
    "emit_softplus",
    "emit_tanh",
]

# Only 'contract' (fusing a*b+c into one FMA): it never changes results for inf or nan and makes
# the polynomials faster and more accurate. 'nnan'/'ninf' would let LLVM delete the special-value
# selects, and 'reassoc' would undo the hi/lo Cody-Waite splits that keep the reductions exact.
FASTMATH_FLAGS = ("contract",)


@dataclass(frozen=True)
class _Consts:
    """Per-precision constants: formats, thresholds, splits and polynomial coefficients."""

    mant_bits: int  # explicit mantissa bits
    bias: int  # exponent bias
    min_normal: float
    exp_lo: float  # exp(x) rounds to 0 below this
    exp_hi: float  # exp(x) overflows above this
    expm1_lo: float  # expm1(x) rounds to -1 below this
    tanh_hi: float  # tanh(x) rounds to 1 above this
    ln2_hi: float  # ln2 = ln2_hi + ln2_lo, ln2_hi with trailing zero bits so n * ln2_hi is exact
    ln2_lo: float
    log10_2_hi: float
    log10_2_lo: float
    exp_poly: tuple[float, ...]  # (e**r - 1 - r) / r**2, highest degree first
    expm1_poly: tuple[float, ...]  # the same, fitted for the relative error of e**r - 1
    log_poly: tuple[float, ...]  # see _log_parts


_F32 = _Consts(
    mant_bits=23,
    bias=127,
    min_normal=1.1754943508222875e-38,
    exp_lo=-104.0,
    exp_hi=89.0,
    expm1_lo=-30.0,
    tanh_hi=10.0,
    ln2_hi=0.693359375,
    ln2_lo=-2.12194440e-4,
    log10_2_hi=0.301025390625,
    log10_2_lo=4.605038981195214e-06,
    # e**r = 1 + r + r**2 * P(r): P minimax (relative error of e**r 3e-9) on [-ln2/2, ln2/2],
    # fitted for this file by iteratively reweighted least squares (Lawson)
    exp_poly=(
        1.3814570847898722e-3,
        8.368730545043945e-3,
        4.166838899254799e-2,
        1.666652113199234e-1,
        4.999999403953552e-1,
    ),
    # Cephes expf's: minimax on [-ln2/2, ln2/2] for e**r - 1 (one degree more than exp_poly)
    expm1_poly=(
        1.9875691500e-4,
        1.3981999507e-3,
        8.3334519073e-3,
        4.1665795894e-2,
        1.6666665459e-1,
        5.0000001201e-1,
    ),
    # Cephes logf: log(1+f) = f - f**2/2 + f**3 * P(f), f in [sqrt(1/2)-1, sqrt(2)-1]
    log_poly=(
        7.0376836292e-2,
        -1.1514610310e-1,
        1.1676998740e-1,
        -1.2420140846e-1,
        1.4249322787e-1,
        -1.6668057665e-1,
        2.0000714765e-1,
        -2.4999993993e-1,
        3.3333331174e-1,
    ),
)

# Taylor series to degree 13: truncation error < 1e-17 relative on |r| <= ln2/2
_TAYLOR13 = tuple(1.0 / _f for _f in (6227020800.0, 479001600.0, 39916800.0, 3628800.0)) + (
    1.0 / 362880,
    1.0 / 40320,
    1.0 / 5040,
    1.0 / 720,
    1.0 / 120,
    1.0 / 24,
    1.0 / 6,
    0.5,
)

_F64 = _Consts(
    mant_bits=52,
    bias=1023,
    min_normal=2.2250738585072014e-308,
    exp_lo=-746.0,
    exp_hi=710.0,
    expm1_lo=-40.0,
    tanh_hi=20.0,
    ln2_hi=6.93147180369123816490e-01,  # fdlibm, 0x3fe62e42fee00000
    ln2_lo=1.90821492927058770002e-10,
    log10_2_hi=3.01029995663611771306e-01,  # fdlibm, 0x3FD34413509F6000
    log10_2_lo=3.69423907715893078616e-13,
    exp_poly=_TAYLOR13,
    expm1_poly=_TAYLOR13,
    # fdlibm e_log.c Lg1..Lg7 in s**2, s = f / (2 + f)
    log_poly=(
        6.666666666666735130e-01,
        3.999999999940941908e-01,
        2.857142874366239149e-01,
        2.222219843214978396e-01,
        1.818357216161805012e-01,
        1.531383769920937332e-01,
        1.479819860511658591e-01,
    ),
)

_LOG2E = 1.4426950408889634
_LN2 = 0.6931471805599453
_LOG10E = 0.4342944819032518


class _Emitter:
    """IR helpers for one float type (scalar or vector) on one builder."""

    def __init__(self, builder: ir.IRBuilder, ty: ir.Type) -> None:
        self.b = builder
        self.ty = ty
        elem = ty.element if isinstance(ty, ir.VectorType) else ty
        if isinstance(elem, ir.FloatType):
            self.k = _F32
        elif isinstance(elem, ir.DoubleType):
            self.k = _F64
        else:
            raise NotImplementedError(f"vector math supports float and double, not {ty}")
        self.nbits = nbits = 32 if self.k is _F32 else 64
        ity = ir.IntType(nbits)
        self.ity = ir.VectorType(ity, ty.count) if isinstance(ty, ir.VectorType) else ity
        self.suffix = f"f{nbits}" if ty is elem else f"v{ty.count}f{nbits}"

    def c(self, value: float) -> ir.Constant:
        """A float constant splatted to the type."""
        if isinstance(self.ty, ir.VectorType):
            return ir.Constant(self.ty, [value] * self.ty.count)
        return ir.Constant(self.ty, value)

    def ic(self, value: int) -> ir.Constant:
        """An integer constant of the same width, splatted."""
        if isinstance(self.ity, ir.VectorType):
            return ir.Constant(self.ity, [value] * self.ity.count)
        return ir.Constant(self.ity, value)

    def add(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.fadd(a, b, flags=FASTMATH_FLAGS)

    def sub(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.fsub(a, b, flags=FASTMATH_FLAGS)

    def mul(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.fmul(a, b, flags=FASTMATH_FLAGS)

    def div(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.fdiv(a, b, flags=FASTMATH_FLAGS)

    def call(self, name: str, *args: ir.Value) -> ir.Value:
        """Call intrinsic ``llvm.<name>`` with all operands of this type."""
        full = f"llvm.{name}.{self.suffix}"
        module = self.b.module
        fn = module.globals.get(full)
        if fn is None:
            fn = ir.Function(module, ir.FunctionType(self.ty, [self.ty] * len(args)), full)
        return self.b.call(fn, list(args))

    def fma(self, a: ir.Value, b: ir.Value, c: ir.Value) -> ir.Value:
        return self.call("fma", a, b, c)

    def poly(self, x: ir.Value, coeffs: tuple[float, ...]) -> ir.Value:
        """Horner's rule with FMAs; ``coeffs`` highest degree first."""
        acc = self.c(coeffs[0])
        for coef in coeffs[1:]:
            acc = self.fma(acc, x, self.c(coef))
        return acc

    def cmp(self, op: str, a: ir.Value, b: ir.Value) -> ir.Value:
        """Ordered comparison: false when either side is nan."""
        return self.b.fcmp_ordered(op, a, b)

    def ucmp(self, op: str, a: ir.Value, b: ir.Value) -> ir.Value:
        """Unordered comparison: true when either side is nan."""
        return self.b.fcmp_unordered(op, a, b)

    def select(self, cond: ir.Value, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.select(cond, a, b)

    def clamp(self, x: ir.Value, lo: float | None, hi: float | None) -> ir.Value:
        """min(max(x, lo), hi), a nan staying nan; None leaves that side open.

        Written as ordered compare + select, which x86 does in one ``maxps`` / ``minps`` each
        (the intrinsics minnum/maxnum would need extra instructions to return the non-nan side).
        """
        if lo is not None:
            x = self.select(self.cmp("olt", x, self.c(lo)), self.c(lo), x)
        if hi is not None:
            x = self.select(self.cmp("ogt", x, self.c(hi)), self.c(hi), x)
        return x

    def shifter(self, offset: int) -> float:
        """1.5 * 2**mant_bits + offset: a float that, added to an integral float n (rounding any
        other value to the nearest integer), leaves ``n + offset`` in the low mantissa bits.

        This avoids fptosi: AVX2 has no vector double -> int64 conversion.
        """
        return 1.5 * 2.0**self.k.mant_bits + offset

    def pow2_bits(self, bits: ir.Value) -> ir.Value:
        """2**m from integer ``bits`` holding m + bias in their low bits (shifter bits)."""
        return self.b.bitcast(self.b.shl(bits, self.ic(self.k.mant_bits)), self.ty)

    def scale(self, p: ir.Value, bits: ir.Value) -> ir.Value:
        """p * 2**n, rounding once, from the bits of n + shifter(2 * bias), n integral and up to
        twice the exponent range: as p * 2**floor(n/2) * 2**ceil(n/2), so that overflow and
        gradual underflow happen in the last product only. The halving is done on the bits:
        the shifter's own bits are even and drop out of pow2_bits' shift."""
        lo = self.b.lshr(bits, self.ic(1))  # bias + floor(n/2)
        hi = self.b.sub(bits, lo)  # bias + ceil(n/2)
        return self.mul(self.mul(p, self.pow2_bits(lo)), self.pow2_bits(hi))


def _em(builder: ir.IRBuilder, x: ir.Value) -> _Emitter:
    return _Emitter(builder, x.type)


def _reduce_ln2(
    e: _Emitter, x: ir.Value, offset: int, split: bool = True
) -> tuple[ir.Value, ir.Value]:
    """r = x - n * ln2 in [-ln2/2, ln2/2], n = round(x / ln2), and the integer bits of
    ``n + shifter(offset)`` (``n + offset`` in the low bits); nan stays nan.

    ln2 in two parts keeps r exact to the last bit; split=False uses ln2 rounded to the type,
    an absolute error of n * 2e-9 (float) in r, for callers whose result hardly depends on it
    where n is large."""
    shift = e.c(e.shifter(offset))
    t = e.fma(x, e.c(_LOG2E), shift)  # rounds x / ln2 to an integer, in one instruction
    n = e.sub(t, shift)
    if not split:
        return e.fma(n, e.c(-_LN2), x), e.b.bitcast(t, e.ity)
    r = e.fma(n, e.c(-e.k.ln2_hi), x)
    return e.fma(n, e.c(-e.k.ln2_lo), r), e.b.bitcast(t, e.ity)


def _expm1_poly(e: _Emitter, r: ir.Value) -> ir.Value:
    """e**r - 1 for |r| <= ln2/2, accurate relative to the (possibly tiny) result."""
    return e.fma(e.mul(r, r), e.poly(r, e.k.expm1_poly), r)


def _exp_poly(e: _Emitter, r: ir.Value) -> ir.Value:
    """e**r for |r| <= ln2/2: 1 + r + r**2 * P(r) in one Horner chain."""
    return e.poly(r, (*e.k.exp_poly, 1.0, 1.0))


def _is_nan(e: _Emitter, x: ir.Value) -> ir.Value:
    return e.ucmp("uno", x, x)


def _exp_core(e: _Emitter, x: ir.Value) -> ir.Value:
    """e**x for x clamped to [exp_lo, exp_hi] (or nan, which stays nan)."""
    r, bits = _reduce_ln2(e, x, 2 * e.k.bias)
    return e.scale(_exp_poly(e, r), bits)


def emit_exp(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """e**x."""
    e = _em(builder, x)
    return _exp_core(e, e.clamp(x, e.k.exp_lo, e.k.exp_hi))


def emit_exp2(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """2**x."""
    e = _em(builder, x)
    xc = e.clamp(x, e.k.exp_lo * _LOG2E, e.k.exp_hi * _LOG2E)
    shift = e.c(e.shifter(2 * e.k.bias))
    t = e.add(xc, shift)  # rounds to an integer n
    r = e.mul(e.sub(xc, e.sub(t, shift)), e.c(_LN2))  # x - n is exact
    return e.scale(_exp_poly(e, r), e.b.bitcast(t, e.ity))


def _expm1_core(e: _Emitter, x: ir.Value, split: bool = True) -> ir.Value:
    """(e**x - 1) / 2 for x in [expm1_lo, exp_hi] (or nan): 2**(n-1) * (p + 1) - 1/2, where
    p = e**r - 1. The caller doubles it (or not, when it divides by it anyway)."""
    r, bits = _reduce_ln2(e, x, e.k.bias - 1, split)
    t = e.pow2_bits(bits)  # 2**(n-1) stays normal for n in [-126, 128] (float)
    return e.fma(_expm1_poly(e, r), t, e.sub(t, e.c(0.5)))


def emit_expm1(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """e**x - 1, accurate near 0."""
    e = _em(builder, x)
    y = _expm1_core(e, e.clamp(x, e.k.expm1_lo, e.k.exp_hi))
    y = e.add(y, y)
    return e.select(e.cmp("oeq", x, e.c(0.0)), x, y)  # -0 -> -0


def _log_parts(e: _Emitter, x: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """Split positive finite x as 2**k * m, m in [sqrt(1/2), sqrt(2)); log(m) = f + tail."""
    k = e.k
    tiny = e.cmp("olt", x, e.c(k.min_normal))
    x = e.select(tiny, e.mul(x, e.c(2.0**k.mant_bits)), x)  # denormals become normal
    bits = e.b.bitcast(x, e.ity)
    # exponent field -> float without sitofp (no AVX2 vector int64 -> double): 2**mb + field
    field = e.b.lshr(bits, e.ic(k.mant_bits))
    one_bits = (k.bias + k.mant_bits) << k.mant_bits
    kf = e.b.bitcast(e.b.or_(field, e.ic(one_bits)), e.ty)
    kf = e.sub(kf, e.c(2.0**k.mant_bits + k.bias))
    kf = e.select(tiny, e.sub(kf, e.c(float(k.mant_bits))), kf)
    mant_mask = (1 << k.mant_bits) - 1
    mbits = e.b.or_(e.b.and_(bits, e.ic(mant_mask)), e.ic(k.bias << k.mant_bits))
    m = e.b.bitcast(mbits, e.ty)  # in [1, 2)
    big = e.cmp("oge", m, e.c(1.4142135623730951))
    m = e.select(big, e.mul(m, e.c(0.5)), m)
    kf = e.select(big, e.add(kf, e.c(1.0)), kf)
    f = e.sub(m, e.c(1.0))
    if k is _F32:
        z = e.mul(f, f)
        tail = e.fma(e.mul(f, z), e.poly(f, k.log_poly), e.mul(z, e.c(-0.5)))
        return kf, f, tail
    s = e.div(f, e.add(f, e.c(2.0)))
    z = e.mul(s, s)
    w = e.mul(z, z)
    odd, even = k.log_poly[0::2], k.log_poly[1::2]  # Lg1 Lg3 Lg5 Lg7 | Lg2 Lg4 Lg6
    r_odd = e.mul(z, e.poly(w, odd[::-1]))
    r_even = e.mul(w, e.poly(w, even[::-1]))
    hfsq = e.mul(e.c(0.5), e.mul(f, f))
    tail = e.sub(e.mul(s, e.add(hfsq, e.add(r_odd, r_even))), hfsq)
    return kf, f, tail


def _log_specials(e: _Emitter, x: ir.Value, y: ir.Value) -> ir.Value:
    """log-family results at +inf, 0 and below 0 / nan."""
    y = e.select(e.cmp("oeq", x, e.c(float("inf"))), x, y)
    y = e.select(e.cmp("oeq", x, e.c(0.0)), e.c(float("-inf")), y)
    return e.select(e.ucmp("ult", x, e.c(0.0)), e.c(float("nan")), y)


def _log_core(e: _Emitter, x: ir.Value) -> ir.Value:
    """Natural log of positive finite x."""
    kf, f, tail = _log_parts(e, x)
    low = e.add(f, e.fma(kf, e.c(e.k.ln2_lo), tail))
    return e.fma(kf, e.c(e.k.ln2_hi), low)


def emit_log(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Natural logarithm."""
    e = _em(builder, x)
    return _log_specials(e, x, _log_core(e, x))


def emit_log2(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Base-2 logarithm."""
    e = _em(builder, x)
    kf, f, tail = _log_parts(e, x)
    return _log_specials(e, x, e.fma(e.add(f, tail), e.c(_LOG2E), kf))


def emit_log10(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Base-10 logarithm."""
    e = _em(builder, x)
    kf, f, tail = _log_parts(e, x)
    low = e.fma(e.add(f, tail), e.c(_LOG10E), e.mul(kf, e.c(e.k.log10_2_lo)))
    return _log_specials(e, x, e.fma(kf, e.c(e.k.log10_2_hi), low))


def emit_log1p(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """log(1 + x), accurate near 0."""
    e = _em(builder, x)
    u = e.add(x, e.c(1.0))
    # u = 1 + x rounds; log(u) + (x - (u - 1)) / u corrects to first order. The correction is
    # nan only when log(u) already is the answer (x = inf or -1, or nan).
    corr = e.div(e.sub(x, e.sub(u, e.c(1.0))), u)
    corr = e.select(_is_nan(e, corr), e.c(0.0), corr)
    y = _log_specials(e, u, e.add(_log_core(e, u), corr))
    return e.select(e.cmp("oeq", x, e.c(0.0)), x, y)  # keep -0


def emit_tanh(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Hyperbolic tangent: tanh(|x|) = h / (h + 1), h = expm1(2|x|) / 2, sign restored."""
    e = _em(builder, x)
    ax = e.clamp(e.call("fabs", x), None, e.k.tanh_hi)
    # tanh = 1 - 2 / (e**2|x| + 1) is insensitive to the relative error of e**2|x| where n is
    # large (it is scaled by 2 / e**2|x|), so r may lose n * 2e-9: one FMA less
    h = _expm1_core(e, e.add(ax, ax), split=e.k is not _F32)
    y = e.b.bitcast(e.div(h, e.add(h, e.c(1.0))), e.ity)  # >= 0 (or nan)
    sign = e.b.and_(e.b.bitcast(x, e.ity), e.ic(-(1 << (e.nbits - 1))))  # sign bit
    return e.b.bitcast(e.b.or_(y, sign), e.ty)


def emit_sigmoid(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """1 / (1 + e**-x), as e**-|x| based fractions so neither side overflows."""
    e = _em(builder, x)
    t = _exp_core(e, e.clamp(e.b.fneg(e.call("fabs", x)), e.k.exp_lo, None))  # in [0, 1]
    num = e.select(e.cmp("oge", x, e.c(0.0)), e.c(1.0), t)
    return e.div(num, e.add(t, e.c(1.0)))


def emit_softplus(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """log(1 + e**x) = max(x, 0) + log1p(e**-|x|)."""
    e = _em(builder, x)
    t = emit_exp(builder, e.b.fneg(e.call("fabs", x)))
    y = e.add(e.call("maxnum", x, e.c(0.0)), emit_log1p(builder, t))
    return e.select(_is_nan(e, x), x, y)


VECTOR_MATH: dict[str, Callable[[ir.IRBuilder, ir.Value], ir.Value]] = {
    "exp": emit_exp,
    "exp2": emit_exp2,
    "expm1": emit_expm1,
    "log": emit_log,
    "log2": emit_log2,
    "log10": emit_log10,
    "log1p": emit_log1p,
    "tanh": emit_tanh,
    "sigmoid": emit_sigmoid,
    "softplus": emit_softplus,
}
