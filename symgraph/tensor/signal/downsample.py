"""symgraph.tensor.signal.downsample: Theano's older pooling module (``max_pool_2d``, as the
LeNet tutorial of the Theano era calls it); new code uses ``signal.pool.pool_2d``."""

from symgraph.tensor.signal.pool import pool_2d


def max_pool_2d(input, ds, ignore_border=None, st=None, padding=(0, 0), mode="max"):
    """Pool the last two axes of `input` with windows `ds` (Theano's old spelling of
    ``pool_2d(input, ws=ds, ignore_border, stride=st, pad=padding, mode)``)."""
    return pool_2d(input, ws=ds, ignore_border=ignore_border, stride=st, pad=padding, mode=mode)


__all__ = ["max_pool_2d"]
