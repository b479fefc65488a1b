"""Random variables on the counter-based Philox generator, and Theano's RandomStreams.

A draw is one `RandomVariable` node: inputs (state, size, *params), outputs (new_state,
sample). The state is a shared uint64 vector [k0, k1, stream, base] (see ops/philox.py for the
stream layout every backend reproduces), and RandomStreams makes new_state its default update,
so each call of a compiled function draws fresh numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from symgraph.config import config
from symgraph.graph import Apply, Op
from symgraph.ops import philox
from symgraph.shared import SharedVariable
from symgraph.types import TensorType, normalize_dtype
from symgraph.variable import as_tensor_variable, constant

STATE_TYPE = TensorType("uint64", (4,))


def make_state(seed: int) -> np.ndarray:
    """A fresh generator state [k0, k1, stream, base] for `seed`."""
    key = philox.seed_to_key(int(seed))
    return np.array([key[0], key[1], 0, 0], dtype="uint64")


class GeneratorState(np.ndarray):
    """A generator state as ``rng.get_value()`` returns it, with numpy RandomState's methods,
    so Theano's tutorial code (``rng_val.seed(89234)``, ``get_state`` / ``set_state``) works."""

    def seed(self, seed: int | None = None) -> None:
        """Restart this state from `seed`, in place (then ``rng.set_value(it, borrow=True)``)."""
        self[:] = make_state(np.random.SeedSequence().entropy % 2**30 if seed is None else seed)

    def get_state(self) -> np.ndarray:
        """A copy of the state words, to give back to ``set_state`` later."""
        return np.array(self, dtype="uint64")

    def set_state(self, state) -> None:
        """Restore a state returned by ``get_state``, in place."""
        self[:] = np.asarray(state, dtype="uint64")


class GeneratorSharedVariable(SharedVariable):
    """The shared generator state of one draw; its values are `GeneratorState` arrays."""

    def get_value(self, borrow: bool = False, return_internal_type: bool = False):
        value = super().get_value(borrow=borrow, return_internal_type=return_internal_type)
        return value.view(GeneratorState) if isinstance(value, np.ndarray) else value


def _unpack(state: np.ndarray) -> tuple[np.ndarray, int, int]:
    key = state[:2].astype(np.uint32)
    return key, int(state[3]), int(state[2])


# dist -> (sampler(key, base, shape, stream, dtype, *params) -> (values, new_base), param count)
_SAMPLERS: dict[str, tuple[Callable, int]] = {
    "uniform": (lambda k, b, s, st, dt, lo, hi: philox.uniform(k, b, s, lo, hi, dt, stream=st), 2),
    "normal": (lambda k, b, s, st, dt, mu, sd: philox.normal(k, b, s, mu, sd, dt, stream=st), 2),
    "binomial": (
        lambda k, b, s, st, dt, n, p: philox.binomial(k, b, s, int(n), p, dt, stream=st),
        2,
    ),
    "integers": (
        lambda k, b, s, st, dt, lo, hi: philox.integers(k, b, s, int(lo), int(hi), dt, stream=st),
        2,
    ),
    "choice": (
        lambda k, b, s, st, dt, a, p: philox.choice(
            k, b, s, a, True, None if p.size == 0 else p, stream=st
        ),
        2,
    ),
    "choice_noreplace": (
        lambda k, b, s, st, dt, a, p: philox.choice(
            k, b, s, a, False, None if p.size == 0 else p, stream=st
        ),
        2,
    ),
    "permutation": (lambda k, b, s, st, dt, n: philox.permutation(k, b, int(n), stream=st), 1),
}


@dataclass(frozen=True)
class RandomVariable(Op):
    """Draw from `dist`: (state, size, *params) -> (new_state, sample)."""

    dist: str
    dtype: str
    ndim: int

    default_output = 1

    def __str__(self) -> str:
        return f"RandomVariable{{{self.dist}, {self.dtype}}}"

    def make_node(self, state, size, *params) -> Apply:
        state = as_tensor_variable(state)
        if state.type != STATE_TYPE:
            raise TypeError(f"{self}: the generator state must be {STATE_TYPE}, got {state.type}")
        size = as_tensor_variable(size)
        if size.ndim != 1 or not size.dtype.startswith(("int", "uint")):
            raise TypeError(f"{self}: size must be a vector of ints, got {size.type}")
        if self.dist != "permutation" and size.type.shape[0] not in (None, self.ndim):
            raise ValueError(f"{self}: size has {size.type.shape[0]} entries, expected {self.ndim}")
        n_params = _SAMPLERS[self.dist][1]
        if len(params) != n_params:
            raise TypeError(f"{self} takes {n_params} parameters, got {len(params)}")
        params = [as_tensor_variable(p) for p in params]
        static = _static_size(size, self.ndim)
        sample = TensorType(self.dtype, static)()
        return Apply(self, [state, size, *params], [STATE_TYPE(), sample])

    def perform(self, node: Apply, inputs: list) -> list:
        state, size, *params = inputs
        key, base, stream = _unpack(state)
        sampler = _SAMPLERS[self.dist][0]
        shape = tuple(int(s) for s in size)
        values, new_base = sampler(key, base, shape, stream, self.dtype, *params)
        new_state = state.copy()
        new_state[3] = np.uint64(new_base % (1 << 64))
        return [new_state, np.asarray(values, dtype=self.dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        size = node.inputs[1]
        if self.dist == "permutation":
            return [(4,), (node.inputs[2],)]
        return [(4,), tuple(size[i] for i in range(self.ndim))]

    def L_op(self, inputs, outputs, output_grads):
        return [None] * len(inputs)  # sampling is not differentiable (as in Theano)


def _static_size(size, ndim: int) -> tuple:
    data = getattr(size, "data", None)
    if data is not None:
        return tuple(int(s) for s in np.asarray(data))
    return (None,) * ndim


def _size_vector(size) -> tuple:
    """`size` (None, int, tuple of ints or symbolic scalars, or a vector) -> (vector, ndim)."""
    if size is None:
        size = ()
    if isinstance(size, (int, np.integer)):
        size = (int(size),)
    if isinstance(size, (tuple, list)):
        if all(isinstance(s, (int, np.integer)) for s in size):
            return constant(np.asarray(size, dtype="int64").reshape(len(size))), len(size)
        from symgraph.ops.math import cast

        entries = [cast(as_tensor_variable(s), "int64") for s in size]
        from symgraph.ops.shape import stack

        return stack(entries), len(size)
    size = as_tensor_variable(size)
    if size.ndim != 1 or size.type.shape[0] is None:
        raise ValueError(f"size must be a tuple or a vector of known length, got {size.type}")
    return size, size.type.shape[0]


class RandomStreams:
    """Theano's RandomStreams: symbolic random draws whose generator states are shared.

    Each draw gets its own shared state (seeded from this object's seed); compiled functions
    update it automatically, so successive calls give new numbers.

    Examples
    --------
    >>> import symgraph as sg
    >>> from symgraph.tensor.shared_randomstreams import RandomStreams
    >>> srng = RandomStreams(seed=234)
    >>> f = sg.function([], srng.uniform((2, 2)))
    >>> f().shape
    (2, 2)
    """

    def __init__(self, seed: int | None = None):
        self.default_instance_seed = seed
        self.state_updates: list = []
        self._seedgen = np.random.default_rng(seed)

    def seed(self, seed: int | None = None) -> None:
        """Re-seed every generator made by this object, in the order they were made."""
        seed = self.default_instance_seed if seed is None else seed
        self._seedgen = np.random.default_rng(seed)
        for rng, _ in self.state_updates:
            rng.set_value(make_state(self._seedgen.integers(2**30)), borrow=True)

    def updates(self) -> list:
        return list(self.state_updates)

    def gen(self, dist: str, size, dtype: str, *params, ndim: int | None = None):
        """One draw of `dist` with a new shared generator state."""
        size_vec, n = _size_vector(size)
        if ndim is not None and dist != "permutation" and ndim != n:
            raise ValueError(f"{dist}: ndim={ndim} does not match size with {n} entries")
        state = make_state(self._seedgen.integers(2**30))
        rng = GeneratorSharedVariable(STATE_TYPE, state, name=f"rng_{dist}")
        node = RandomVariable(
            dist, normalize_dtype(dtype), 1 if dist == "permutation" else n
        ).make_node(rng, size_vec, *params)
        new_state, sample = node.outputs
        rng.default_update = new_state
        sample.rng = rng
        sample.update = (rng, new_state)
        self.state_updates.append((rng, new_state))
        return sample

    def uniform(self, size=(), low=0.0, high=1.0, ndim=None, dtype=None):
        """Uniform numbers in [low, high)."""
        dtype = dtype or config.floatX
        return self.gen("uniform", size, dtype, _param(low, dtype), _param(high, dtype), ndim=ndim)

    def normal(self, size=(), avg=0.0, std=1.0, ndim=None, dtype=None):
        """Normal numbers with mean `avg` and standard deviation `std`."""
        dtype = dtype or config.floatX
        return self.gen("normal", size, dtype, _param(avg, dtype), _param(std, dtype), ndim=ndim)

    def binomial(self, size=(), n=1, p=0.5, ndim=None, dtype="int64", prob=None):
        """Binomial(n, p) counts (n=1: Bernoulli; e.g. dropout masks)."""
        p = prob if prob is not None else p
        return self.gen(
            "binomial",
            size,
            dtype,
            constant(int(n), dtype="int64"),
            _param(p, "float64"),
            ndim=ndim,
        )

    def random_integers(self, size=(), low=0, high=1, ndim=None, dtype="int64"):
        """Integers in [low, high], both ends included (Theano's spelling)."""
        return self.gen("integers", size, dtype, _int_param(low), _int_param(high) + 1, ndim=ndim)

    def integers(self, low, high=None, size=None, dtype="int64"):
        """Integers in [low, high) (numpy's spelling; high=None means [0, low))."""
        if high is None:
            low, high = 0, low
        return self.gen("integers", size, dtype, _int_param(low), _int_param(high))

    def choice(self, size=(), a=2, replace=True, p=None, ndim=None, dtype="int64"):
        """Samples from range(a) (an int) or from the vector a, with optional probabilities p."""
        probs = constant(np.zeros(0)) if p is None else as_tensor_variable(p)
        dist = "choice" if replace else "choice_noreplace"
        a_var = as_tensor_variable(a)
        dtype = dtype if a_var.ndim == 0 else a_var.dtype
        return self.gen(dist, size, dtype, a_var, probs, ndim=ndim)

    def multinomial(self, size=None, n=1, pvals=(0.5, 0.5), ndim=None, dtype="int64"):
        """Counts of `n` draws from the categories of the last axis of `pvals` (Theano's
        spelling): shape ``size + (k,)``, or ``pvals.shape`` without `size`."""
        from symgraph.ops import math
        from symgraph.ops.alloc import alloc
        from symgraph.ops.multinomial import MultinomialFromUniform
        from symgraph.ops.shape import reshape

        pvals = as_tensor_variable(pvals)
        if not pvals.dtype.startswith("float"):
            pvals = math.cast(pvals, config.floatX)
        k = pvals.shape[-1]
        if size is not None:
            size = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
            pvals = alloc(pvals, *size, k)
        rows = reshape(pvals, (-1, k), ndim=2)
        unis = self.uniform((rows.shape[0] * n,), dtype=pvals.dtype)
        counts = MultinomialFromUniform(normalize_dtype(dtype))(rows, unis, _int_param(n))
        return reshape(counts, pvals.shape, ndim=pvals.ndim)

    def permutation(self, size=(), n=1, ndim=None, dtype="int64"):
        """A random permutation of range(n); with `size`, an array of shape size + (n,) of
        independent permutations (sorting uniform keys: each order equally likely)."""
        if isinstance(size, (int, np.integer)):
            size = (size,)
        if size is None or (isinstance(size, (tuple, list)) and len(size) == 0):
            return self.gen("permutation", (), dtype, _int_param(n))
        from symgraph.ops.math import cast
        from symgraph.ops.sort import argsort

        if not isinstance(size, (tuple, list)):  # a symbolic vector, e.g. x.shape[:-1]
            size = tuple(size)
        keys = self.uniform((*size, n), dtype="float64")
        return cast(argsort(keys, axis=-1), dtype)

    def shuffle_row_elements(self, input):
        """`input` with the entries of each row (its last axis) in a random order."""
        from symgraph.ops.sort import take_along_axis

        x = as_tensor_variable(input)
        perm = self.permutation(size=tuple(x.shape[i] for i in range(x.ndim - 1)),
                                n=x.shape[-1])
        return take_along_axis(x, perm, axis=-1)


def _param(value, dtype: str):
    v = as_tensor_variable(value)
    if isinstance(value, (int, float)):
        return constant(value, dtype=dtype)
    return v


def _int_param(value):
    from symgraph.ops.math import cast

    v = as_tensor_variable(value)
    return constant(int(value), dtype="int64") if isinstance(value, int) else cast(v, "int64")
