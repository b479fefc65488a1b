"""Theano's misc path, kept for imports such as ``theano.misc.pkl_utils``."""
