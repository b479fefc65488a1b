/* The start of every CUDA kernel source (codegen/cuda/renderer.py): types, math, helpers. */
#ifndef SG_CUDA_PRELUDE_H
#define SG_CUDA_PRELUDE_H

#include <cstdint>
#include <cuda_fp16.h>
#include <math.h>

#define SG_FN __device__ __forceinline__ /* not static: no "unused" warnings */
#define SG_BLOCK 256 /* threads per block of every symgraph kernel (codegen/cuda/driver.py) */

/* the global index of this thread, and the stride of a grid-stride loop */
SG_FN int64_t sg_thread_index() { return (int64_t)blockIdx.x * blockDim.x + threadIdx.x; }
SG_FN int64_t sg_grid_stride() { return (int64_t)blockDim.x * gridDim.x; }

#include "scalar.h"

/* scalar.h's sg_sigmoid without its branch, which a warp of mixed signs would take both ways
 * (an exp and a division each): the same operations on the same values, so the same bits */
SG_FN float sg_cuda_sigmoidf(float x)
{
    const float e = expf(-fabsf(x));
    return (x >= 0 ? 1.0f : e) / (1.0f + e);
}
SG_FN double sg_cuda_sigmoid(double x)
{
    const double e = exp(-fabs(x));
    return (x >= 0 ? 1.0 : e) / (1.0 + e);
}

#endif /* SG_CUDA_PRELUDE_H */
