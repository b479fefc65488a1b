"""Theano's tensor.nnet.neighbours: images2neibs (patches of images as rows of a matrix) and
neibs2images (the patches summed back into images).

``images2neibs(ten4, neib_shape, neib_step=None, mode='valid')`` turns a (d0, d1, rows, cols)
tensor into a matrix with one row per patch: for each of the d0 * d1 images in order, its
patches in row-major order of their positions, each patch flattened row-major. Modes:

- ``valid``: every patch inside the image; the sizes must fit exactly
  (``(rows - c) % step_r == 0``), as in Theano;
- ``ignore_borders``: the same, rows and columns that no whole patch covers left out;
- ``half`` / ``full``: ``valid`` on the image padded with zeros by ``c // 2`` / ``c - 1``
  (and likewise for columns).

Theano's ``wrap_centered`` is not supported (NotImplementedError). The two ops are each other's
transpose, which gives both gradients (overlapping patches included).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from symgraph.graph import Apply, Op
from symgraph.ops.blas import describe
from symgraph.ops.constant_value import NotScalarConstantError, _static_value
from symgraph.types import TensorType
from symgraph.variable import as_tensor_variable

__all__ = ["images2neibs", "neibs2images", "Images2Neibs", "Neibs2Images"]

MODES = ("valid", "ignore_borders", "half", "full")


def _pair(value, what: str, name: str) -> tuple[int, int]:
    """A pair of positive Python ints from a tuple, a list or a constant vector."""
    if not isinstance(value, (tuple, list)):
        try:
            value = _static_value(as_tensor_variable(value)).tolist()
        except NotScalarConstantError:
            raise NotImplementedError(
                f"{what}: {name} must be known when the graph is built (a pair of ints or a "
                f"constant vector); symbolic sizes are not supported, got {value!r}"
            ) from None
    pair = tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
        raise ValueError(f"{what}: {name} must be a pair of ints, got {value!r}")
    if min(pair) < 1:
        raise ValueError(f"{what}: {name} must be positive, got {value!r}")
    return int(pair[0]), int(pair[1])


@dataclass(frozen=True)
class _Params(Op):
    neib_shape: tuple[int, int]
    neib_step: tuple[int, int]
    mode: str = "valid"

    def pads(self) -> tuple[int, int]:
        c, d = self.neib_shape
        return {"half": (c // 2, d // 2), "full": (c - 1, d - 1)}.get(self.mode, (0, 0))

    def grid(self, rows: int, cols: int, what: str) -> tuple[int, int]:
        """Patch positions along rows and columns of an image of this size (ints); raises
        Theano's error when `valid` sizes do not fit."""
        counts = []
        for axis, size, pad, c, step in zip(("rows", "columns"), (rows, cols), self.pads(),
                                            self.neib_shape, self.neib_step):
            span = size + 2 * pad - c
            if span < 0:
                raise ValueError(f"{what}: the patch size {c} exceeds the {size} image {axis}")
            if self.mode == "valid" and span % step:
                raise ValueError(
                    f"{what}: neib_shape {self.neib_shape} and neib_step {self.neib_step} do "
                    f"not fit the image's {size} {axis} in mode 'valid' (({size} - {c}) is not "
                    f"a multiple of {step}); use mode='ignore_borders' to drop the rest"
                )
            counts.append(span // step + 1)
        return counts[0], counts[1]

    def windows(self, padded: np.ndarray) -> np.ndarray:
        """(d0, d1, positions_r, positions_c, c, d) views of the padded images."""
        (c, d), (sr, sc) = self.neib_shape, self.neib_step
        return sliding_window_view(padded, (c, d), axis=(2, 3))[:, :, ::sr, ::sc]


def _symbolic_grid(op: _Params, rows, cols):
    """The number of patch positions from symbolic sizes (infer_shape)."""
    (pr, pc), (c, d), (sr, sc) = op.pads(), op.neib_shape, op.neib_step
    return (rows + 2 * pr - c) // sr + 1, (cols + 2 * pc - d) // sc + 1


class Images2Neibs(_Params):
    """(d0, d1, rows, cols) -> (d0 * d1 * positions, c * d): one row per patch."""

    def __str__(self) -> str:
        return f"Images2Neibs{{{self.mode}, {self.neib_shape}, {self.neib_step}}}"

    def make_node(self, ten4) -> Apply:
        x = as_tensor_variable(ten4)
        if x.ndim != 4:
            raise TypeError(f"images2neibs: the input {describe(x)} must be a 4-d tensor "
                            f"(d0, d1, rows, cols), got {x.ndim} dimensions")
        return Apply(self, [x], [TensorType(x.dtype, (None, self.neib_shape[0]
                                                      * self.neib_shape[1]))()])

    def perform(self, node: Apply, inputs: list) -> list:
        (x,) = inputs
        pr, pc = self.pads()
        self.grid(x.shape[2], x.shape[3], "images2neibs")
        padded = np.pad(x, ((0, 0), (0, 0), (pr, pr), (pc, pc))) if pr or pc else x
        patches = self.windows(padded)
        return [np.ascontiguousarray(patches).reshape(-1, patches.shape[-2] * patches.shape[-1])]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        d0, d1, rows, cols = input_shapes[0]
        nr, nc = _symbolic_grid(self, rows, cols)
        return [(d0 * d1 * nr * nc, self.neib_shape[0] * self.neib_shape[1])]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        (x,), (gz,) = inputs, output_grads
        return [Neibs2Images(self.neib_shape, self.neib_step, self.mode)(gz, x.shape)]


class Neibs2Images(_Params):
    """(patches as rows, the images' shape) -> images: each patch added where images2neibs
    took it from (overlaps summed, uncovered pixels zero)."""

    def __str__(self) -> str:
        return f"Neibs2Images{{{self.mode}, {self.neib_shape}, {self.neib_step}}}"

    def make_node(self, neibs, shape) -> Apply:
        neibs, shape = as_tensor_variable(neibs), as_tensor_variable(shape)
        if neibs.ndim != 2:
            raise TypeError(f"neibs2images: the patches {describe(neibs)} must be a matrix "
                            f"(one patch per row), got {neibs.ndim} dimensions")
        if shape.ndim != 1 or not shape.dtype.startswith(("int", "uint")):
            raise TypeError(f"neibs2images: the original shape {describe(shape)} must be a "
                            f"vector of 4 ints, got {shape.type}")
        return Apply(self, [neibs, shape], [TensorType(neibs.dtype, (None,) * 4)()])

    def perform(self, node: Apply, inputs: list) -> list:
        neibs, shape = inputs
        if len(shape) != 4:
            raise ValueError(f"neibs2images: the original shape must have 4 entries, got "
                             f"{tuple(shape)}")
        d0, d1, rows, cols = (int(s) for s in shape)
        nr, nc = self.grid(rows, cols, "neibs2images")
        (c, d), (pr, pc) = self.neib_shape, self.pads()
        want = (d0 * d1 * nr * nc, c * d)
        if neibs.shape != want:
            raise ValueError(f"neibs2images: the patches have shape {neibs.shape}, but "
                             f"{self.neib_shape} patches of images {(d0, d1, rows, cols)} in "
                             f"mode {self.mode!r} make {want}")
        out = np.zeros((d0, d1, rows + 2 * pr, cols + 2 * pc), dtype=neibs.dtype)
        patches = neibs.reshape(d0, d1, nr, nc, c, d)
        sr, sc = self.neib_step
        for i in range(c):  # one strided add per offset in the patch: overlaps accumulate
            for j in range(d):
                out[:, :, i:i + sr * nr:sr, j:j + sc * nc:sc] += patches[:, :, :, :, i, j]
        return [np.ascontiguousarray(out[:, :, pr:pr + rows, pc:pc + cols])]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        shape = node.inputs[1]
        return [tuple(shape[k] for k in range(4))]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        (gz,) = output_grads  # the shape has no gradient
        return [Images2Neibs(self.neib_shape, self.neib_step, self.mode)(gz), None]


def _op(cls: type, what: str, neib_shape, neib_step, mode: str):
    if mode == "wrap_centered":
        raise NotImplementedError(f"{what}: mode 'wrap_centered' is not supported (modes: "
                                  f"{', '.join(MODES)})")
    if mode not in MODES:
        raise ValueError(f"{what}: mode must be one of {', '.join(MODES)}, got {mode!r}")
    shape = _pair(neib_shape, what, "neib_shape")
    step = shape if neib_step is None else _pair(neib_step, what, "neib_step")
    return cls(shape, step, mode)


def images2neibs(ten4, neib_shape, neib_step=None, mode="valid"):
    """The (c, d) patches of the images in `ten4` (d0, d1, rows, cols), `neib_step` apart
    (default: `neib_shape`, patches side by side), as the rows of a matrix (see the module
    docstring for the order and the modes).

    Examples
    --------
    >>> import numpy as np, symgraph.tensor as T
    >>> from symgraph.tensor.nnet.neighbours import images2neibs
    >>> x = T.tensor4("x")
    >>> images2neibs(x, (2, 2)).eval({x: np.arange(16.0).reshape(1, 1, 4, 4)})[0]
    array([0., 1., 4., 5.])
    """
    return _op(Images2Neibs, "images2neibs", neib_shape, neib_step, mode)(ten4)


def neibs2images(neibs, neib_shape, original_shape, mode="valid"):
    """The images of shape `original_shape` whose (c, d) patches, side by side, are the rows
    of `neibs` (the inverse of images2neibs for non-overlapping patches; pixels that no patch
    covers, in mode 'ignore_borders', are zero)."""
    return _op(Neibs2Images, "neibs2images", neib_shape, None, mode)(
        neibs, as_tensor_variable(original_shape))
