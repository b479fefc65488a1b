/* 2x2 max pooling with stride 2 over the last two axes, and its gradient (ops/pool.py: Pool and
 * MaxPoolGrad, mode 'max', ws = stride = (2, 2), no padding, every window inside the image),
 * for C-contiguous float32 / float64 arrays; codegen/pool_native.py builds and calls it.
 *
 * numpy does the gradient as a comparison and a product per window offset, each a strided
 * operation with inner loops ow long: 4-6x slower than this one pass on 26x26 images (about
 * the same at 11x11). Other window shapes stay with numpy: a general loop over clipped windows
 * measured slower than numpy here.
 *
 * The semantics are the reference's: the max is NaN when the window holds a NaN (as
 * np.maximum); the gradient goes to every pixel equal to its window's max (ties each get all of
 * it; NaN equals nothing), and is 0 on the rows and columns no window covers.
 */
#include <string.h>

typedef struct {
    long planes, h, w, oh, ow;
} sg_pool2d;

/* max(m, v), NaN when either is NaN */
#define SG_MAX(m, v) (((v) <= (m) || (m) != (m)) ? (m) : (v))

#define SG_POOL_KERNELS(T, SUFFIX)                                                            \
    void sg_maxpool2x2_##SUFFIX(const sg_pool2d *p, const T *restrict x, T *restrict z)        \
    {                                                                                         \
        for (long plane = 0; plane < p->planes; plane++)                                      \
            for (long oy = 0; oy < p->oh; oy++) {                                             \
                const T *a = x + (plane * p->h + 2 * oy) * p->w, *b = a + p->w;               \
                T *zr = z + (plane * p->oh + oy) * p->ow;                                     \
                for (long ox = 0; ox < p->ow; ox++) {                                         \
                    T m = SG_MAX(a[2 * ox], a[2 * ox + 1]);                                   \
                    m = SG_MAX(m, b[2 * ox]);                                                 \
                    zr[ox] = SG_MAX(m, b[2 * ox + 1]);                                        \
                }                                                                             \
            }                                                                                 \
    }                                                                                         \
                                                                                              \
    void sg_maxpool2x2_grad_##SUFFIX(const sg_pool2d *p, const T *restrict x,                 \
                                     const T *restrict z, const T *restrict gz,               \
                                     T *restrict gx)                                          \
    {                                                                                         \
        long w = p->w;                                                                        \
        for (long plane = 0; plane < p->planes; plane++) {                                    \
            for (long oy = 0; oy < p->oh; oy++) {                                             \
                const T *a = x + (plane * p->h + 2 * oy) * w, *b = a + w;                     \
                T *ga = gx + (plane * p->h + 2 * oy) * w, *gb = ga + w;                       \
                const T *zr = z + (plane * p->oh + oy) * p->ow;                               \
                const T *gr = gz + (plane * p->oh + oy) * p->ow;                              \
                for (long ox = 0; ox < p->ow; ox++) { /* selects: where the max is is random */ \
                    T m = zr[ox], g = gr[ox];                                                 \
                    ga[2 * ox] = a[2 * ox] == m ? g : (T)0;                                   \
                    ga[2 * ox + 1] = a[2 * ox + 1] == m ? g : (T)0;                           \
                    gb[2 * ox] = b[2 * ox] == m ? g : (T)0;                                   \
                    gb[2 * ox + 1] = b[2 * ox + 1] == m ? g : (T)0;                           \
                }                                                                             \
                for (long xx = 2 * p->ow; xx < w; xx++)                                       \
                    ga[xx] = gb[xx] = 0;                                                      \
            }                                                                                 \
            for (long y = 2 * p->oh; y < p->h; y++)                                           \
                memset(gx + (plane * p->h + y) * w, 0, sizeof(T) * w);                        \
        }                                                                                     \
    }

SG_POOL_KERNELS(float, f32)
SG_POOL_KERNELS(double, f64)
