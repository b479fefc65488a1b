"""symgraph.scan_module: Theano's older path of scan (``theano.scan_module.until``, ...)."""

from symgraph.scan import Scan, foldl, foldr, map, reduce, scan, until  # noqa: A004

__all__ = ["Scan", "foldl", "foldr", "map", "reduce", "scan", "until"]
