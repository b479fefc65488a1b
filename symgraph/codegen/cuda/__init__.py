"""The CUDA backend: the C-style renderer's CUDA override, nvcc, and (through pycuda) the GPU.

Only driver.py imports pycuda; the renderer and the compiler work on machines without a GPU,
so CI checks that every generated kernel compiles (tests/codegen/test_cuda_compile.py).
"""
