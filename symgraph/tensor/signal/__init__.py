"""symgraph.tensor.signal: Theano's signal-processing path (pooling in signal.pool)."""

from symgraph.tensor.signal import pool

__all__ = ["pool"]
