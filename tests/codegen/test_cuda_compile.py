"""Every kind of CUDA kernel the backend generates compiles with nvcc (no GPU needed).

Lowers a representative set of graphs (every scalar op on every dtype it takes, casts, layouts,
reductions over several axes, softmax and cross-entropy, philox, im2col / col2im and max
pooling), renders them with the CUDA renderer and compiles them to cubins for sm_90.
Elementwise kernels are compiled many to one translation unit (their names are unique), the
templated kernels one by one.
"""

from __future__ import annotations

import numpy as np
import pytest

import symgraph.tensor as T
from symgraph.codegen.cstyle import read_template
from symgraph.codegen.cuda.compiler import compile_cuda, nvcc_path
from symgraph.codegen.cuda.renderer import CudaRenderer
from symgraph.codegen.kernel import NotLowerable, lower_careduce, lower_elemwise
from symgraph.ops.elemwise import Elemwise
from symgraph.ops.scalar import SCALAR_OPS
from symgraph.types import TensorType

pytestmark = pytest.mark.skipif(nvcc_path() is None, reason="nvcc not found")

ARCH = "sm_90"
DTYPES = ["float32", "float64", "float16", "int8", "int16", "int32", "int64", "uint8", "uint16",
          "uint32", "uint64", "bool"]
R = CudaRenderer()


def test_every_scalar_op_has_a_cuda_expression_or_is_allowed_to_fall_back():
    missing = set(SCALAR_OPS) - set(R.scalar_table) - R.fallback_ops
    assert not missing, f"scalar ops with no CUDA expression: {sorted(missing)}"


def _scalar_kernels() -> tuple[list, list]:
    """(kernels, [(op, dtype) that have no CUDA lowering])."""
    kernels, refused = [], []
    for name in sorted(SCALAR_OPS):
        op = SCALAR_OPS[name]
        for dtype in DTYPES:
            # a broadcast row and a scalar among the inputs: every operand form is rendered
            shapes = [(None, None), (1, None), (1, 1)][: op.nin or 2]
            try:
                node = Elemwise(op).make_node(*[TensorType(dtype, s)() for s in shapes])
                kernel, _ = lower_elemwise(node)
                R.elemwise(kernel)
            except (TypeError, NotLowerable):
                refused.append((name, dtype))
                continue
            kernels.append(kernel)
    return kernels, refused


def _numpy_refuses(name: str, dtype: str) -> bool:
    op = SCALAR_OPS[name]
    try:
        op.impl(*[np.ones(2, dtype)] * (op.nin or 2))
    except TypeError:
        return True
    return False


def _compile_batch(kernels: list, name: str, output: str = "cubin", flags=()) -> bytes:
    unique = {k.name: k for k in kernels}
    source = "\n".join([read_template("cuda_prelude.h")]
                       + [R.elemwise(k) for k in unique.values()])
    arch = ARCH if output == "cubin" else "compute_90"
    return compile_cuda(source, arch, name, output, extra_flags=flags)


def test_every_scalar_op_kernel_compiles():
    kernels, refused = _scalar_kernels()
    assert len(kernels) > 300
    # only what numpy refuses and the ops with no CUDA form go without a kernel on floats
    for name, dtype in refused:
        if dtype in ("float32", "float64") and name not in R.fallback_ops:
            assert _numpy_refuses(name, dtype), (name, dtype)
    # to PTX without NVVM's optimizations: the front end and code generation check every
    # line; optimizing ~900 kernels and ptxas would take minutes (the other tests run them)
    assert _compile_batch(kernels, "scalar_ops", output="ptx", flags=("-Xcicc", "-O0"))


def test_fused_casts_and_layouts_compile():
    x, r, s = T.fmatrix("x"), T.frow("r"), T.fscalar("s")
    h = TensorType("float16", (None, None))("h")
    i = TensorType("int64", (None, None))("i")
    exprs = [T.tanh(x * s + r) * T.nnet.sigmoid(x) + T.exp(-x * x),
             T.cast(h, "float32") * x + T.cast(i, "float32"),
             T.switch(x > 0, x, 0.01 * x), T.cast(x * 3, "int8"), T.cast(x, "float16") + h,
             T.clip(x, -1, r), T.isnan(x) | T.isinf(h)]
    kernels = []
    for e in exprs:
        node = e.owner
        kernels.append(lower_elemwise(node)[0])
    assert _compile_batch(kernels, "layouts")


def test_reduction_kernels_compile():
    """Every reduction, dtype and a few axis sets, in one translation unit."""
    kernels = {}
    for dtype in ["float32", "float64", "int32", "int8", "uint8", "int64", "bool", "float16"]:
        x = TensorType(dtype, (None, None, None))("x")
        for op in ("sum", "prod", "max", "min", "all", "any"):
            for axis in [(0,), (2,), (0, 2), (0, 1, 2)]:
                kernel = lower_careduce(getattr(T, op)(x, axis=axis).owner)
                kernels[kernel.name] = kernel
    source = "\n".join([read_template("cuda_prelude.h")]
                       + [R.reduce(k) for k in kernels.values()])
    assert len(kernels) > 100
    assert compile_cuda(source, "compute_90", "reductions", "ptx", ("-Xcicc", "-O0"))


@pytest.mark.parametrize("dtype,op,axis", [("float32", "sum", (1,)), ("float16", "max", (0, 2)),
                                           ("bool", "all", (0, 1, 2)), ("int8", "sum", (0,))])
def test_reduction_kernels_compile_to_cubin(dtype, op, axis):
    x = TensorType(dtype, (None, None, None))("x")
    kernel = lower_careduce(getattr(T, op)(x, axis=axis).owner)
    assert compile_cuda(R.reduce_source(kernel), ARCH, kernel.name)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("labels", ["int32", "int64", "uint8"])
def test_softmax_kernels_compile(dtype, labels):
    assert compile_cuda(R.softmax_source(dtype, labels), ARCH, f"softmax_{dtype}_{labels}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv_and_pooling_kernels_compile(dtype):
    """kernels/conv.cu: im2col, col2im, max pooling and its gradient (cuda/steps_conv.py)."""
    source = R.conv_source(dtype)
    assert compile_cuda(source, ARCH, f"conv_{dtype}")
    ptx = compile_cuda(source, "compute_90", f"conv_{dtype}", output="ptx").decode()
    for name in ("sg_im2col", "sg_col2im", "sg_maxpool", "sg_maxpool_grad"):
        assert f".entry {name}(" in ptx


def test_conv_kernels_refuse_float16():
    with pytest.raises(NotLowerable, match="float16"):
        R.conv_source("float16")


def test_philox_kernels_compile_to_cubin_and_ptx():
    assert compile_cuda(R.philox_source(), ARCH, "philox")
    ptx = compile_cuda(R.philox_source(), "compute_90", "philox", output="ptx").decode()
    assert ".entry sg_uniform_f32" in ptx and "mul.hi.u32" in ptx


def test_philox_uniform_kernel_avoids_fma():
    """The affine map must round each operation (numpy has no FMA): no fma in its PTX."""
    ptx = compile_cuda(R.philox_source(), "compute_90", "philox", output="ptx").decode()
    body = ptx.split(".entry sg_uniform_f32")[1].split(".entry")[0]
    assert "fma.rn.f32" not in body


def test_a_compile_error_names_the_source_and_nvcc_message():
    from symgraph.codegen.cuda.compiler import CudaCompileError

    with pytest.raises(CudaCompileError) as info:
        compile_cuda("this is not CUDA;\n", ARCH, "broken")
    assert "source: " in str(info.value) and "error" in str(info.value)


def test_generated_source_is_readable():
    x, y = T.fmatrix("x"), T.fvector("y")
    kernel, _ = lower_elemwise((T.exp(x) * y).owner)
    source = R.elemwise_source(kernel)
    assert 'extern "C" __global__' in source and "sg_grid_stride()" in source
    assert "expf(" in source and source.startswith("/* symgraph kernel")
    assert np.all([len(line) < 200 for line in source.splitlines()])
