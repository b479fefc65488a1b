"""numpy.linalg ops at Theano's tensor.nlinalg names: matrix_inverse, det, pinv, eig, eigh,
svd, qr, matrix_power (gradients where Theano has them)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

import numpy as np

from symgraph.graph import Apply, Op, Variable
from symgraph.ops.blas import describe, dot
from symgraph.types import TensorType, upgrade_to_float
from symgraph.variable import as_tensor_variable


def _square_matrix(what: str, x) -> Variable:
    """`x` as a tensor, checked to be a matrix that is square where its sizes are known."""
    x = as_tensor_variable(x)
    if x.ndim != 2:
        raise TypeError(f"{what}: {describe(x)} has {x.ndim} dimensions (type {x.type}); "
                        "expected a matrix")
    rows, cols = x.type.shape
    if rows is not None and cols is not None and rows != cols:
        raise ValueError(f"{what}: {describe(x)} has static shape ({rows}, {cols}); expected a "
                         "square matrix")
    return x


def _check_square(what: str, node: Apply, x: np.ndarray) -> None:
    if x.shape[0] != x.shape[1]:
        raise ValueError(f"{what}: {node.inputs[0]} has shape {x.shape}; expected a square matrix")


def _float_dtype(x: Variable) -> str:
    """Integer matrices are inverted in floats (Theano would truncate: never a wrong answer)."""
    return upgrade_to_float(x.dtype)


@dataclass(frozen=True)
class MatrixInverse(Op):
    """The inverse of a square matrix (numpy.linalg.inv)."""

    def make_node(self, x) -> Apply:
        x = _square_matrix("matrix_inverse", x)
        size = x.type.shape[0] if x.type.shape[0] is not None else x.type.shape[1]
        return Apply(self, [x], [TensorType(_float_dtype(x), (size, size))()])

    def perform(self, node: Apply, inputs: list) -> list:
        _check_square("matrix_inverse", node, inputs[0])
        return [np.asarray(np.linalg.inv(inputs[0]), dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [tuple(input_shapes[0])]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        # d(X^-1) = -X^-1 dX X^-1, so the gradient is -X^-T G X^-T.
        xi, gz = outputs[0], output_grads[0]
        return [-dot(dot(xi.T, gz), xi.T)]

    def R_op(self, inputs: list, eval_points: list):
        if eval_points[0] is None:
            return [None]
        xi = self(inputs[0])
        return [-dot(dot(xi, eval_points[0]), xi)]


@dataclass(frozen=True)
class Det(Op):
    """The determinant of a square matrix (numpy.linalg.det)."""

    def make_node(self, x) -> Apply:
        x = _square_matrix("det", x)
        return Apply(self, [x], [TensorType(_float_dtype(x), ())()])

    def perform(self, node: Apply, inputs: list) -> list:
        _check_square("det", node, inputs[0])
        return [np.asarray(np.linalg.det(inputs[0]), dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [()]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        # d det(X) / dX = det(X) X^-T (Jacobi's formula).
        (x,), (d,), (gz,) = inputs, outputs, output_grads
        return [gz * d * matrix_inverse(x).T]


matrix_inverse = MatrixInverse()
det = Det()


def matrix_dot(*args):
    """The product of several matrices or vectors, left to right: matrix_dot(a, b, c) = a.b.c."""
    if not args:
        raise TypeError("matrix_dot needs at least one argument")
    return reduce(dot, args)


# --- decompositions ----------------------------------------------------------------------------


def _matrix(what: str, x) -> Variable:
    x = as_tensor_variable(x)
    if x.ndim != 2:
        raise TypeError(f"{what}: {describe(x)} has {x.ndim} dimensions (type {x.type}); "
                        "expected a matrix")
    return x


@dataclass(frozen=True)
class MatrixPinv(Op):
    """The Moore-Penrose pseudo-inverse (numpy.linalg.pinv)."""

    hermitian: bool = False

    def make_node(self, x) -> Apply:
        x = _matrix("pinv", x)
        rows, cols = x.type.shape
        return Apply(self, [x], [TensorType(_float_dtype(x), (cols, rows))()])

    def perform(self, node: Apply, inputs: list) -> list:
        out = np.linalg.pinv(inputs[0], hermitian=self.hermitian)
        return [np.asarray(out, dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [tuple(reversed(input_shapes[0]))]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        # Golub & Pereyra (1973), as in Theano: valid where the rank is locally constant
        from symgraph.ops.alloc import identity_like

        (x,), (z,), (gz,) = inputs, outputs, output_grads
        x_z, z_x = dot(x, z), dot(z, x)
        grad = (-matrix_dot(z, gz.T, z)
                + matrix_dot(z, z.T, gz, identity_like(x_z) - x_z)
                + matrix_dot(identity_like(z_x) - z_x, gz, z.T, z))
        return [grad.T]


def pinv(x, hermitian: bool = False):
    """The pseudo-inverse of the matrix `x`."""
    return MatrixPinv(bool(hermitian))(x)


class _Eigendecomposition(Op):
    """(eigenvalues, eigenvectors) of a square matrix; subclasses say how they are computed."""

    what = ""  # the function's name, for errors

    def _decompose(self, x: np.ndarray) -> tuple:
        raise NotImplementedError

    def perform(self, node: Apply, inputs: list) -> list:
        _check_square(self.what, node, inputs[0])
        w, v = self._decompose(inputs[0])
        return [np.asarray(w, dtype=node.outputs[0].dtype),
                np.asarray(v, dtype=node.outputs[1].dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        n = input_shapes[0][0]
        return [(n,), (n, n)]


@dataclass(frozen=True)
class Eig(_Eigendecomposition):
    """Eigenvalues and right eigenvectors of a square matrix (numpy.linalg.eig).

    The outputs are always complex (complex128 for float64 input): numpy picks a real or
    complex result from the values, which a graph type cannot do.
    """

    def make_node(self, x) -> Apply:
        x = _square_matrix("eig", x)
        dtype = "complex64" if x.dtype in ("float32", "complex64") else "complex128"
        n = x.type.shape[0]
        return Apply(self, [x], [TensorType(dtype, (n,))(), TensorType(dtype, (n, n))()])

    what = "eig"

    def _decompose(self, x: np.ndarray) -> tuple:
        return np.linalg.eig(x)

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        raise NotImplementedError("eig has no gradient (as in Theano); use eigh for a "
                                  "symmetric matrix")


def eig(x):
    """(w, v): eigenvalues and eigenvectors of the square matrix `x`, as complex tensors."""
    return Eig()(x)


@dataclass(frozen=True)
class Eigh(_Eigendecomposition):
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix (numpy.linalg.eigh).

    Only the lower ('L') or upper ('U') triangle is read.
    """

    UPLO: str = "L"

    def make_node(self, x) -> Apply:
        x = _square_matrix("eigh", x)
        dtype, n = _float_dtype(x), x.type.shape[0]
        return Apply(self, [x], [TensorType(dtype, (n,))(), TensorType(dtype, (n, n))()])

    what = "eigh"

    def _decompose(self, x: np.ndarray) -> tuple:
        return np.linalg.eigh(x, self.UPLO)

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        from symgraph.ops.math import zeros_like

        (x,), (w, v), (gw, gv) = inputs, outputs, output_grads
        gw = zeros_like(w) if gw is None else gw
        gv = zeros_like(v) if gv is None else gv
        return [EighGrad(self.UPLO)(x, w, v, gw, gv)]


@dataclass(frozen=True)
class EighGrad(Op):
    """The gradient of Eigh (Theano's EighGrad), folded onto the triangle that Eigh reads.

    A_bar = V diag(gw) V^T + sum over m != n of v_n v_m^T (v_m . gv_n) / (w_n - w_m).
    """

    UPLO: str = "L"

    def make_node(self, x, w, v, gw, gv) -> Apply:
        x, w, v, gw, gv = (as_tensor_variable(t) for t in (x, w, v, gw, gv))
        return Apply(self, [x, w, v, gw, gv], [TensorType(w.dtype, x.type.shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        _, w, v, gw, gv = inputs
        diff = w[np.newaxis, :] - w[:, np.newaxis]  # [m, n] = w[n] - w[m]
        np.fill_diagonal(diff, np.inf)
        g_cols = v @ ((v.T @ gv) / diff)  # column n: sum over m != n of v_m (v_m . gv_n) / ..
        g = v @ (gw[:, np.newaxis] * v.T) + v @ g_cols.T
        if self.UPLO == "L":
            out = np.tril(g) + np.triu(g, 1).T
        else:
            out = np.triu(g) + np.tril(g, -1).T
        return [np.asarray(out, dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [tuple(input_shapes[0])]


def eigh(a, UPLO: str = "L"):  # noqa: N803 (numpy's name)
    """(w, v): ascending eigenvalues and eigenvectors of the symmetric matrix `a`."""
    if UPLO not in ("L", "U"):
        raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    return Eigh(UPLO)(a)


@dataclass(frozen=True)
class SVD(Op):
    """numpy.linalg.svd: (U, s, V^H), or only s without `compute_uv`."""

    full_matrices: bool = True
    compute_uv: bool = True

    def make_node(self, x) -> Apply:
        x = _matrix("svd", x)
        dtype = _float_dtype(x)
        if not self.compute_uv:
            return Apply(self, [x], [TensorType(dtype, (None,))()])
        return Apply(self, [x], [TensorType(dtype, (None, None))(), TensorType(dtype, (None,))(),
                                 TensorType(dtype, (None, None))()])

    def perform(self, node: Apply, inputs: list) -> list:
        res = np.linalg.svd(inputs[0], self.full_matrices, self.compute_uv)
        res = res if self.compute_uv else (res,)
        return [np.asarray(r, dtype=o.dtype) for r, o in zip(res, node.outputs)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        from symgraph.ops.math import minimum

        rows, cols = input_shapes[0]
        k = minimum(rows, cols)
        if not self.compute_uv:
            return [(k,)]
        if self.full_matrices:
            return [(rows, rows), (k,), (cols, cols)]
        return [(rows, k), (k,), (k, cols)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        raise NotImplementedError("svd has no gradient (as in Theano)")


def svd(a, full_matrices: bool = True, compute_uv: bool = True):
    """The singular value decomposition: [U, s, V^H], or s alone without `compute_uv`."""
    return SVD(bool(full_matrices), bool(compute_uv))(a)


@dataclass(frozen=True)
class QRFull(Op):
    """numpy.linalg.qr with `mode` 'reduced', 'complete', 'r' or 'raw'."""

    mode: str = "reduced"

    def make_node(self, x) -> Apply:
        x = _matrix("qr", x)
        dtype = _float_dtype(x)
        n = 1 if self.mode == "r" else 2
        outs = [TensorType(dtype, (None, None))() for _ in range(n)]
        if self.mode == "raw":
            outs[1] = TensorType(dtype, (None,))()
        return Apply(self, [x], outs)

    def perform(self, node: Apply, inputs: list) -> list:
        res = np.linalg.qr(inputs[0], self.mode)
        res = (res,) if self.mode == "r" else tuple(res)
        return [np.asarray(r, dtype=o.dtype) for r, o in zip(res, node.outputs)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        raise NotImplementedError("qr has no gradient (as in Theano)")


def qr(a, mode: str = "reduced"):
    """The QR decomposition: [q, r] (mode 'reduced' or 'complete'), r (mode 'r'), or
    [h, tau] (mode 'raw'), as numpy.linalg.qr."""
    if mode not in ("reduced", "complete", "r", "raw"):
        raise ValueError(f"qr: mode must be 'reduced', 'complete', 'r' or 'raw', got {mode!r}")
    return QRFull(mode)(a)


def matrix_power(m, n: int):
    """The matrix `m` multiplied by itself `n` times (n >= 0; 0 gives the identity)."""
    from symgraph.ops.alloc import identity_like

    m = _square_matrix("matrix_power", m)
    if not isinstance(n, (int, np.integer)):
        raise TypeError(f"matrix_power: n must be an int, got {n!r}")
    if n < 0:
        return matrix_power(matrix_inverse(m), -n)
    if n == 0:
        return identity_like(m)
    result, base = None, m
    while n:  # square-and-multiply: log2(n) products
        if n & 1:
            result = base if result is None else dot(result, base)
        n >>= 1
        if n:
            base = dot(base, base)
    return result
