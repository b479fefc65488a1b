"""Real fast Fourier transforms over all but the first (batch) axis, as Theano's tensor.fft.

A spectrum is a real array whose last axis holds (real, imaginary): ``rfft`` of an
(m, n1, ..., nk) array is (m, n1, ..., nk // 2 + 1, 2). The two ops here are unnormalized
(numpy's forward transform, and the inverse times the signal size); ``rfft`` and ``irfft``
apply Theano's ``norm`` ('ortho', no_norm, or None: the inverse divided by the size).

Gradients, for a loss L of the half spectrum Y = RFFT(x): dL/dx is the unnormalized inverse
of dL/dY with its inner bins halved (the inverse counts them twice, for their mirror
images); for x = IRFFT(Z): dL/dZ is RFFT(dL/dx) with those bins doubled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symgraph.graph import Apply, Op
from symgraph.ops.blas import describe
from symgraph.types import TensorType
from symgraph.variable import as_tensor_variable

__all__ = ["RFFTOp", "IRFFTOp", "rfft", "irfft"]


def _float(x, what: str):
    """`x` as a float tensor with a batch axis and signal axes, or a TypeError naming it."""
    from symgraph.ops.nnet import float_tensor

    x = float_tensor(x, what)
    if x.ndim < 2:
        raise TypeError(f"{what}: {describe(x)} must have a batch axis and at least one "
                        f"signal axis, got {x.ndim} dimensions")
    return x


def _inner_bins(n_bins: int, odd: bool) -> slice:
    """The bins of the last axis that stand for a pair of mirror frequencies: all but bin 0
    and, for an even signal, the last (its Nyquist frequency)."""
    return slice(1, n_bins if odd else n_bins - 1)


@dataclass(frozen=True)
class RFFTOp(Op):
    """The unnormalized real FFT of axes 1..: (m, ..., n) -> (m, ..., n // 2 + 1, 2)."""

    def make_node(self, x) -> Apply:
        x = _float(x, "rfft")
        *lead, n = x.type.shape
        bins = None if n is None else n // 2 + 1
        return Apply(self, [x], [TensorType(x.dtype, (*lead, bins, 2))()])

    def perform(self, node: Apply, inputs: list) -> list:
        x = inputs[0]
        y = np.fft.rfftn(x, axes=tuple(range(1, x.ndim)))
        return [np.stack([y.real, y.imag], axis=-1).astype(x.dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        *lead, n = input_shapes[0]
        return [(*lead, n // 2 + 1, 2)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        from symgraph.ops.math import mod
        from symgraph.ops.subtensor import set_subtensor

        g = output_grads[0]
        n = inputs[0].shape[-1]
        odd = mod(n, 2)
        # bins 1 .. n_bins - 1 (odd n) or n_bins - 2 (even n): halved
        stop = g.shape[-2] - 1 + odd
        inner = (slice(None),) * (g.ndim - 2) + (slice(1, stop), slice(None))
        g = set_subtensor(g[inner], g[inner] * 0.5)
        return [IRFFTOp()(g, n)]


@dataclass(frozen=True)
class IRFFTOp(Op):
    """The unnormalized inverse of RFFTOp: a spectrum (m, ..., bins, 2) and the signal's
    last size n (2 * (bins - 1) or that plus one) -> (m, ..., n), times the signal size."""

    def make_node(self, spectrum, n) -> Apply:
        spectrum = _float(spectrum, "irfft")
        if spectrum.ndim < 3 or spectrum.type.shape[-1] not in (None, 2):
            raise TypeError(f"irfft: {describe(spectrum)} must end in an axis of (real, "
                            f"imaginary), got shape {spectrum.type.shape}")
        n = as_tensor_variable(n)
        *lead, _bins, _two = spectrum.type.shape
        return Apply(self, [spectrum, n], [TensorType(spectrum.dtype, (*lead, None))()])

    def perform(self, node: Apply, inputs: list) -> list:
        spectrum, n = inputs[0], int(inputs[1])
        z = spectrum[..., 0] + 1j * spectrum[..., 1]
        shape = (*spectrum.shape[1:-2], n)
        x = np.fft.irfftn(z, s=shape, axes=tuple(range(1, z.ndim))) * np.prod(shape)
        return [x.astype(spectrum.dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        *lead, _bins, _two = input_shapes[0]
        return [(*lead, node.inputs[1])]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        from symgraph.ops.math import mod
        from symgraph.ops.subtensor import set_subtensor

        g = RFFTOp()(output_grads[0])
        stop = g.shape[-2] - 1 + mod(inputs[1], 2)
        inner = (slice(None),) * (g.ndim - 2) + (slice(1, stop), slice(None))
        return [set_subtensor(g[inner], g[inner] * 2), None]


def _size(x, axes: range):
    from symgraph.ops.math import cast, prod

    return cast(prod(x.shape[axes.start:axes.stop]), x.dtype)


def _norm(what: str, norm, allowed: tuple) -> str | None:
    if norm not in allowed:
        raise ValueError(f"{what}: norm must be one of {allowed}, got {norm!r}")
    return norm


def rfft(inp, norm=None):
    """The real FFT of axes 1.. of `inp` (axis 0 is the batch): (m, ..., n) ->
    (m, ..., n // 2 + 1, 2), (real, imaginary) on the last axis. norm=None: unnormalized;
    'ortho': divided by the square root of the signal size."""
    from symgraph.ops.math import sqrt

    norm = _norm("rfft", norm, (None, "ortho", "no_norm"))
    x = _float(inp, "rfft")
    y = RFFTOp()(x)
    return y / sqrt(_size(x, range(1, x.ndim))) if norm == "ortho" else y


def irfft(inp, norm=None, is_odd=False):
    """The inverse of `rfft`: (m, ..., bins, 2) -> (m, ..., n), n = 2 * (bins - 1), plus one
    when `is_odd`. norm=None: divided by the signal size (the exact inverse of rfft);
    'ortho': by its square root; 'no_norm': not at all."""
    from symgraph.ops.math import sqrt

    norm = _norm("irfft", norm, (None, "ortho", "no_norm"))
    spectrum = _float(inp, "irfft")
    n = 2 * (spectrum.shape[-2] - 1) + int(bool(is_odd))
    x = IRFFTOp()(spectrum, n)
    if norm == "no_norm":
        return x
    size = _size(x, range(1, x.ndim))
    return x / (sqrt(size) if norm == "ortho" else size)
