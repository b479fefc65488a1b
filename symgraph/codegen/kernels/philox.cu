/* Philox4x32-10 random numbers on the GPU, bit for bit the stream of ops/philox.py (read its
 * docstring: the layout is normative). One thread computes one 4-word block j, with counter
 * (lo32(base + j), hi32(base + j), stream, 0), and writes the elements that read its words.
 * The affine map low + (high - low) * u rounds each operation on its own (__fmul_rn and
 * __fadd_rn: no FMA contraction), as numpy does. `key` packs k0 | k1 << 32.
 */

SG_FN void sg_philox4x32_10(uint32_t c[4], uint32_t k0, uint32_t k1)
{
#pragma unroll
    for (int round = 0; round < 10; round++) {
        if (round) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        const uint32_t hi0 = __umulhi(0xD2511F53u, c[0]), lo0 = 0xD2511F53u * c[0];
        const uint32_t hi1 = __umulhi(0xCD9E8D57u, c[2]), lo1 = 0xCD9E8D57u * c[2];
        const uint32_t n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
        c[0] = n0;
        c[1] = lo1;
        c[2] = n2;
        c[3] = lo0;
    }
}

SG_FN void sg_philox_block(uint64_t base, int64_t j, uint64_t key, uint64_t stream, uint32_t w[4])
{
    const uint64_t ctr = base + (uint64_t)j; /* mod 2^64 */
    w[0] = (uint32_t)ctr;
    w[1] = (uint32_t)(ctr >> 32);
    w[2] = (uint32_t)stream;
    w[3] = 0;
    sg_philox4x32_10(w, (uint32_t)key, (uint32_t)(key >> 32));
}

/* 53 random bits from two words: (a >> 5) * 2^26 + (b >> 6), exact in double */
SG_FN double sg_unit53(uint32_t a, uint32_t b)
{
    return (double)(a >> 5) * 67108864.0 + (double)(b >> 6);
}

/* uniform float32: element i = W[i]: u = (W >> 8) * 2^-24 */
extern "C" __global__ void __launch_bounds__(SG_BLOCK)
sg_uniform_f32(float *__restrict__ out, int64_t n, uint64_t base, uint64_t key, uint64_t stream,
               double low, double high)
{
    const float lo = (float)low, hi = (float)high, width = __fsub_rn(hi, lo);
    for (int64_t j = sg_thread_index(); j < (n + 3) / 4; j += sg_grid_stride()) {
        uint32_t w[4];
        sg_philox_block(base, j, key, stream, w);
#pragma unroll
        for (int k = 0; k < 4; k++) {
            const int64_t i = 4 * j + k;
            if (i >= n) break;
            const float u = __fmul_rn((float)(w[k] >> 8), 0x1p-24f);
            const float r = __fadd_rn(lo, __fmul_rn(width, u));
            out[i] = r >= hi ? nextafterf(hi, -INFINITY) : r;
        }
    }
}

/* uniform float64: element i = (W[2i], W[2i+1]): u = unit53 * 2^-53 */
extern "C" __global__ void __launch_bounds__(SG_BLOCK)
sg_uniform_f64(double *__restrict__ out, int64_t n, uint64_t base, uint64_t key,
               uint64_t stream, double low, double high)
{
    const double width = __dsub_rn(high, low);
    for (int64_t j = sg_thread_index(); j < (n + 1) / 2; j += sg_grid_stride()) {
        uint32_t w[4];
        sg_philox_block(base, j, key, stream, w);
#pragma unroll
        for (int k = 0; k < 2; k++) {
            const int64_t i = 2 * j + k;
            if (i >= n) break;
            const double u = sg_unit53(w[2 * k], w[2 * k + 1]) * 0x1p-53;
            const double r = __dadd_rn(low, __dmul_rn(width, u));
            out[i] = r >= high ? nextafter(high, -HUGE_VAL) : r;
        }
    }
}

/* normal by Box-Muller: pair m = i // 2 reads block m whole; computed in float64, then
 * mean + std * z rounded to the output type (log / cos / sin are CUDA's: an ulp may differ) */
template <typename T>
static __device__ void sg_normal(T *__restrict__ out, int64_t n, uint64_t base, uint64_t key,
                                 uint64_t stream, double mean, double std)
{
    for (int64_t m = sg_thread_index(); m < (n + 1) / 2; m += sg_grid_stride()) {
        uint32_t w[4];
        sg_philox_block(base, m, key, stream, w);
        const double u1 = (sg_unit53(w[0], w[1]) + 1.0) * 0x1p-53;
        const double u2 = (sg_unit53(w[2], w[3]) + 1.0) * 0x1p-53;
        const double rad = sqrt(__dmul_rn(-2.0, log(u1)));
        const double theta = __dmul_rn(6.283185307179586, u2);
        out[2 * m] = (T)__dadd_rn(mean, __dmul_rn(std, __dmul_rn(rad, cos(theta))));
        if (2 * m + 1 < n)
            out[2 * m + 1] = (T)__dadd_rn(mean, __dmul_rn(std, __dmul_rn(rad, sin(theta))));
    }
}

extern "C" __global__ void __launch_bounds__(SG_BLOCK)
sg_normal_f32(float *__restrict__ out, int64_t n, uint64_t base, uint64_t key, uint64_t stream,
              double mean, double std)
{
    sg_normal(out, n, base, key, stream, mean, std);
}

extern "C" __global__ void __launch_bounds__(SG_BLOCK)
sg_normal_f64(double *__restrict__ out, int64_t n, uint64_t base, uint64_t key,
              uint64_t stream, double mean, double std)
{
    sg_normal(out, n, base, key, stream, mean, std);
}
