"""LLVM_SCALAR: the LLVM IR of every scalar op, with numpy's semantics, for the kernel renderer.

An emitter is ``emit(builder, args, dtype, out) -> ir.Value``: ``args`` are scalars of the
compute dtype ``dtype`` (kernel lowering inserted the casts; switch's condition is an i1) and
the result has dtype ``out``. An emitter raises ``NotLowerable`` for a dtype numpy rejects or
treats specially (bool arithmetic, integer powers), so the node runs its numpy `perform`.

Transcendentals come from ``VECTOR_MATH`` (branch-free IR, so loops vectorize); sqrt, fabs,
floor, ceil, trunc, roundeven and fma are LLVM intrinsics; the rest (sin, arctan2, erf, pow ...)
are libm calls, which keep their loop scalar. float16 math is computed in float32 and rounded,
as numpy does. ``FALLBACK_OPS`` lists the ops that always run their numpy `perform`.
"""

from __future__ import annotations

from collections.abc import Callable

import llvmlite.ir as ir

from symgraph.codegen.kernel import NotLowerable
from symgraph.codegen.llvm_math import FASTMATH_FLAGS, VECTOR_MATH
from symgraph.types import ALL_DTYPES

Emitter = Callable[[ir.IRBuilder, list, str, str], ir.Value]

# Special functions without a libm or vector form: numpy/scipy compute them.
FALLBACK_OPS = frozenset({"erfinv", "erfcinv", "psi", "tri_gamma", "gammaln"})

LL_TYPES: dict[str, ir.Type] = {
    "bool": ir.IntType(1),
    "int8": ir.IntType(8),
    "int16": ir.IntType(16),
    "int32": ir.IntType(32),
    "int64": ir.IntType(64),
    "uint8": ir.IntType(8),
    "uint16": ir.IntType(16),
    "uint32": ir.IntType(32),
    "uint64": ir.IntType(64),
    "float16": ir.HalfType(),
    "float32": ir.FloatType(),
    "float64": ir.DoubleType(),
}
F = FASTMATH_FLAGS


def ll_type(dtype: str) -> ir.Type:
    """The LLVM type holding a value of `dtype` in registers (bool is i1)."""
    try:
        return LL_TYPES[dtype]
    except KeyError:
        raise NotLowerable(f"dtype {dtype}") from None


def is_float(dtype: str) -> bool:
    return dtype.startswith("float")


def is_signed(dtype: str) -> bool:
    return dtype.startswith("int")


def constant(dtype: str, value) -> ir.Constant:
    """An IR constant of `dtype` (bool as i1, unsigned as its bit pattern)."""
    ty = ll_type(dtype)
    if is_float(dtype):
        return ir.Constant(ty, float(value))
    value = int(value)
    bits = ty.width
    return ir.Constant(ty, value & ((1 << bits) - 1))


def intrinsic(b: ir.IRBuilder, name: str, ty: ir.Type, args: list) -> ir.Value:
    """Call ``llvm.<name>`` overloaded on `ty` (its arguments all of type `ty`)."""
    suffix = {"half": "f16", "float": "f32", "double": "f64"}[str(ty)]
    return libcall(b, f"llvm.{name}.{suffix}", ty, args)


def libcall(b: ir.IRBuilder, name: str, ty: ir.Type, args: list) -> ir.Value:
    """Call the function `name` : (ty, ...) -> ty, declaring it on first use."""
    fn = b.module.globals.get(name)
    if fn is None:
        fn = ir.Function(b.module, ir.FunctionType(ty, [ty] * len(args)), name)
    return b.call(fn, args)


def _float_to_u64(b: ir.IRBuilder, v: ir.Value) -> ir.Value:
    """numpy's float -> uint64 on x86: int64's conversion (negatives wrap); from 2**63 on, the
    value less 2**63 converted, then the top bit set."""
    if isinstance(v.type, ir.HalfType):
        v = b.fpext(v, ir.FloatType())
    top = ir.Constant(v.type, 2.0**63)
    i64 = ir.IntType(64)
    high = b.xor(b.fptosi(b.fsub(v, top), i64), ir.Constant(i64, 1 << 63))
    return b.select(b.fcmp_ordered(">=", v, top), high, b.fptosi(v, i64))


def emit_cast(b: ir.IRBuilder, v: ir.Value, src: str, dst: str) -> ir.Value:
    """numpy's astype from `src` to `dst` (to bool: != 0, so nan is True)."""
    if src == dst:
        return v
    to = ll_type(dst)
    if dst == "bool":
        if is_float(src):
            return b.fcmp_unordered("!=", v, constant(src, 0))
        return b.icmp_unsigned("!=", v, constant(src, 0))
    if {src, dst} == {"float64", "float16"} or (dst == "float16" and not is_float(src)):
        # x86 lowers these to compiler-rt calls (__truncdfhf2 ...) absent from the process;
        # through float32 would round twice
        raise NotLowerable(f"conversion from {src} to {dst}")
    if is_float(src) and is_float(dst):
        wider = {"float16": 0, "float32": 1, "float64": 2}
        return b.fpext(v, to) if wider[dst] > wider[src] else b.fptrunc(v, to)
    if is_float(src):
        # numpy (x86) converts to 8 and 16 bit ints through int32 and to uint32 through
        # int64, so nan / inf / negatives wrap as it does (nan -> int16 0, -1.0 -> uint8 255,
        # -2.0 -> uint32 2**32 - 2); fptoui is AVX-512's saturating conversion. Out of range
        # values (numpy's "invalid value in cast") follow x86 otherwise.
        if dst == "uint64":
            return _float_to_u64(b, v)
        via = 64 if dst == "uint32" else max(32, to.width)
        wide = b.fptosi(v, ir.IntType(via))
        return b.trunc(wide, to) if via > to.width else wide
    if is_float(dst):
        return b.sitofp(v, to) if is_signed(src) else b.uitofp(v, to)
    if to.width < v.type.width:
        return b.trunc(v, to)
    if to.width > v.type.width:
        return b.sext(v, to) if is_signed(src) else b.zext(v, to)
    return v


# --- per-kind building blocks ---------------------------------------------------------------


def _promoted(fn: Callable[[ir.IRBuilder, list], ir.Value]) -> Emitter:
    """A float function computed in float32 for float16 (numpy's float16 loops do that)."""

    def emit(b: ir.IRBuilder, args: list, dtype: str, out: str) -> ir.Value:
        if not is_float(dtype):
            raise NotLowerable(f"{dtype} input to a float function")
        if dtype == "float16":
            wide = [b.fpext(a, ir.FloatType()) for a in args]
            return b.fptrunc(fn(b, wide), ir.HalfType())
        return fn(b, args)

    return emit


def _vector_math(name: str) -> Emitter:
    return _promoted(lambda b, a: VECTOR_MATH[name](b, a[0]))


def _libm(cname: str) -> Emitter:
    """A libm function: `cname` for double, `cname + 'f'` for float."""

    def call(b: ir.IRBuilder, args: list) -> ir.Value:
        ty = args[0].type
        return libcall(b, cname if str(ty) == "double" else cname + "f", ty, args)

    return _promoted(call)


def _intrinsic(name: str) -> Emitter:
    return _promoted(lambda b, a: intrinsic(b, name, a[0].type, a))


def _by_kind(flt=None, sint=None, uint=None, boolean=None, name: str = "") -> Emitter:
    """Dispatch on the compute dtype; a missing kind is not lowerable."""
    table = {"f": flt, "i": sint, "u": uint, "b": boolean}

    def emit(b: ir.IRBuilder, args: list, dtype: str, out: str) -> ir.Value:
        kind = "b" if dtype == "bool" else dtype[0]
        fn = table[kind]
        if fn is None:
            raise NotLowerable(f"{name} on {dtype}")
        return fn(b, args, dtype)

    return emit


def _ident(b, a, d):
    return a[0]


def _int_safe_divisor(b: ir.IRBuilder, x: ir.Value, y: ir.Value, dtype: str):
    """y with 0 (and MIN / -1 for signed) replaced by 1, and whether y was 0."""
    zero = b.icmp_unsigned("==", y, constant(dtype, 0))
    bad = zero
    if is_signed(dtype):
        minimum = constant(dtype, -(1 << (y.type.width - 1)))
        overflow = b.and_(
            b.icmp_signed("==", x, minimum), b.icmp_signed("==", y, constant(dtype, -1))
        )
        bad = b.or_(zero, overflow)
    return b.select(bad, constant(dtype, 1), y), zero


def _int_floordiv(b, a, dtype):
    x, y = a
    safe, zero = _int_safe_divisor(b, x, y, dtype)
    if is_signed(dtype):
        q, r = b.sdiv(x, safe), b.srem(x, safe)
        # truncation rounds toward 0; floor needs one less when the signs differ
        adjust = b.and_(
            b.icmp_signed("!=", r, constant(dtype, 0)),
            b.icmp_signed("<", b.xor(r, safe), constant(dtype, 0)),
        )
        q = b.sub(q, b.zext(adjust, q.type))
    else:
        q = b.udiv(x, safe)
    return b.select(zero, constant(dtype, 0), q)


def _int_mod(b, a, dtype):
    x, y = a
    safe, zero = _int_safe_divisor(b, x, y, dtype)
    if is_signed(dtype):
        r = b.srem(x, safe)
        adjust = b.and_(
            b.icmp_signed("!=", r, constant(dtype, 0)),
            b.icmp_signed("<", b.xor(r, safe), constant(dtype, 0)),
        )
        r = b.select(adjust, b.add(r, safe), r)
    else:
        r = b.urem(x, safe)
    return b.select(zero, constant(dtype, 0), r)


def _float_divmod(b: ir.IRBuilder, x: ir.Value, y: ir.Value, dtype: str):
    """numpy's npy_divmod: (floor quotient, remainder with the divisor's sign)."""
    zero, one = constant(dtype, 0), constant(dtype, 1)
    mod = b.frem(x, y)
    div = b.fdiv(b.fsub(x, mod), y)
    mod_nonzero = b.fcmp_unordered("!=", mod, zero)
    signs_differ = b.icmp_unsigned(
        "!=", b.fcmp_ordered("<", y, zero), b.fcmp_ordered("<", mod, zero)
    )
    adjust = b.and_(mod_nonzero, signs_differ)
    mod = b.select(adjust, b.fadd(mod, y), mod)
    div = b.select(adjust, b.fsub(div, one), div)
    mod = b.select(mod_nonzero, mod, intrinsic(b, "copysign", x.type, [zero, y]))
    floor = intrinsic(b, "floor", x.type, [div])
    floor = b.select(
        b.fcmp_ordered(">", b.fsub(div, floor), constant(dtype, 0.5)), b.fadd(floor, one), floor
    )
    div_nonzero = b.fcmp_unordered("!=", div, zero)
    quotient = b.fdiv(x, y)
    floor = b.select(div_nonzero, floor, intrinsic(b, "copysign", x.type, [zero, quotient]))
    y_zero = b.fcmp_ordered("==", y, zero)
    return b.select(y_zero, quotient, floor), b.select(y_zero, b.frem(x, y), mod)


def _float_floordiv(b, a, dtype):
    return _float_divmod(b, a[0], a[1], dtype)[0]


def _float_mod(b, a, dtype):
    return _float_divmod(b, a[0], a[1], dtype)[1]


def _fmax(b, a, dtype):
    x, y = a  # numpy: x if x > y or x is nan, else y (so y wins ties and its nan propagates)
    pick = b.or_(b.fcmp_ordered(">", x, y), b.fcmp_unordered("uno", x, x))
    return b.select(pick, x, y)


def _fmin(b, a, dtype):
    x, y = a
    pick = b.or_(b.fcmp_ordered("<", x, y), b.fcmp_unordered("uno", x, x))
    return b.select(pick, x, y)


def _imax(cmp):
    return lambda b, a, d: b.select(cmp(b, a[0], a[1]), a[0], a[1])


def _fsgn(b, a, dtype):
    x = a[0]
    one, zero = constant(dtype, 1), constant(dtype, 0)
    res = b.select(b.fcmp_ordered("==", x, zero), zero, x)  # +0 for +-0, nan stays
    res = b.select(b.fcmp_ordered("<", x, zero), constant(dtype, -1), res)
    return b.select(b.fcmp_ordered(">", x, zero), one, res)


def _isgn(b, a, dtype):
    x = a[0]
    pos = b.zext(b.icmp_signed(">", x, constant(dtype, 0)), x.type)
    neg = b.zext(b.icmp_signed("<", x, constant(dtype, 0)), x.type)
    return b.sub(pos, neg)


def _round_half_away(b, a, dtype):
    # perform's formula, kept as is: t + (sign(x) if |x - t| >= 0.5 else 0) (so -0.3 -> +0.0)
    x = a[0]
    t = intrinsic(b, "trunc", x.type, [x])
    frac = intrinsic(b, "fabs", x.type, [b.fsub(x, t)])
    step = b.select(
        b.fcmp_ordered(">=", frac, constant(dtype, 0.5)), _fsgn(b, [x], dtype), constant(dtype, 0)
    )
    return b.fadd(t, step)


def _float_only(fn) -> Emitter:
    return _by_kind(flt=fn)


def _rounding(name: str) -> Emitter:
    # numpy 2 keeps integers as they are under floor / ceil / trunc / round
    return _by_kind(
        flt=lambda b, a, d: intrinsic(b, name, a[0].type, a),
        sint=_ident,
        uint=_ident,
        boolean=_ident,
        name=name,
    )


def _compare(fop: str, sop: str) -> Emitter:
    def emit(b, args, dtype, out):
        x, y = args
        if is_float(dtype):
            if fop == "!=":
                return b.fcmp_unordered("!=", x, y)  # nan != anything
            return b.fcmp_ordered(fop, x, y)
        if is_signed(dtype):
            return b.icmp_signed(sop, x, y)
        return b.icmp_unsigned(sop, x, y)

    return emit


def _clip(b, args, dtype, out):
    lo = LLVM_SCALAR["maximum"](b, args[:2], dtype, out)
    return LLVM_SCALAR["minimum"](b, [lo, args[2]], dtype, out)


def _isinf(b, a, dtype):
    mag = intrinsic(b, "fabs", a[0].type, a)
    return b.fcmp_ordered("==", mag, constant(dtype, float("inf")))


def _false(b, a, d):
    return ir.Constant(ir.IntType(1), 0)


def _float_binop(op: str):
    return lambda b, a, d: getattr(b, op)(a[0], a[1], flags=F)


def _cast_to(dtype: str) -> Emitter:
    return lambda b, args, src, out: emit_cast(b, args[0], src, dtype)


# fmt: off
LLVM_SCALAR: dict[str, Emitter] = {
    "add": _by_kind(_float_binop("fadd"), lambda b, a, d: b.add(*a), lambda b, a, d: b.add(*a),
                    lambda b, a, d: b.or_(*a), "add"),
    "mul": _by_kind(_float_binop("fmul"), lambda b, a, d: b.mul(*a), lambda b, a, d: b.mul(*a),
                    lambda b, a, d: b.and_(*a), "mul"),
    "sub": _by_kind(_float_binop("fsub"), lambda b, a, d: b.sub(*a), lambda b, a, d: b.sub(*a),
                    name="sub"),
    "true_div": _float_only(_float_binop("fdiv")),
    "int_div": _by_kind(_float_floordiv, _int_floordiv, _int_floordiv, name="int_div"),
    "mod": _by_kind(_float_mod, _int_mod, _int_mod, name="mod"),
    "pow": _intrinsic("pow"),
    "maximum": _by_kind(_fmax, _imax(lambda b, x, y: b.icmp_signed(">", x, y)),
                        _imax(lambda b, x, y: b.icmp_unsigned(">", x, y)),
                        lambda b, a, d: b.or_(*a), "maximum"),
    "minimum": _by_kind(_fmin, _imax(lambda b, x, y: b.icmp_signed("<", x, y)),
                        _imax(lambda b, x, y: b.icmp_unsigned("<", x, y)),
                        lambda b, a, d: b.and_(*a), "minimum"),
    "arctan2": _libm("atan2"),
    "neg": _by_kind(lambda b, a, d: b.fneg(a[0]), lambda b, a, d: b.neg(a[0]),
                    lambda b, a, d: b.neg(a[0]), name="neg"),
    "identity": lambda b, args, dtype, out: args[0],
    "abs": _by_kind(lambda b, a, d: intrinsic(b, "fabs", a[0].type, a),
                    lambda b, a, d: b.select(b.icmp_signed("<", a[0], constant(d, 0)),
                                             b.neg(a[0]), a[0]), _ident, _ident, "abs"),
    "sgn": _by_kind(_fsgn, _isgn, lambda b, a, d: b.zext(b.icmp_unsigned(
        "!=", a[0], constant(d, 0)), a[0].type), name="sgn"),
    "sqr": _by_kind(lambda b, a, d: b.fmul(a[0], a[0], flags=F), lambda b, a, d: b.mul(a[0], a[0]),
                    lambda b, a, d: b.mul(a[0], a[0]), _ident, "sqr"),
    "sqrt": _intrinsic("sqrt"),
    "floor": _rounding("floor"), "ceil": _rounding("ceil"), "trunc": _rounding("trunc"),
    "round_half_to_even": _rounding("roundeven"),
    "round_half_away_from_zero": _by_kind(_round_half_away, _ident, _ident, name="round"),
    "sin": _libm("sin"), "cos": _libm("cos"), "tan": _libm("tan"),
    "arcsin": _libm("asin"), "arccos": _libm("acos"), "arctan": _libm("atan"),
    "sinh": _libm("sinh"), "cosh": _libm("cosh"),
    "arcsinh": _libm("asinh"), "arccosh": _libm("acosh"), "arctanh": _libm("atanh"),
    "erf": _libm("erf"), "erfc": _libm("erfc"),
    "clip": _clip,
    "switch": lambda b, args, dtype, out: b.select(*args),
    "second": lambda b, args, dtype, out: args[1],
    "lt": _compare("<", "<"), "gt": _compare(">", ">"), "le": _compare("<=", "<="),
    "ge": _compare(">=", ">="), "eq": _compare("==", "=="), "neq": _compare("!=", "!="),
    "isnan": _by_kind(lambda b, a, d: b.fcmp_unordered("uno", a[0], a[0]), _false, _false,
                      _false, "isnan"),
    "isinf": _by_kind(_isinf, _false, _false, _false, "isinf"),
    "and_": _by_kind(None, lambda b, a, d: b.and_(*a), lambda b, a, d: b.and_(*a),
                     lambda b, a, d: b.and_(*a), "and_"),
    "or_": _by_kind(None, lambda b, a, d: b.or_(*a), lambda b, a, d: b.or_(*a),
                    lambda b, a, d: b.or_(*a), "or_"),
    "xor": _by_kind(None, lambda b, a, d: b.xor(*a), lambda b, a, d: b.xor(*a),
                    lambda b, a, d: b.xor(*a), "xor"),
    "invert": _by_kind(None, lambda b, a, d: b.not_(a[0]), lambda b, a, d: b.not_(a[0]),
                       lambda b, a, d: b.not_(a[0]), "invert"),
    "real": lambda b, args, dtype, out: args[0],
    "imag": lambda b, args, dtype, out: constant(out, 0),
    "conj": lambda b, args, dtype, out: args[0],
}
# fmt: on
for _name in VECTOR_MATH:
    LLVM_SCALAR[_name] = _vector_math(_name)
for _dtype in (d for d in ALL_DTYPES if not d.startswith("complex")):
    LLVM_SCALAR[f"cast_{_dtype}"] = _cast_to(_dtype)


def emit_scalar(b: ir.IRBuilder, name: str, args: list, dtype: str, out: str) -> ir.Value:
    """The value of scalar op `name` on `args` (compute dtype `dtype`, result dtype `out`)."""
    if name in FALLBACK_OPS:
        raise NotLowerable(f"{name} runs its numpy reference")
    emitter = LLVM_SCALAR.get(name)
    if emitter is None:
        raise NotLowerable(f"no LLVM expression for the scalar op {name}")
    return emitter(b, args, dtype, out)
