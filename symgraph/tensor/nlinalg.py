"""symgraph.tensor.nlinalg: matrix_inverse, det, matrix_dot at Theano's path (a facade)."""

from symgraph.ops.nlinalg import Det, MatrixInverse, det, matrix_dot, matrix_inverse

__all__ = ["Det", "MatrixInverse", "det", "matrix_dot", "matrix_inverse"]
