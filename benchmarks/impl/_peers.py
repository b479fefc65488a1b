"""Small helpers the implementation modules share: library modes and settings."""

from __future__ import annotations


def pytensor_mode(kind: str):
    """PyTensor's default mode (Numba linker in 3.x) for "default", its C VM for "cvm"."""
    import pytensor
    from pytensor.compile.mode import Mode

    pytensor.config.floatX = "float32"  # python-float constants stay float32, as in Theano
    return None if kind == "default" else Mode(linker="cvm")


def jax_cpu(x64: bool = False):
    """Import JAX pinned to the CPU, with float64 enabled when ``x64``."""
    import jax

    jax.config.update("jax_platforms", "cpu")
    jax.config.update("jax_enable_x64", x64)
    return jax


def torch_compiled(fn):
    """``torch.compile(fn)``, tracing ``torch.autograd.grad`` into the graph (no graph break)."""
    import torch

    if hasattr(torch._dynamo.config, "trace_autograd_ops"):
        torch._dynamo.config.trace_autograd_ops = True
    return torch.compile(fn)
