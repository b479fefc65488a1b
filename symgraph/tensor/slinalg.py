"""symgraph.tensor.slinalg: scipy.linalg ops at Theano's path (a facade over ops/slinalg.py)."""

from symgraph.ops.slinalg import (
    Cholesky, Eigvalsh, Expm, Solve, SolveTriangular, cholesky, eigvalsh, expm, solve,
    solve_lower_triangular, solve_symmetric, solve_triangular, solve_upper_triangular,
)

__all__ = ["Cholesky", "Eigvalsh", "Expm", "Solve", "SolveTriangular", "cholesky", "eigvalsh",
           "expm", "solve", "solve_lower_triangular", "solve_symmetric", "solve_triangular",
           "solve_upper_triangular"]
