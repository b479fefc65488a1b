"""symgraph.tensor.signal: Theano's signal-processing path (pooling in signal.pool, the
convolution of images and image stacks in signal.conv)."""

from symgraph.tensor.signal import conv, pool

__all__ = ["conv", "pool"]
