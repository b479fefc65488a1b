/* conv2d's im2col / col2im and max pooling on the GPU (ops/conv.py, ops/conv_grad.py,
 * ops/pool.py; launched by codegen/cuda/steps_conv.py). The generated part defines sg_t (float
 * or double), then this file follows. Every kernel is a grid-stride loop over the elements it
 * writes (so every write is coalesced and no two threads write one element: no atomics, and
 * the same result on every run).
 *
 * The column matrix is the compact layout of ops/conv_kernels.py: (C * kh * kw, N * oh * ow),
 * row (c, i, j), column (n, oy, ox); the rows of a group are consecutive, so the columns of
 * group g are rows g * K .. (g + 1) * K, K = C / G * kh * kw. With `flip` (a true convolution)
 * row (c, i, j) holds the pixel that filter tap (kh - 1 - i, kw - 1 - j) meets: the filters are
 * then used as they are stored (OIHW, no flipped copy), and the gradient of the filters comes
 * out of the GEMM unflipped.
 */

SG_FN int64_t sg_min64(int64_t a, int64_t b) { return a < b ? a : b; }
SG_FN int64_t sg_max64(int64_t a, int64_t b) { return a > b ? a : b; }

typedef struct {
    int64_t n, c, h, w;           /* the image */
    int64_t s0, s1, s2, s3;       /* its strides, in elements */
    int64_t kh, kw, oh, ow;       /* filter taps, output size */
    int64_t pt, pl, sh, sw, dh, dw; /* top / left padding, strides, dilation */
    int64_t flip;
} sg_conv_geom;

/* cols[(c, i, j), (n, oy, ox)] = the (zero-padded) image pixel that tap (i, j) meets there */
extern "C" __global__ void __launch_bounds__(SG_BLOCK)
sg_im2col(const sg_t *__restrict__ x, sg_t *__restrict__ cols, const sg_conv_geom g)
{
    const int64_t p = g.oh * g.ow, np = g.n * p, total = g.c * g.kh * g.kw * np;
    for (int64_t e = sg_thread_index(); e < total; e += sg_grid_stride()) {
        const int64_t col = e % np, row = e / np;
        const int64_t n = col / p, q = col % p, oy = q / g.ow, ox = q % g.ow;
        const int64_t j = row % g.kw, i = (row / g.kw) % g.kh, c = row / (g.kw * g.kh);
        const int64_t ti = g.flip ? g.kh - 1 - i : i, tj = g.flip ? g.kw - 1 - j : j;
        const int64_t y = oy * g.sh - g.pt + ti * g.dh, xx = ox * g.sw - g.pl + tj * g.dw;
        const bool inside = y >= 0 && y < g.h && xx >= 0 && xx < g.w;
        cols[e] = inside ? x[n * g.s0 + c * g.s1 + y * g.s2 + xx * g.s3] : (sg_t)0;
    }
}

/* The adjoint of sg_im2col: gx[n, c, y, x] (C-contiguous) = the sum of the column entries
 * that read pixel (y, x), gathered per pixel (taps in order, rows then columns). */
extern "C" __global__ void __launch_bounds__(SG_BLOCK)
sg_col2im(const sg_t *__restrict__ cols, sg_t *__restrict__ gx, const sg_conv_geom g)
{
    const int64_t p = g.oh * g.ow, np = g.n * p, total = g.n * g.c * g.h * g.w;
    for (int64_t e = sg_thread_index(); e < total; e += sg_grid_stride()) {
        const int64_t xx = e % g.w, y = (e / g.w) % g.h, c = (e / (g.w * g.h)) % g.c;
        const int64_t n = e / (g.w * g.h * g.c);
        sg_t acc = 0;
        for (int64_t ti = 0; ti < g.kh; ti++) {
            const int64_t ty = y + g.pt - ti * g.dh;
            if (ty < 0) break; /* smaller still for the next taps */
            if (ty % g.sh || ty / g.sh >= g.oh) continue;
            const int64_t oy = ty / g.sh, i = g.flip ? g.kh - 1 - ti : ti;
            for (int64_t tj = 0; tj < g.kw; tj++) {
                const int64_t tx = xx + g.pl - tj * g.dw;
                if (tx < 0) break;
                if (tx % g.sw || tx / g.sw >= g.ow) continue;
                const int64_t ox = tx / g.sw, j = g.flip ? g.kw - 1 - tj : tj;
                acc += cols[((c * g.kh + i) * g.kw + j) * np + n * p + oy * g.ow + ox];
            }
        }
        gx[e] = acc;
    }
}

typedef struct {
    int64_t planes, h, w, oh, ow; /* C-contiguous (planes, h, w) in, (planes, oh, ow) out */
    int64_t wh, ww, sh, sw, ph, pw; /* window, stride, padding */
} sg_pool_geom;

/* max(m, v), NaN when either is NaN (numpy's maximum) */
#define SG_MAXNAN(m, v) (((v) <= (m) || (m) != (m)) ? (m) : (v))

/* z = the max of each window, clipped to the image (padding never wins a max; every window
 * holds at least one pixel of the image: the op checks pad < ws) */
extern "C" __global__ void __launch_bounds__(SG_BLOCK)
sg_maxpool(const sg_t *__restrict__ x, sg_t *__restrict__ z, const sg_pool_geom g)
{
    const int64_t total = g.planes * g.oh * g.ow;
    for (int64_t e = sg_thread_index(); e < total; e += sg_grid_stride()) {
        const int64_t ox = e % g.ow, oy = (e / g.ow) % g.oh, plane = e / (g.ow * g.oh);
        const int64_t y0 = oy * g.sh - g.ph, x0 = ox * g.sw - g.pw;
        const int64_t y1 = sg_min64(y0 + g.wh, g.h), x1 = sg_min64(x0 + g.ww, g.w);
        const sg_t *xp = x + plane * g.h * g.w;
        sg_t m = -INFINITY;
        for (int64_t y = sg_max64(y0, 0); y < y1; y++)
            for (int64_t xx = sg_max64(x0, 0); xx < x1; xx++)
                m = SG_MAXNAN(m, xp[y * g.w + xx]);
        z[e] = m;
    }
}

/* gx[pixel] = the sum, over the windows holding it, of gz where the pixel equals the window's
 * max (ties each get all of it; NaN equals nothing); 0 where no window covers it */
extern "C" __global__ void __launch_bounds__(SG_BLOCK)
sg_maxpool_grad(const sg_t *__restrict__ x, const sg_t *__restrict__ z,
                const sg_t *__restrict__ gz, sg_t *__restrict__ gx, const sg_pool_geom g)
{
    const int64_t total = g.planes * g.h * g.w;
    for (int64_t e = sg_thread_index(); e < total; e += sg_grid_stride()) {
        const int64_t xx = e % g.w, y = (e / g.w) % g.h, plane = e / (g.w * g.h);
        const int64_t py = y + g.ph, px = xx + g.pw; /* in the padded image */
        /* windows oy with oy * sh <= py < oy * sh + wh, and oy < oh */
        const int64_t oy0 = py >= g.wh ? (py - g.wh) / g.sh + 1 : 0;
        const int64_t ox0 = px >= g.ww ? (px - g.ww) / g.sw + 1 : 0;
        const int64_t oy1 = sg_min64(py / g.sh + 1, g.oh), ox1 = sg_min64(px / g.sw + 1, g.ow);
        const sg_t v = x[e];
        const int64_t base = plane * g.oh * g.ow;
        sg_t acc = 0;
        for (int64_t oy = oy0; oy < oy1; oy++)
            for (int64_t ox = ox0; ox < ox1; ox++) {
                const int64_t o = base + oy * g.ow + ox;
                acc += v == z[o] ? gz[o] : (sg_t)0;
            }
        gx[e] = acc;
    }
}
