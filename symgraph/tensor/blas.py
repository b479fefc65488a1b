"""symgraph.tensor.blas: the BLAS ops at Theano's path (a facade over symgraph.ops.blas / gemm)."""

from symgraph.ops.blas import BatchedDot, Dot, batched_dot, dot
from symgraph.ops.gemm import (
    Gemm,
    Gemv,
    Ger,
    gemm_inplace,
    gemm_no_inplace,
    gemv_inplace,
    gemv_no_inplace,
    ger,
    ger_destructive,
)

__all__ = ["BatchedDot", "Dot", "Gemm", "Gemv", "Ger", "batched_dot", "dot", "gemm_inplace",
           "gemm_no_inplace", "gemv_inplace", "gemv_no_inplace", "ger", "ger_destructive"]
