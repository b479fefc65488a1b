"""`T.random`: random streams on the counter-based generator (a facade over ops/random.py)."""

from symgraph.ops.random import RandomStreams, RandomVariable

RandomStream = RandomStreams  # PyTensor's spelling

__all__ = ["RandomStream", "RandomStreams", "RandomVariable"]
