"""The cuda backend: ``Mode(backend="cuda")``, or every function with ``config.device == "cuda"``.

Elementwise graphs (fused Composites), reductions, views, matrix products (cuBLAS), softmax and
the fused cross-entropy, uniform / normal random draws, conv2d and its gradients (im2col /
col2im + cuBLAS) and max pooling and its gradient run on the GPU; any other op runs
its numpy `perform` on the host with its copies counted (``program.describe()`` lists them).
Without pycuda, a GPU or nvcc, compiling raises one error saying which is missing and how to
get it: there is no silent fallback to the CPU.
"""

from __future__ import annotations

from symgraph.codegen.cuda.compiler import nvcc_path
from symgraph.codegen.cuda.driver import CudaUnavailable, require
from symgraph.fgraph import FunctionGraph


class CudaBackend:
    """Backend interface: ``compile(fg, **options) -> program``; ``program(inputs) -> outputs``.

    Options: ``name`` (the function's, for errors) and ``device_outputs`` (a bool per output:
    return it as a DeviceArray instead of copying it back; what ``Out(borrow=True)`` asks for).
    """

    name = "cuda"

    def compile(self, fg: FunctionGraph, **options):
        require()
        if nvcc_path() is None:
            raise CudaUnavailable(
                "symgraph's cuda backend compiles its kernels with nvcc, which was not found: "
                "install the CUDA toolkit and put its bin/ on PATH (or set CUDA_ROOT)")
        from symgraph.codegen.cuda.program import CudaProgram

        return CudaProgram(fg, options.get("name"), options.get("device_outputs"))
