"""Layers: objects that own shared parameters and map a symbolic input to a symbolic output.

Small and explicit, in the manner of Torch's ``nn`` and Lasagne: ``layer(x)`` builds the
output expression; ``deterministic=True`` gives the test-time form (no dropout, batch norm with
running statistics); ``get_params(trainable=True)`` lists the shared variables to train.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import symgraph.tensor as T
from symgraph.config import config
from symgraph.nn import init
from symgraph.shared import SharedVariable, shared


class Layer:
    """Base class: parameters with tags, a name, and ``__call__(x, deterministic=False)``."""

    def __init__(self, name: str | None = None):
        self.name = name
        self.params: dict[SharedVariable, set[str]] = {}

    def add_param(self, spec, shape, name: str, **tags) -> SharedVariable:
        """A parameter from an initializer, an array or a shared variable, with `tags`."""
        if isinstance(spec, SharedVariable):
            param = spec
        else:
            value = spec(shape) if callable(spec) else np.asarray(spec, dtype=config.floatX)
            if tuple(value.shape) != tuple(shape):
                raise ValueError(
                    f"{self.describe()}: {name} has shape {value.shape}, expected {tuple(shape)}"
                )
            param = shared(value, name=name)
        tags.setdefault("trainable", True)
        tags.setdefault("regularizable", True)
        self.params[param] = {t for t, on in tags.items() if on}
        return param

    def get_params(self, **tags) -> list[SharedVariable]:
        """Parameters, filtered by tags: ``get_params(trainable=True, regularizable=False)``."""
        out = []
        for param, have in self.params.items():
            if all((t in have) == wanted for t, wanted in tags.items()):
                out.append(param)
        return out

    def named_params(self, prefix: str = "") -> dict[str, SharedVariable]:
        base = prefix + (self.name + "." if self.name else "")
        return {base + p.name: p for p in self.params}

    def describe(self) -> str:
        return f"{type(self).__name__}{f' {self.name!r}' if self.name else ''}"

    def __call__(self, x, deterministic: bool = False):
        raise NotImplementedError(f"{type(self).__name__} does not define __call__")


def _apply(nonlinearity: Callable | None, x):
    return x if nonlinearity is None else nonlinearity(x)


class Dense(Layer):
    """``nonlinearity(dot(x, W) + b)``; inputs with more than 2 dimensions are flattened."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        W=init.GlorotUniform(),
        b=init.Constant(0.0),
        nonlinearity: Callable | None = None,
        name=None,
    ):
        super().__init__(name)
        self.in_features, self.out_features = in_features, out_features
        self.W = self.add_param(W, (in_features, out_features), "W")
        self.b = None if b is None else self.add_param(b, (out_features,), "b", regularizable=False)
        self.nonlinearity = nonlinearity

    def __call__(self, x, deterministic: bool = False):
        x = T.as_tensor_variable(x)
        if x.ndim > 2:
            x = x.flatten(2)
        if x.ndim != 2:
            raise ValueError(
                f"{self.describe()}: expected a matrix (batch, features), got {x}"
                f"{x.where()} with {x.ndim} dimensions"
            )
        if x.type.shape[1] not in (None, self.in_features):
            raise ValueError(
                f"{self.describe()}: input {x}{x.where()} has {x.type.shape[1]} "
                f"features, the layer expects {self.in_features}"
            )
        out = T.dot(x, self.W)
        if self.b is not None:
            out = out + self.b.dimshuffle("x", 0)
        return _apply(self.nonlinearity, out)


class Conv2D(Layer):
    """2-d convolution over NCHW inputs with OIHW filters, then bias and nonlinearity."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        filter_size,
        stride=(1, 1),
        pad="valid",
        W=init.GlorotUniform(),
        b=init.Constant(0.0),
        nonlinearity: Callable | None = None,
        flip_filters: bool = True,
        num_groups: int = 1,
        name=None,
    ):
        super().__init__(name)
        fs = (filter_size, filter_size) if np.isscalar(filter_size) else tuple(filter_size)
        self.in_channels, self.out_channels, self.filter_size = in_channels, out_channels, fs
        self.stride = (stride, stride) if np.isscalar(stride) else tuple(stride)
        self.pad = {"same": "half"}.get(pad, pad)
        if isinstance(self.pad, (int, np.integer)):
            self.pad = (int(self.pad),) * 2
        self.flip_filters, self.num_groups = flip_filters, num_groups
        self.W = self.add_param(W, (out_channels, in_channels // num_groups) + fs, "W")
        self.b = None if b is None else self.add_param(b, (out_channels,), "b", regularizable=False)
        self.nonlinearity = nonlinearity

    def __call__(self, x, deterministic: bool = False):
        x = T.as_tensor_variable(x)
        if x.ndim != 4:
            raise ValueError(
                f"{self.describe()}: expected a 4-d NCHW input, got {x}{x.where()} "
                f"with {x.ndim} dimensions"
            )
        if x.type.shape[1] not in (None, self.in_channels):
            raise ValueError(
                f"{self.describe()}: input {x}{x.where()} has {x.type.shape[1]} "
                f"channels, the layer expects {self.in_channels}"
            )
        out = T.nnet.conv2d(
            x,
            self.W,
            border_mode=self.pad,
            subsample=self.stride,
            filter_flip=self.flip_filters,
            num_groups=self.num_groups,
        )
        if self.b is not None:
            out = out + self.b.dimshuffle("x", 0, "x", "x")
        return _apply(self.nonlinearity, out)


class MaxPool2D(Layer):
    """Max pooling over the last two dimensions."""

    def __init__(
        self, pool_size=(2, 2), stride=None, pad=(0, 0), ignore_border=True, mode="max", name=None
    ):
        super().__init__(name)
        self.pool_size = (pool_size, pool_size) if np.isscalar(pool_size) else tuple(pool_size)
        self.stride = (
            self.pool_size
            if stride is None
            else ((stride, stride) if np.isscalar(stride) else tuple(stride))
        )
        self.pad, self.ignore_border, self.mode = tuple(pad), ignore_border, mode

    def __call__(self, x, deterministic: bool = False):
        from symgraph.tensor.signal.pool import pool_2d

        return pool_2d(
            x,
            ws=self.pool_size,
            stride=self.stride,
            pad=self.pad,
            ignore_border=self.ignore_border,
            mode=self.mode,
        )


class BatchNorm(Layer):
    """Batch normalization (Ioffe & Szegedy 2015) with running statistics.

    In training (deterministic=False) it normalizes with the batch statistics and the running
    mean/var get default updates (alpha * batch + (1 - alpha) * running), so any function that
    computes the training output also updates them. At test time it uses the running values.
    """

    def __init__(
        self,
        num_features: int,
        axes="auto",
        epsilon: float = 1e-4,
        alpha: float = 0.1,
        beta=init.Constant(0.0),
        gamma=init.Constant(1.0),
        name=None,
    ):
        super().__init__(name)
        self.axes, self.epsilon, self.alpha = axes, epsilon, alpha
        shape = (num_features,)
        self.beta = self.add_param(beta, shape, "beta", regularizable=False)
        self.gamma = self.add_param(gamma, shape, "gamma", regularizable=False)
        self.mean = self.add_param(
            init.Constant(0.0), shape, "mean", trainable=False, regularizable=False
        )
        self.inv_std = self.add_param(
            init.Constant(1.0), shape, "inv_std", trainable=False, regularizable=False
        )

    def _pattern(self, ndim: int) -> tuple:
        return ("x", 0) + ("x",) * (ndim - 2)

    def __call__(self, x, deterministic: bool = False):
        x = T.as_tensor_variable(x)
        axes = (0,) + tuple(range(2, x.ndim)) if self.axes == "auto" else tuple(self.axes)
        pattern = self._pattern(x.ndim)
        if deterministic:
            mean, inv_std = self.mean, self.inv_std
        else:
            mean = x.mean(axis=axes)
            inv_std = T.cast(1.0 / T.sqrt(x.var(axis=axes) + self.epsilon), x.dtype)
            a = T.constant(self.alpha, dtype=x.dtype)
            # Aliases of the running statistics carry the default updates, so only functions
            # that compute this training output update them; `+ 0 * alias` makes it use them.
            run_mean, run_inv_std = self.mean.alias(), self.inv_std.alias()
            run_mean.default_update = T.cast((1 - a) * run_mean + a * mean, x.dtype)
            run_inv_std.default_update = T.cast((1 - a) * run_inv_std + a * inv_std, x.dtype)
            mean = mean + 0 * run_mean
            inv_std = inv_std + 0 * run_inv_std
        normalized = (x - mean.dimshuffle(*pattern)) * (self.gamma * inv_std).dimshuffle(*pattern)
        return normalized + self.beta.dimshuffle(*pattern)


class Dropout(Layer):
    """Zero each input with probability `p` during training (rescaled by 1/(1-p))."""

    def __init__(self, p: float = 0.5, rescale: bool = True, seed: int | None = None, name=None):
        super().__init__(name)
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        from symgraph.ops.random import RandomStreams

        self.p, self.rescale = p, rescale
        self.srng = RandomStreams(seed if seed is not None else np.random.randint(2**30))

    def __call__(self, x, deterministic: bool = False):
        if deterministic or self.p == 0:
            return x
        x = T.as_tensor_variable(x)
        keep = 1.0 - self.p
        mask = self.srng.binomial(size=x.shape, p=keep, dtype=x.dtype)
        out = x * mask
        return out / T.constant(keep, dtype=x.dtype) if self.rescale else out


class Flatten(Layer):
    """Keep the first ``outdim - 1`` dimensions and flatten the rest."""

    def __init__(self, outdim: int = 2, name=None):
        super().__init__(name)
        self.outdim = outdim

    def __call__(self, x, deterministic: bool = False):
        return T.as_tensor_variable(x).flatten(self.outdim)


class Embedding(Layer):
    """Rows of a (input_size, output_size) table selected by integer indices."""

    def __init__(self, input_size: int, output_size: int, W=init.Normal(), name=None):
        super().__init__(name)
        self.W = self.add_param(W, (input_size, output_size), "W")

    def __call__(self, x, deterministic: bool = False):
        x = T.as_tensor_variable(x)
        if not x.dtype.startswith(("int", "uint")):
            raise TypeError(
                f"{self.describe()}: indices {x}{x.where()} must be integers, got {x.dtype}"
            )
        return self.W[x]


class Activation(Layer):
    """A parameter-free nonlinearity as a layer."""

    def __init__(self, fn: Callable, name=None):
        super().__init__(name)
        self.fn = fn

    def __call__(self, x, deterministic: bool = False):
        return self.fn(x)
