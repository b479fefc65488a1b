"""symgraph.tensor.nnet.conv: Theano's older convolution module (``conv.conv2d`` with
``image_shape``, as the LeNet tutorial of the Theano era calls it)."""

from symgraph.ops.conv import conv2d as _conv2d


def conv2d(input, filters, image_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1), **kargs):
    """2-d convolution (flipped filters), Theano's ``theano.tensor.nnet.conv.conv2d``.

    Parameters as in ``symgraph.tensor.nnet.conv2d``; `image_shape` is the input's shape.
    Theano's tuning arguments of the old ConvOp (unroll_batch, unroll_kern, imshp_logical,
    ...) are accepted and change nothing.
    """
    return _conv2d(input, filters, input_shape=image_shape, filter_shape=filter_shape,
                   border_mode=border_mode, subsample=subsample)


__all__ = ["conv2d"]
