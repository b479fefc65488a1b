/* symgraph scalar helpers: numpy's meaning for the scalar ops that C has no operator for.
 *
 * Shared by the C and the CUDA renderers (codegen/cstyle.py): the including source defines
 * SG_FN first (`static inline` in C, `static __device__ __forceinline__` in CUDA) and has
 * included <math.h> and <stdint.h> (or their CUDA equivalents). Every function here restates
 * the numpy (or scipy) loop it mirrors; the numpy `perform` of the op is the reference.
 */
#ifndef SG_SCALAR_H
#define SG_SCALAR_H

#ifndef SG_FN
#define SG_FN static inline
#endif

/* maximum / minimum: x if x wins or x is nan, else y (so a nan on either side propagates) */
SG_FN float sg_fmaxf(float x, float y) { return (x > y || x != x) ? x : y; }
SG_FN double sg_fmax(double x, double y) { return (x > y || x != x) ? x : y; }
SG_FN float sg_fminf(float x, float y) { return (x < y || x != x) ? x : y; }
SG_FN double sg_fmin(double x, double y) { return (x < y || x != x) ? x : y; }

/* np.sign: -1, +1, +0 for either zero, nan stays nan */
SG_FN float sg_sgnf(float x) { return x > 0 ? 1.0f : (x < 0 ? -1.0f : (x == 0 ? 0.0f : x)); }
SG_FN double sg_sgn(double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : (x == 0 ? 0.0 : x)); }

/* numpy's float -> uint64 on x86: int64's conversion, so negatives wrap; from 2**63 on, the
 * value less 2**63 converted, then the top bit set (a plain cast is AVX-512's saturating
 * vcvttsd2usi under -march=native) */
SG_FN uint64_t sg_to_u64(double x)
{
    const double top = 9223372036854775808.0; /* 2**63 */
    if (x >= top) return (uint64_t)(int64_t)(x - top) ^ 0x8000000000000000ULL;
    return (uint64_t)(int64_t)x;
}

/* round_half_away_from_zero's perform: t + (sign(x) if |x - t| >= 0.5 else 0), t = trunc(x) */
SG_FN float sg_round_awayf(float x)
{
    const float t = truncf(x);
    return t + (fabsf(x - t) >= 0.5f ? sg_sgnf(x) : 0.0f);
}
SG_FN double sg_round_away(double x)
{
    const double t = trunc(x);
    return t + (fabs(x - t) >= 0.5 ? sg_sgn(x) : 0.0);
}

/* numpy's npy_divmod for floats: the floor quotient, and a remainder with the divisor's sign.
 * Division by zero gives x / y (+-inf or nan) and fmod's nan, as numpy does. */
#define SG_FLOAT_DIVMOD(T, S, SFX)                                                             \
    SG_FN T sg_floordiv##S(T x, T y)                                                           \
    {                                                                                          \
        if (y == 0) return x / y;                                                              \
        T mod = fmod##SFX(x, y);                                                               \
        T div = (x - mod) / y;                                                                 \
        if (mod != 0 && ((y < 0) != (mod < 0))) div -= 1;                                      \
        if (div != 0) {                                                                        \
            T floordiv = floor##SFX(div);                                                      \
            return div - floordiv > (T)0.5 ? floordiv + 1 : floordiv;                          \
        }                                                                                      \
        return copysign##SFX((T)0, x / y);                                                     \
    }                                                                                          \
    SG_FN T sg_mod##S(T x, T y)                                                                \
    {                                                                                          \
        if (y == 0) return fmod##SFX(x, y);                                                    \
        T mod = fmod##SFX(x, y);                                                               \
        if (mod != 0) return ((y < 0) != (mod < 0)) ? mod + y : mod;                           \
        return copysign##SFX((T)0, y);                                                         \
    }
SG_FLOAT_DIVMOD(float, f, f)
SG_FLOAT_DIVMOD(double, , )

/* scipy's expit, stable for large |x| */
SG_FN float sg_sigmoidf(float x)
{
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    const float e = expf(x);
    return e / (1.0f + e);
}
SG_FN double sg_sigmoid(double x)
{
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    const double e = exp(x);
    return e / (1.0 + e);
}

/* np.logaddexp(0, x) = max(x, 0) + log1p(exp(-|x|)); nan stays nan */
SG_FN float sg_softplusf(float x)
{
    return x != x ? x : (x > 0 ? x : 0.0f) + log1pf(expf(-fabsf(x)));
}
SG_FN double sg_softplus(double x)
{
    return x != x ? x : (x > 0 ? x : 0.0) + log1p(exp(-fabs(x)));
}

/* Integer floor division and modulo as numpy: x // 0 == x % 0 == 0 (numpy warns), and
 * MIN // -1 wraps to MIN; the divisor is made safe first so C never divides by 0 or overflows. */
#define SG_SIGNED_DIVMOD(T, S, MIN)                                                            \
    SG_FN T sg_floordiv_##S(T x, T y)                                                          \
    {                                                                                          \
        const T safe = (y == 0 || (x == (MIN) && y == -1)) ? 1 : y;                            \
        T q = (T)(x / safe);                                                                   \
        const T r = (T)(x % safe);                                                             \
        if (r != 0 && ((r < 0) != (safe < 0))) q = (T)(q - 1);                                 \
        return y == 0 ? 0 : q;                                                                 \
    }                                                                                          \
    SG_FN T sg_mod_##S(T x, T y)                                                               \
    {                                                                                          \
        const T safe = (y == 0 || (x == (MIN) && y == -1)) ? 1 : y;                            \
        T r = (T)(x % safe);                                                                   \
        if (r != 0 && ((r < 0) != (safe < 0))) r = (T)(r + safe);                              \
        return y == 0 ? 0 : r;                                                                 \
    }
#define SG_UNSIGNED_DIVMOD(T, S)                                                               \
    SG_FN T sg_floordiv_##S(T x, T y) { return y == 0 ? 0 : (T)(x / y); }                      \
    SG_FN T sg_mod_##S(T x, T y) { return y == 0 ? 0 : (T)(x % y); }
SG_SIGNED_DIVMOD(int8_t, i8, INT8_MIN)
SG_SIGNED_DIVMOD(int16_t, i16, INT16_MIN)
SG_SIGNED_DIVMOD(int32_t, i32, INT32_MIN)
SG_SIGNED_DIVMOD(int64_t, i64, INT64_MIN)
SG_UNSIGNED_DIVMOD(uint8_t, u8)
SG_UNSIGNED_DIVMOD(uint16_t, u16)
SG_UNSIGNED_DIVMOD(uint32_t, u32)
SG_UNSIGNED_DIVMOD(uint64_t, u64)

#endif /* SG_SCALAR_H */
