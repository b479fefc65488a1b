"""Small helpers the implementation modules share: library modes and settings."""

from __future__ import annotations

from functools import partial

from benchmarks.harness import first_call


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


def pytensor_impls(run):
    """The ``pytensor`` (default mode) and ``pytensor_cvm`` implementations of ``run(repeat,
    ..., kind)``."""
    return partial(run, kind="default"), partial(run, kind="cvm")


def torch_impls(make_step, timed):
    """The ``torch`` (eager) and ``torch_compile`` implementations of a step benchmark.

    ``make_step(torch, compiled)`` builds the step; ``timed(step, repeat, compile_s)`` measures
    it. Only the compiled variant reports a compile time: eager has nothing to compile.
    """

    def torch(repeat):
        import torch as module

        return timed(make_step(module, compiled=False), repeat)

    def torch_compile(repeat):
        import torch as module

        compile_s, step = first_call(lambda: make_step(module, compiled=True))
        return timed(step, repeat, compile_s)

    return torch, torch_compile


def jax_momentum_trainer(jax, loss_fn, make_params, batch, lr, momentum):
    """``(build, sync)`` for ``first_call``: one jitted SGD-momentum step on parameters and
    velocities held as JAX arrays (donated, so updated in place), ``v = momentum * v - lr * g;
    p = p + v`` as everywhere in these benchmarks."""
    import jax.numpy as jnp

    def train_step(params, velocities, *batch):
        loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
        velocities = [momentum * v - lr * g for v, g in zip(velocities, grads)]
        return [p + v for p, v in zip(params, velocities)], velocities, loss

    state = {}

    def build():
        state["params"] = [jnp.asarray(p) for p in make_params()]
        state["velocities"] = [jnp.zeros_like(p) for p in state["params"]]
        train = jax.jit(train_step, donate_argnums=(0, 1))

        def step():
            state["params"], state["velocities"], state["loss"] = train(
                state["params"], state["velocities"], *batch
            )

        return step

    def sync():
        state["loss"].block_until_ready()

    return build, sync
