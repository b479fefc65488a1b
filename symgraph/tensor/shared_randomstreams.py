"""Theano's path for RandomStreams (symgraph.tensor.shared_randomstreams.RandomStreams)."""

from symgraph.ops.random import RandomStreams, RandomVariable

__all__ = ["RandomStreams", "RandomVariable"]
