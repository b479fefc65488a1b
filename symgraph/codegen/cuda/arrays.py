"""Device array helpers that need a kernel: contiguous copies and fills.

Both are elementwise kernels of the kernel IR (an identity over one input), so they are
rendered, compiled and cached like every other kernel.
"""

from __future__ import annotations

import numpy as np

from symgraph.codegen.cuda.elemwise import ElemwiseKernel, compiled_for
from symgraph.codegen.cuda.storage import DeviceArray, empty
from symgraph.codegen.kernel import Kernel, Operand, node


def identity_kernel(dtype: str, ndim: int, scalar: bool = False) -> Kernel:
    """out = in0 over `ndim` axes (in0 one broadcast element when `scalar`)."""
    operand = Operand(dtype, (scalar,) * ndim)
    return Kernel("elemwise", ndim, (operand,), (Operand(dtype, (False,) * ndim),),
                  (node("load", dtype, (), 0),))


def _identity(dtype: str, ndim: int, scalar: bool = False) -> ElemwiseKernel:
    """The compiled identity kernel, looked up per call without building its IR again."""
    return compiled_for(("identity", dtype, ndim, scalar),
                        lambda: identity_kernel(dtype, ndim, scalar), ElemwiseKernel)


def contiguous(x: DeviceArray, force: bool = False) -> DeviceArray:
    """`x` as a C-contiguous device array (`x` itself when it is one, unless `force`)."""
    if x.is_c_contiguous and not force:
        return x
    out = empty(x.shape, x.dtype, "a contiguous copy")
    copy_into(x, out)
    return out


def copy_into(x: DeviceArray, out: DeviceArray) -> None:
    """out[...] = x (same shape and dtype, any strides)."""
    if x.is_c_contiguous and out.is_c_contiguous:
        from symgraph.codegen.cuda.driver import get_driver

        get_driver().dtod(out.ptr, x.ptr, x.nbytes)
        return
    _identity(x.dtype.name, x.ndim).run([x], [out])


def fill(out: DeviceArray, value) -> None:
    """Every element of `out` set to the host scalar `value` (no copy: passed by value)."""
    zero_bits = not np.asarray(value, dtype=out.dtype).view(np.uint8).any()  # -0.0 is not
    if zero_bits and out.is_c_contiguous:
        from symgraph.codegen.cuda.driver import get_driver

        get_driver().memset(out.ptr, 0, out.nbytes)
        return
    _identity(out.dtype.name, out.ndim, scalar=True).run([np.asarray(value).reshape(())], [out])
