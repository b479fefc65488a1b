"""Parameter initializers (Lasagne's names): callables from a shape to a floatX array."""

from __future__ import annotations

import numpy as np

from symgraph.config import config

_rng = np.random.default_rng(1234)


def set_rng(rng: np.random.Generator) -> None:
    """Use `rng` for every initializer that was not given its own generator."""
    global _rng
    _rng = rng


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out): dense (in, out); conv (out, in, *receptive field) as in Theano."""
    if len(shape) < 2:
        raise ValueError(f"initializers need at least 2 dimensions, got shape {shape}")
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[2:]))
    return shape[1] * receptive, shape[0] * receptive


class Initializer:
    """Base: `init(shape)` returns a new array of config.floatX."""

    def __init__(self, rng: np.random.Generator | None = None):
        self.rng = rng

    def __call__(self, shape) -> np.ndarray:
        shape = tuple(int(s) for s in np.atleast_1d(shape))
        return np.asarray(self.sample(shape, self.rng or _rng), dtype=config.floatX)

    def sample(self, shape, rng):
        raise NotImplementedError(f"{type(self).__name__} does not define sample")


class Constant(Initializer):
    def __init__(self, val: float = 0.0):
        super().__init__()
        self.val = val

    def sample(self, shape, rng):
        return np.full(shape, self.val)


class Normal(Initializer):
    def __init__(self, std: float = 0.01, mean: float = 0.0, rng=None):
        super().__init__(rng)
        self.std, self.mean = std, mean

    def sample(self, shape, rng):
        return rng.normal(self.mean, self.std, size=shape)


class Uniform(Initializer):
    def __init__(self, range: float | tuple = 0.01, rng=None):
        super().__init__(rng)
        self.range = (-range, range) if np.isscalar(range) else tuple(range)

    def sample(self, shape, rng):
        return rng.uniform(self.range[0], self.range[1], size=shape)


class GlorotUniform(Initializer):
    """Uniform(+-gain*sqrt(6/(fan_in+fan_out))) (Glorot & Bengio 2010)."""

    def __init__(self, gain: float | str = 1.0, rng=None):
        super().__init__(rng)
        self.gain = np.sqrt(2) if gain == "relu" else float(gain)

    def sample(self, shape, rng):
        fan_in, fan_out = fans(shape)
        a = self.gain * np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-a, a, size=shape)


class GlorotNormal(GlorotUniform):
    def sample(self, shape, rng):
        fan_in, fan_out = fans(shape)
        return rng.normal(0.0, self.gain * np.sqrt(2.0 / (fan_in + fan_out)), size=shape)


class HeUniform(GlorotUniform):
    """Uniform(+-gain*sqrt(3/fan_in)); gain sqrt(2) suits ReLU (He et al. 2015)."""

    def sample(self, shape, rng):
        fan_in, _ = fans(shape)
        a = self.gain * np.sqrt(3.0 / fan_in)
        return rng.uniform(-a, a, size=shape)


class HeNormal(GlorotUniform):
    def sample(self, shape, rng):
        fan_in, _ = fans(shape)
        return rng.normal(0.0, self.gain * np.sqrt(1.0 / fan_in), size=shape)


class Orthogonal(Initializer):
    """A (scaled) orthogonal matrix, flattened over all but the first dimension."""

    def __init__(self, gain: float | str = 1.0, rng=None):
        super().__init__(rng)
        self.gain = np.sqrt(2) if gain == "relu" else float(gain)

    def sample(self, shape, rng):
        flat = (shape[0], int(np.prod(shape[1:])))
        a = rng.normal(0.0, 1.0, size=flat)
        u, _, v = np.linalg.svd(a, full_matrices=False)
        q = u if u.shape == flat else v
        return self.gain * q.reshape(shape)
