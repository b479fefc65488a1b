"""Theano's sandbox path, kept for imports such as ``theano.sandbox.rng_mrg``."""
