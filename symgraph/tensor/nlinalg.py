"""symgraph.tensor.nlinalg: numpy.linalg ops at Theano's path (a facade over ops/)."""

from symgraph.ops.diag import AllocDiag, ExtractDiag, alloc_diag, diag, extract_diag, trace
from symgraph.ops.nlinalg import (
    SVD, Det, Eig, Eigh, EighGrad, MatrixInverse, MatrixPinv, QRFull, det, eig, eigh,
    matrix_dot, matrix_inverse, matrix_power, pinv, qr, svd,
)

__all__ = ["AllocDiag", "Det", "Eig", "Eigh", "EighGrad", "ExtractDiag", "MatrixInverse",
           "MatrixPinv", "QRFull", "SVD", "alloc_diag", "det", "diag", "eig", "eigh",
           "extract_diag", "matrix_dot", "matrix_inverse", "matrix_power", "pinv", "qr", "svd",
           "trace"]
