"""scipy.linalg ops with gradients, at Theano's tensor.slinalg names: cholesky, solve,
solve_triangular, expm, eigvalsh.

LAPACK reads only one triangle of a symmetric or triangular input, so the gradients of
cholesky, symmetric solve, solve_triangular and eigvalsh are also confined to that triangle:
they are exact for the function scipy computes, and verify_grad checks them entry by entry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symgraph.graph import Apply, Op
from symgraph.ops.alloc import tril, triu
from symgraph.ops.blas import describe, dot
from symgraph.ops.diag import diag, diagonal
from symgraph.ops.nlinalg import _check_square, _float_dtype, _square_matrix
from symgraph.types import TensorType, upcast, upgrade_to_float
from symgraph.variable import as_tensor_variable


def _scipy_linalg():
    import scipy.linalg

    return scipy.linalg


def _fold(g, lower: bool):
    """A full-matrix gradient moved onto the one triangle LAPACK reads (g + g^T off-diagonal)."""
    if lower:
        return tril(g) + tril(g.T, -1)
    return triu(g) + triu(g.T, 1)


# --- cholesky ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cholesky(Op):
    """The Cholesky factor of a symmetric positive-definite matrix (scipy.linalg.cholesky).

    `on_error` 'raise' raises numpy's LinAlgError for a matrix that is not positive
    definite; 'nan' returns a matrix of NaNs instead (Theano's option).
    """

    lower: bool = True
    on_error: str = "raise"

    def make_node(self, x) -> Apply:
        x = _square_matrix("cholesky", x)
        return Apply(self, [x], [TensorType(_float_dtype(x), x.type.shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        x = inputs[0]
        _check_square("cholesky", node, x)
        dtype = node.outputs[0].dtype
        try:
            out = _scipy_linalg().cholesky(x, lower=self.lower)
        except np.linalg.LinAlgError as exc:
            if self.on_error == "nan":
                return [np.full(x.shape, np.nan, dtype=dtype)]
            raise np.linalg.LinAlgError(f"cholesky: {node.inputs[0]}{node.inputs[0].where()} "
                                        f"is not positive definite ({exc})") from exc
        return [np.asarray(out, dtype=dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [tuple(input_shapes[0])]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        # Murray (2016), "Differentiation of the Cholesky decomposition", for L = chol(A):
        # S = L^-T Phi(L^T dL) L^-1 with Phi the lower triangle and half the diagonal
        chol, dz = outputs[0], output_grads[0]
        if not self.lower:
            chol, dz = chol.T, dz.T
        inner = dot(chol.T, dz)
        phi = tril(inner) - diag(diagonal(inner) / 2.0)
        upper = SolveTriangular(lower=False)
        s = upper(chol.T, upper(chol.T, phi.T).T)
        sym = s + s.T
        grad = (tril(sym) if self.lower else triu(sym)) - diag(diagonal(s))
        return [grad]


def cholesky(x, lower: bool = True, on_error: str = "raise"):
    """The lower (or upper) Cholesky factor of a symmetric positive-definite matrix."""
    if on_error not in ("raise", "nan"):
        raise ValueError(f"cholesky: on_error must be 'raise' or 'nan', got {on_error!r}")
    return Cholesky(bool(lower), on_error)(x)


# --- solve -------------------------------------------------------------------------------------


def _a_and_b(what: str, a, b):
    a, b = _square_matrix(what, a), as_tensor_variable(b)
    if b.ndim not in (1, 2):
        raise TypeError(f"{what}: b {describe(b)} has {b.ndim} dimensions; expected a vector "
                        "or a matrix")
    if a.type.shape[0] is not None and b.type.shape[0] is not None and \
            a.type.shape[0] != b.type.shape[0]:
        raise ValueError(f"{what}: a {describe(a)} has {a.type.shape[0]} rows but b "
                         f"{describe(b)} has {b.type.shape[0]}")
    dtype = upgrade_to_float(upcast(a.dtype, b.dtype))
    return a, b, TensorType(dtype, (a.type.shape[1],) + b.type.shape[1:])


def _check_rows(what: str, node: Apply, a: np.ndarray, b: np.ndarray) -> None:
    _check_square(what, node, a)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{what}: a {node.inputs[0]} has shape {a.shape} but b "
                         f"{node.inputs[1]} has shape {b.shape}; their first sizes must match")


def _outer(x, y):
    """x y^T for vectors or matrices (the shape of a rank-one update of A)."""
    if x.ndim == 1:
        return x.dimshuffle(0, "x") * y.dimshuffle("x", 0)
    return dot(x, y.T)


@dataclass(frozen=True)
class Solve(Op):
    """x with a x = b (scipy.linalg.solve); `assume_a` 'gen', 'sym' or 'pos'."""

    assume_a: str = "gen"
    lower: bool = False

    def make_node(self, a, b) -> Apply:
        a, b, out = _a_and_b("solve", a, b)
        return Apply(self, [a, b], [out()])

    def perform(self, node: Apply, inputs: list) -> list:
        a, b = inputs
        _check_rows("solve", node, a, b)
        out = _scipy_linalg().solve(a, b, assume_a=self.assume_a, lower=self.lower)
        return [np.asarray(out, dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [(input_shapes[0][1],) + tuple(input_shapes[1][1:])]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        # c = A^-1 b: b_bar = A^-T c_bar, A_bar = -b_bar c^T
        (a, _), (c,), (c_bar,) = inputs, outputs, output_grads
        b_bar = Solve(self.assume_a, self.lower)(a.T, c_bar)
        a_bar = -_outer(b_bar, c)
        if self.assume_a != "gen":
            a_bar = _fold(a_bar, self.lower)
        return [a_bar, b_bar]


def solve(a, b, assume_a: str = "gen", lower: bool = False, check_finite: bool = True):
    """The solution x of a x = b, for a square `a` and a vector or matrix `b`.

    Examples
    --------
    >>> import numpy as np, symgraph.tensor as T
    >>> from symgraph.tensor.slinalg import solve
    >>> a, b = T.dmatrix("a"), T.dvector("b")
    >>> solve(a, b).eval({a: np.diag([2.0, 4.0]), b: np.array([2.0, 2.0])})
    array([1. , 0.5])
    """
    if assume_a not in ("gen", "sym", "pos"):
        raise ValueError(f"solve: assume_a must be 'gen', 'sym' or 'pos', got {assume_a!r}")
    return Solve(assume_a, bool(lower))(a, b)


def solve_symmetric(a, b):
    return solve(a, b, assume_a="sym")


@dataclass(frozen=True)
class SolveTriangular(Op):
    """x with a x = b (or a^T x = b: `trans`) for a triangular a (scipy.linalg.solve_triangular)."""

    lower: bool = False
    trans: int = 0
    unit_diagonal: bool = False

    def make_node(self, a, b) -> Apply:
        a, b, out = _a_and_b("solve_triangular", a, b)
        return Apply(self, [a, b], [out()])

    def perform(self, node: Apply, inputs: list) -> list:
        a, b = inputs
        _check_rows("solve_triangular", node, a, b)
        out = _scipy_linalg().solve_triangular(a, b, trans=self.trans, lower=self.lower,
                                               unit_diagonal=self.unit_diagonal)
        return [np.asarray(out, dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [(input_shapes[0][1],) + tuple(input_shapes[1][1:])]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        (a, _), (c,), (c_bar,) = inputs, outputs, output_grads
        b_bar = SolveTriangular(self.lower, 1 - self.trans, self.unit_diagonal)(a, c_bar)
        a_bar = -_outer(c, b_bar) if self.trans else -_outer(b_bar, c)
        a_bar = tril(a_bar) if self.lower else triu(a_bar)
        if self.unit_diagonal:  # the diagonal is never read
            a_bar = a_bar - diag(diagonal(a_bar))
        return [a_bar, b_bar]


def solve_triangular(a, b, trans=0, lower: bool = False, unit_diagonal: bool = False,
                     check_finite: bool = True):
    """The solution of a x = b for a lower or upper triangular `a` (trans 1 or 'T': a^T)."""
    trans = {"N": 0, "T": 1, "C": 1}.get(trans, trans)
    if trans not in (0, 1):
        raise ValueError(f"solve_triangular: trans must be 0, 1, 'N' or 'T', got {trans!r}")
    return SolveTriangular(bool(lower), int(trans), bool(unit_diagonal))(a, b)


def solve_lower_triangular(a, b):
    return solve_triangular(a, b, lower=True)


def solve_upper_triangular(a, b):
    return solve_triangular(a, b, lower=False)


# --- expm, eigvalsh ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Expm(Op):
    """The matrix exponential (scipy.linalg.expm)."""

    def make_node(self, a) -> Apply:
        a = _square_matrix("expm", a)
        return Apply(self, [a], [TensorType(_float_dtype(a), a.type.shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        _check_square("expm", node, inputs[0])
        return [np.asarray(_scipy_linalg().expm(inputs[0]), dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [tuple(input_shapes[0])]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        return [ExpmGrad()(inputs[0], output_grads[0])]


@dataclass(frozen=True)
class ExpmGrad(Op):
    """The gradient of expm: the Frechet derivative of expm at A^T in the direction G."""

    def make_node(self, a, g) -> Apply:
        a, g = as_tensor_variable(a), as_tensor_variable(g)
        return Apply(self, [a, g], [TensorType(_float_dtype(a), a.type.shape)()])

    def perform(self, node: Apply, inputs: list) -> list:
        a, g = inputs
        out = _scipy_linalg().expm_frechet(a.T, g, compute_expm=False)
        return [np.asarray(out, dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [tuple(input_shapes[0])]


def expm(a):
    """The matrix exponential of the square matrix `a`."""
    return Expm()(a)


@dataclass(frozen=True)
class Eigvalsh(Op):
    """Eigenvalues of a symmetric matrix, ascending (scipy.linalg.eigvalsh), from one triangle."""

    lower: bool = True

    def make_node(self, a) -> Apply:
        a = _square_matrix("eigvalsh", a)
        return Apply(self, [a], [TensorType(_float_dtype(a), (a.type.shape[0],))()])

    def perform(self, node: Apply, inputs: list) -> list:
        _check_square("eigvalsh", node, inputs[0])
        w = _scipy_linalg().eigvalsh(inputs[0], lower=self.lower)
        return [np.asarray(w, dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: list) -> list:
        return [(input_shapes[0][0],)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        # dw_k = v_k^T dA v_k, so A_bar = V diag(w_bar) V^T
        from symgraph.ops.nlinalg import eigh

        _, v = eigh(inputs[0], "L" if self.lower else "U")
        g = dot(v * output_grads[0].dimshuffle("x", 0), v.T)
        return [_fold(g, self.lower)]


def eigvalsh(a, b=None, lower: bool = True):
    """Eigenvalues of the symmetric matrix `a` in ascending order (b: not supported)."""
    if b is not None:
        raise NotImplementedError("eigvalsh: the generalized problem (b=...) is not supported")
    return Eigvalsh(bool(lower))(a)
