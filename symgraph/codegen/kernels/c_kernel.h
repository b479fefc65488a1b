/* What a C kernel library exports (codegen/c.py) and its Python entry point reads (c_entry.c).
 *
 * A kernel library holds the loops of one kernel and one `sg_kernel_info` describing them.
 * The entry point is one generic function, built once per machine, that every kernel's
 * builtin calls with that kernel's info: so a kernel's source needs no Python header and
 * compiles in a fraction of the time.
 */
#ifndef SG_C_KERNEL_H
#define SG_C_KERNEL_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SG_FN static inline

/* elements [start, stop) of the flat range; every operand C-contiguous (or one element) */
typedef void sg_flat_fn(int64_t start, int64_t stop, char *const *data);
/* rows [start, stop) of axis 0, any layout; strides[k * ndim + d] in elements */
typedef void sg_strided_fn(int64_t start, int64_t stop, const int64_t *shape, char *const *data,
                           const int64_t *strides);
/* a reduction's output elements [start, stop) set to the identity of its fold */
typedef void sg_init_fn(char *data, int64_t start, int64_t stop);

typedef struct sg_kernel_info {
    int32_t nin, nout, ndim;
    int32_t reduce;           /* 0: elemwise, 1: fold input 0 over the axes flagged `reduced` */
    int32_t naxes;            /* how many axes are reduced */
    int32_t empty_is_error;   /* max / min: numpy raises on an empty axis */
    int64_t parallel_min;     /* from this many elements, ask the driver to split the work */
    int64_t gil_release_min;  /* from this many elements, run without the GIL */
    const unsigned char *bcast;    /* [nin][ndim]: input axes of static size 1 */
    const unsigned char *scalar;   /* [nin]: inputs of one element, read once */
    const int64_t *itemsize;       /* [nin + nout] */
    const unsigned char *reduced;  /* [ndim] */
    sg_flat_fn *flat;              /* elemwise only */
    sg_strided_fn *strided;
    sg_init_fn *init_output;       /* reduce only */
} sg_kernel_info;

#endif /* SG_C_KERNEL_H */
