"""symgraph.tensor.nnet.conv3d2d: Theano's spatio-temporal convolution of a movie.

``conv3d(signals, filters)`` takes signals (batch, time, channels, rows, cols) and filters
(out channels, time, channels, rows, cols) and flips the filters (a true convolution): it is
``T.nnet.conv3d`` with time as the depth axis, returned as (batch, time, out channels, rows,
cols).
"""

from __future__ import annotations

from symgraph.ops.conv3d import conv3d as _conv3d
from symgraph.variable import as_tensor_variable

__all__ = ["conv3d"]


def conv3d(signals, filters, signals_shape=None, filters_shape=None, border_mode="valid"):
    """Convolve `signals` (batch, time, channels, rows, cols) with `filters` (out channels,
    time, channels, rows, cols); border_mode 'valid' or 'full', for all three axes (one
    string, or three equal ones). The shapes are in this function's layout."""
    modes = (border_mode,) * 3 if isinstance(border_mode, str) else tuple(border_mode)
    if len(set(modes)) != 1 or modes[0] not in ("valid", "full"):
        raise NotImplementedError(
            f"conv3d2d.conv3d: border_mode {border_mode!r}: only 'valid' or 'full' on all "
            "three axes")
    signals, filters = as_tensor_variable(signals), as_tensor_variable(filters)
    order = (0, 2, 1, 3, 4)  # (batch, time, channels, ...) <-> (batch, channels, time, ...)

    def reorder(shape):
        return None if shape is None else tuple(tuple(shape)[a] for a in order)

    out = _conv3d(signals.dimshuffle(*order), filters.dimshuffle(*order),
                  input_shape=reorder(signals_shape), filter_shape=reorder(filters_shape),
                  border_mode=modes[0])
    return out.dimshuffle(*order)
