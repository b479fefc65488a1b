"""Theano's ``MRG_RandomStreams`` at its old path, built on symgraph's RandomStreams.

Lasagne-era code imports it for dropout and noise layers::

    from symgraph.sandbox.rng_mrg import MRG_RandomStreams
    srng = MRG_RandomStreams(seed=42)
    mask = srng.binomial(x.shape, p=0.5, dtype=x.dtype)

The numbers come from symgraph's Philox generator, not from Theano's MRG31k3p, so a seed
gives a different (but equally uniform) stream than Theano did. What is kept is the API:
the argument names and defaults, symbolic sizes and parameters, and the dtypes.
"""

from __future__ import annotations

import numpy as np

from symgraph.config import config
from symgraph.ops.multinomial import ChoiceFromUniform, MultinomialFromUniform
from symgraph.ops.random import RandomStreams
from symgraph.types import normalize_dtype, upcast
from symgraph.variable import as_tensor_variable

# Phi(-2) and Phi(2): truncated normals keep the central two standard deviations (Theano)
_TRUNC_LO, _TRUNC_HI = 0.022750131948179195, 0.9772498680518208


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating))


def _float_dtype(dtype, *params) -> str:
    """`dtype`, or floatX widened by any symbolic float parameter (as Theano's upcast)."""
    if dtype is not None:
        return normalize_dtype(dtype)
    dts = [as_tensor_variable(p).dtype for p in params if not _is_number(p)]
    return upcast(config.floatX, *[d for d in dts if d.startswith("float")])


def _need_size(what: str, size):
    if size is None:
        raise ValueError(f"MRG_RandomStreams.{what}: size must be given (a tuple of ints or "
                         "symbolic scalars, or a symbolic vector such as x.shape)")
    return size


class MRG_RandomStreams(RandomStreams):  # noqa: N801  (Theano's name)
    """Symbolic random draws with Theano's MRG_RandomStreams API.

    Examples
    --------
    >>> import numpy as np, symgraph as sg, symgraph.tensor as T
    >>> srng = MRG_RandomStreams(seed=234)
    >>> x = T.dmatrix("x")
    >>> drop = sg.function([x], x * srng.binomial(x.shape, p=0.5, dtype=x.dtype))
    >>> set(np.unique(drop(np.ones((4, 4))))) <= {0.0, 1.0}
    True
    """

    def __init__(self, seed: int = 12345):
        super().__init__(seed)

    def uniform(self, size, low=0.0, high=1.0, ndim=None, dtype=None, nstreams=None, **kwargs):
        """Uniform numbers in [low, high); `low` and `high` may be symbolic and broadcast."""
        size = _need_size("uniform", size)
        dtype = _float_dtype(dtype, low, high)
        if _is_number(low) and _is_number(high):
            return super().uniform(size, float(low), float(high), ndim=ndim, dtype=dtype)
        from symgraph.ops.math import cast

        u = super().uniform(size, 0.0, 1.0, ndim=ndim, dtype=dtype)
        return cast(u * (high - low) + low, dtype)

    def normal(self, size, avg=0.0, std=1.0, ndim=None, dtype=None, nstreams=None,
               truncate: bool = False, **kwargs):
        """Normal numbers with mean `avg` and standard deviation `std` (symbolic allowed).

        With `truncate`, values stay within two standard deviations of the mean.
        """
        size = _need_size("normal", size)
        dtype = _float_dtype(dtype, avg, std)
        from symgraph.ops.math import cast, erfinv

        if truncate:
            u = super().uniform(size, _TRUNC_LO, _TRUNC_HI, ndim=ndim, dtype="float64")
            z = cast(np.sqrt(2.0) * erfinv(2.0 * u - 1.0), dtype)
        elif _is_number(avg) and _is_number(std):
            return super().normal(size, float(avg), float(std), ndim=ndim, dtype=dtype)
        else:
            z = super().normal(size, 0.0, 1.0, ndim=ndim, dtype=dtype)
        return cast(z * std + avg, dtype)

    def truncated_normal(self, size, avg=0.0, std=1.0, ndim=None, dtype=None, nstreams=None):
        return self.normal(size, avg, std, ndim=ndim, dtype=dtype, truncate=True)

    def binomial(self, size=None, n=1, p=0.5, ndim=None, dtype="int64", nstreams=None,
                 prob=None, **kwargs):
        """Binomial(n, p) counts; with n=1 a 0/1 mask (dropout), `p` may be a tensor.

        Without `size`, the draw has the shape of `p`.
        """
        from symgraph.ops.math import cast, lt

        p = prob if prob is not None else p
        if size is None:
            p_var = as_tensor_variable(p)
            if p_var.ndim == 0:
                raise ValueError("MRG_RandomStreams.binomial: give size, or a tensor p whose "
                                 "shape the draw takes")
            size = p_var.shape
        if n == 1:
            u = self.uniform(size, ndim=ndim, dtype=_float_dtype(None, p))
            return cast(lt(u, p), dtype)
        if _is_number(p):
            return super().binomial(size, n=n, p=float(p), ndim=ndim, dtype=dtype)
        raise NotImplementedError("MRG_RandomStreams.binomial: n > 1 needs a constant p")

    def multinomial(self, size=None, n=1, pvals=None, ndim=None, dtype="int64", nstreams=None,
                    **kwargs):
        """Counts of `n` draws per row of `pvals` (a matrix, one distribution per row).

        With n=1 each row of the result is one-hot. `size` is not used (as in Theano).
        """
        if pvals is None:
            raise TypeError("MRG_RandomStreams.multinomial: pvals must be given")
        if size is not None:
            raise ValueError("MRG_RandomStreams.multinomial does not use size; the result "
                             "has the shape of pvals")
        pvals = as_tensor_variable(pvals)
        if pvals.ndim == 1:
            return self.multinomial(None, n, pvals.dimshuffle("x", 0), dtype=dtype)[0]
        unis = self._row_uniforms(pvals, n, pvals.dtype)
        return MultinomialFromUniform(normalize_dtype(dtype))(pvals, unis, _int(n))

    def choice(self, size=1, a=None, replace=True, p=None, ndim=None, dtype="int64",
               nstreams=None, **kwargs):
        """`size` category indices per row of `p` (a matrix): an int matrix (rows, size).

        Without `p` this is RandomStreams.choice over `a` (an int or a vector).
        """
        if p is None:
            return super().choice(size, 2 if a is None else a, replace, None, ndim, dtype)
        if a is not None:
            raise NotImplementedError("MRG_RandomStreams.choice: with p, a must be None (the "
                                      "categories are the columns of p)")
        if not isinstance(size, (int, np.integer)):
            raise TypeError(f"MRG_RandomStreams.choice: size must be an int (the number of "
                            f"samples per row of p), got {size!r}")
        p = as_tensor_variable(p)
        unis = self._row_uniforms(p, size, p.dtype)
        return ChoiceFromUniform(normalize_dtype(dtype), bool(replace))(p, unis, _int(size))

    def multinomial_wo_replacement(self, size=None, n=1, pvals=None, ndim=None, dtype="int64",
                                   nstreams=None, **kwargs):
        """Theano's older spelling of choice(size=n, p=pvals, replace=False)."""
        return self.choice(n, None, False, pvals, ndim, dtype)

    def _row_uniforms(self, pvals, n, dtype):
        dtype = dtype if dtype.startswith("float") else config.floatX
        return super().uniform((pvals.shape[0] * n,), 0.0, 1.0, dtype=dtype)


def _int(n):
    from symgraph.ops.math import cast

    return cast(as_tensor_variable(n), "int64")


__all__ = ["MRG_RandomStreams"]
