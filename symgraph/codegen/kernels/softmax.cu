/* Softmax, log-softmax and the fused softmax cross-entropy on the GPU (ops/nnet.py's ops;
 * launched by codegen/cuda/steps_nnet.py). The generated part defines sg_t (float or double)
 * and sg_label_t (the labels' integer type), then this file follows.
 *
 * One block per row (a grid-stride loop over rows): a block-wide max, a block-wide sum of
 * exponentials, then the row written. Strides are in elements. Each formula restates the
 * op's numpy `perform`, operation for operation.
 */

template <typename T> struct sg_max { /* numpy's max: a nan anywhere wins */
    __device__ T operator()(T a, T b) const { return (a > b || a != a) ? a : b; }
};
template <typename T> struct sg_sum {
    __device__ T operator()(T a, T b) const { return a + b; }
};

/* The fold of every thread's v, returned to every thread (blockDim.x a multiple of 32). */
template <typename T, typename Op> static __device__ T sg_block_reduce(T v, Op op, T identity)
{
    __shared__ T partial[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1)
        v = op(v, __shfl_down_sync(0xffffffffu, v, offset));
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        const int nwarps = (blockDim.x + 31) >> 5;
        v = lane < nwarps ? partial[lane] : identity;
#pragma unroll
        for (int offset = 16; offset > 0; offset >>= 1)
            v = op(v, __shfl_down_sync(0xffffffffu, v, offset));
        if (lane == 0) partial[0] = v;
    }
    __syncthreads();
    v = partial[0];
    __syncthreads(); /* partial[] is written again by the next reduction */
    return v;
}

/* exp(x - max) / sum(exp(x - max)), or with `log`: (x - max) - log(sum(exp(x - max))) */
template <bool log_softmax>
static __device__ void sg_softmax_rows(const sg_t *__restrict__ x, sg_t *__restrict__ out,
                                       int64_t rows, int64_t cols, int64_t xs0, int64_t xs1,
                                       int64_t os0, int64_t os1)
{
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const sg_t *xr = x + r * xs0;
        sg_t *orow = out + r * os0;
        sg_t m = -INFINITY;
        for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
            m = sg_max<sg_t>()(m, xr[j * xs1]);
        m = sg_block_reduce(m, sg_max<sg_t>(), (sg_t)-INFINITY);
        sg_t total = 0;
        for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) total += exp(xr[j * xs1] - m);
        total = sg_block_reduce(total, sg_sum<sg_t>(), (sg_t)0);
        const sg_t log_total = log(total);
        for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
            const sg_t z = xr[j * xs1] - m;
            orow[j * os1] = log_softmax ? z - log_total : exp(z) / total;
        }
    }
}

extern "C" __global__ void __launch_bounds__(SG_BLOCK)
sg_softmax(const sg_t *__restrict__ x, sg_t *__restrict__ out, int64_t rows, int64_t cols,
           int64_t xs0, int64_t xs1, int64_t os0, int64_t os1)
{
    sg_softmax_rows<false>(x, out, rows, cols, xs0, xs1, os0, os1);
}

extern "C" __global__ void __launch_bounds__(SG_BLOCK)
sg_log_softmax(const sg_t *__restrict__ x, sg_t *__restrict__ out, int64_t rows, int64_t cols,
               int64_t xs0, int64_t xs1, int64_t os0, int64_t os1)
{
    sg_softmax_rows<true>(x, out, rows, cols, xs0, xs1, os0, os1);
}

/* (value, index) of the first maximum; a nan counts as the maximum, as np.argmax does */
struct sg_arg {
    sg_t v;
    int64_t i;
};
SG_FN sg_arg sg_arg_better(sg_arg a, sg_arg b)
{
    const bool a_nan = a.v != a.v, b_nan = b.v != b.v;
    if (a_nan || b_nan) return (a_nan && (!b_nan || a.i < b.i)) ? a : b;
    if (a.v != b.v) return a.v > b.v ? a : b;
    return a.i < b.i ? a : b;
}

static __device__ sg_arg sg_block_argmax(sg_arg v)
{
    __shared__ sg_t values[32];
    __shared__ int64_t indices[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int offset = 16; offset > 0; offset >>= 1) {
        const sg_arg other = {__shfl_down_sync(0xffffffffu, v.v, offset),
                              __shfl_down_sync(0xffffffffu, v.i, offset)};
        v = sg_arg_better(v, other);
    }
    if (lane == 0) {
        values[warp] = v.v;
        indices[warp] = v.i;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        const int nwarps = (blockDim.x + 31) >> 5;
        for (int w = 1; w < nwarps; w++) v = sg_arg_better(v, sg_arg{values[w], indices[w]});
        values[0] = v.v;
        indices[0] = v.i;
    }
    __syncthreads();
    v = sg_arg{values[0], indices[0]};
    __syncthreads();
    return v;
}

/* CrossentropySoftmaxArgmax1HotWithBias: z = x + b; nll = log(sum(exp(z - max))) -
 * (z[y] - max); sm = exp(z - max) / sum; am = argmax(z). Labels were checked by the host
 * when it had them; here they are clamped so a bad one cannot read out of bounds. */
extern "C" __global__ void __launch_bounds__(SG_BLOCK)
sg_xent_softmax_bias(const sg_t *__restrict__ x, const sg_t *__restrict__ b,
                     const sg_label_t *__restrict__ y, sg_t *__restrict__ nll,
                     sg_t *__restrict__ sm, sg_label_t *__restrict__ am, int64_t rows,
                     int64_t cols, int64_t xs0, int64_t xs1, int64_t bs, int64_t ys)
{
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const sg_t *xr = x + r * xs0;
        sg_arg best = {-INFINITY, cols};
        for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
            best = sg_arg_better(best, sg_arg{xr[j * xs1] + b[j * bs], j});
        best = sg_block_argmax(best);
        const sg_t m = best.v;
        sg_t total = 0;
        for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
            total += exp((xr[j * xs1] + b[j * bs]) - m);
        total = sg_block_reduce(total, sg_sum<sg_t>(), (sg_t)0);
        for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
            sm[r * cols + j] = exp((xr[j * xs1] + b[j * bs]) - m) / total;
        if (threadIdx.x == 0) {
            int64_t label = (int64_t)y[r * ys];
            label = label < 0 ? 0 : (label >= cols ? cols - 1 : label);
            nll[r] = log(total) - ((xr[label * xs1] + b[label * bs]) - m);
            am[r] = (sg_label_t)best.i;
        }
    }
}

/* CrossentropySoftmax1HotWithBiasDx: dx = (sm - one_hot(y)) * dy[:, None]; dy is a pointer,
 * or (null pointer) the one value dy_value every row shares. dx is C-contiguous. */
extern "C" __global__ void __launch_bounds__(SG_BLOCK)
sg_xent_dx(const sg_t *__restrict__ dy, sg_t dy_value, const sg_t *__restrict__ sm,
           const sg_label_t *__restrict__ y, sg_t *__restrict__ dx, int64_t rows, int64_t cols,
           int64_t dys, int64_t sms0, int64_t sms1, int64_t ys)
{
    for (int64_t i = sg_thread_index(); i < rows * cols; i += sg_grid_stride()) {
        const int64_t r = i / cols, j = i % cols;
        sg_t v = sm[r * sms0 + j * sms1];
        if (j == (int64_t)y[r * ys]) v -= 1;
        dx[i] = v * (dy ? dy[r * dys] : dy_value);
    }
}

/* CrossentropyCategorical1Hot: nll[r] = -log(c[r, y[r]]) (labels checked by the host) */
extern "C" __global__ void __launch_bounds__(SG_BLOCK)
sg_xent_1hot(const sg_t *__restrict__ c, const sg_label_t *__restrict__ y,
             sg_t *__restrict__ nll, int64_t rows, int64_t cols, int64_t cs0, int64_t cs1,
             int64_t ys)
{
    for (int64_t r = sg_thread_index(); r < rows; r += sg_grid_stride()) {
        int64_t label = (int64_t)y[r * ys];
        label = label < 0 ? 0 : (label >= cols ? cols - 1 : label);
        nll[r] = -log(c[r * cs0 + label * cs1]);
    }
}
