"""Theano's scan views: map, reduce, foldl and foldr, each one call to scan."""

from __future__ import annotations

from symgraph.scan.basic import scan


def map(
    fn,
    sequences,
    non_sequences=None,
    truncate_gradient=-1,
    go_backwards=False,
    mode=None,
    name=None,
):
    """Apply `fn` to every element of `sequences` (no output fed back); returns (outputs, updates).

    Examples
    --------
    >>> import numpy as np, symgraph as sg, symgraph.tensor as T
    >>> x = T.dvector("x")
    >>> squares, _ = sg.map(lambda v: v ** 2, x)
    >>> sg.function([x], squares)(np.arange(3.0))
    array([0., 1., 4.])
    """
    return scan(
        fn,
        sequences=sequences,
        outputs_info=[],
        non_sequences=non_sequences,
        truncate_gradient=truncate_gradient,
        go_backwards=go_backwards,
        mode=mode,
        name=name,
    )


def reduce(
    fn, sequences, outputs_info, non_sequences=None, go_backwards=False, mode=None, name=None
):
    """Like Python's reduce: the last value of each output of ``scan``; returns (result, updates).

    Examples
    --------
    >>> import numpy as np, symgraph as sg, symgraph.tensor as T
    >>> x = T.dvector("x")
    >>> total, _ = sg.reduce(lambda v, acc: acc + v, x, T.constant(0.0, dtype="float64"))
    >>> float(sg.function([x], total)(np.arange(4.0)))
    6.0
    """
    outputs, updates = scan(
        fn,
        sequences=sequences,
        outputs_info=outputs_info,
        non_sequences=non_sequences,
        go_backwards=go_backwards,
        mode=mode,
        name=name,
        return_list=True,
    )
    last = [out[-1] for out in outputs]
    if len(last) == 1:
        return last[0], updates
    return last, updates


def foldl(fn, sequences, outputs_info, non_sequences=None, mode=None, name=None):
    """reduce from the first element to the last; returns (result, updates)."""
    return reduce(
        fn, sequences, outputs_info, non_sequences, go_backwards=False, mode=mode, name=name
    )


def foldr(fn, sequences, outputs_info, non_sequences=None, mode=None, name=None):
    """reduce from the last element to the first; returns (result, updates)."""
    return reduce(
        fn, sequences, outputs_info, non_sequences, go_backwards=True, mode=mode, name=name
    )
