/* Reductions on the GPU (codegen/cuda/renderer.py prepends the kernel's types and scalar
 * functions; codegen/cuda/steps.py launches one of the two kernels).
 *
 * The generated part opens a namespace named after the kernel (so many reductions can share
 * one translation unit) and defines in it: sg_in_t (input element), sg_out_t (output
 * element), sg_acc_t (the accumulator: at least 32 bits, so warp shuffles take it), the
 * constants SG_KEPT_ND and SG_RED_ND (>= 1), and the functions sg_value(x) (the kernel's value
 * of one input element, as sg_acc_t), sg_fold(a, b), sg_identity() and sg_store(acc) (the
 * accumulator as an output element); SG_REDUCE_ROWS and SG_REDUCE_COLS name the kernels.
 *
 * The input is viewed as (kept axes) x (reduced axes) with any strides, so no transpose is
 * needed: output element o folds the n_red elements of its row.
 *
 * - SG_REDUCE_ROWS: one block per output element, its threads striding over the row, then a
 *   tree within the block (warp shuffles, then one value per warp through shared memory).
 *   For rows that are contiguous (the innermost axis reduced): threads read neighbours.
 * - SG_REDUCE_COLS: one thread per output element, folding its row alone. For the innermost
 *   axis kept (e.g. the sum over a batch): neighbouring threads read neighbouring elements.
 */

constexpr int SG_KEPT_ND1 = SG_KEPT_ND > 0 ? SG_KEPT_ND : 1;

/* host-packed (codegen/cuda/steps.py, same order): every field an int64 */
struct sg_reduce_geom {
    int64_t n_kept, n_red;
    int64_t kept_shape[SG_KEPT_ND1], kept_xstride[SG_KEPT_ND1], kept_ostride[SG_KEPT_ND1];
    int64_t red_shape[SG_RED_ND], red_xstride[SG_RED_ND];
};

/* offsets (in elements) of output element o in the input and in the output */
SG_FN void sg_kept_offsets(const sg_reduce_geom &g, int64_t o, int64_t *xo, int64_t *oo)
{
    int64_t x = 0, y = 0;
#pragma unroll
    for (int d = SG_KEPT_ND - 1; d >= 0; d--) {
        const int64_t c = d > 0 ? o % g.kept_shape[d] : o;
        o = d > 0 ? o / g.kept_shape[d] : 0;
        x += c * g.kept_xstride[d];
        y += c * g.kept_ostride[d];
    }
    *xo = x;
    *oo = y;
}

/* offset (in elements) of element r of a row */
SG_FN int64_t sg_red_offset(const sg_reduce_geom &g, int64_t r)
{
    int64_t x = 0;
#pragma unroll
    for (int d = SG_RED_ND - 1; d > 0; d--) {
        x += (r % g.red_shape[d]) * g.red_xstride[d];
        r /= g.red_shape[d];
    }
    return x + r * g.red_xstride[0];
}

SG_FN sg_acc_t sg_warp_fold(sg_acc_t v)
{
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1)
        v = sg_fold(v, __shfl_down_sync(0xffffffffu, v, offset));
    return v;
}

/* the fold of every thread's v, in thread 0 (blockDim.x a multiple of 32) */
static __device__ sg_acc_t sg_block_fold(sg_acc_t v)
{
    __shared__ sg_acc_t partial[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = sg_warp_fold(v);
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    const int nwarps = (blockDim.x + 31) >> 5;
    v = (int)threadIdx.x < nwarps ? partial[lane] : sg_identity();
    if (warp == 0) v = sg_warp_fold(v);
    __syncthreads(); /* partial[] is written again for the next output element */
    return v;
}

extern "C" __global__ void __launch_bounds__(SG_BLOCK)
SG_REDUCE_ROWS(const sg_in_t *__restrict__ x, sg_out_t *__restrict__ out, const sg_reduce_geom g)
{
    for (int64_t o = blockIdx.x; o < g.n_kept; o += gridDim.x) {
        int64_t xo, oo;
        sg_kept_offsets(g, o, &xo, &oo);
        sg_acc_t acc = sg_identity();
        for (int64_t r = threadIdx.x; r < g.n_red; r += blockDim.x)
            acc = sg_fold(acc, sg_value(x[xo + sg_red_offset(g, r)]));
        acc = sg_block_fold(acc);
        if (threadIdx.x == 0) out[oo] = sg_store(acc);
    }
}

extern "C" __global__ void __launch_bounds__(SG_BLOCK)
SG_REDUCE_COLS(const sg_in_t *__restrict__ x, sg_out_t *__restrict__ out, const sg_reduce_geom g)
{
    for (int64_t o = sg_thread_index(); o < g.n_kept; o += sg_grid_stride()) {
        int64_t xo, oo;
        sg_kept_offsets(g, o, &xo, &oo);
        sg_acc_t acc = sg_identity();
        for (int64_t r = 0; r < g.n_red; r++)
            acc = sg_fold(acc, sg_value(x[xo + sg_red_offset(g, r)]));
        out[oo] = sg_store(acc);
    }
}
