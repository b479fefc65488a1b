/* The start of every CUDA kernel source (codegen/cuda/renderer.py): types, math, helpers. */
#ifndef SG_CUDA_PRELUDE_H
#define SG_CUDA_PRELUDE_H

#include <cstdint>
#include <cuda_fp16.h>
#include <math.h>

#define SG_FN __device__ __forceinline__ /* not static: no "unused" warnings */
#define SG_BLOCK 256 /* threads per block of every symgraph kernel (codegen/cuda/steps.py) */

/* the global index of this thread, and the stride of a grid-stride loop */
SG_FN int64_t sg_thread_index() { return (int64_t)blockIdx.x * blockDim.x + threadIdx.x; }
SG_FN int64_t sg_grid_stride() { return (int64_t)blockDim.x * gridDim.x; }

#include "scalar.h"

#endif /* SG_CUDA_PRELUDE_H */
