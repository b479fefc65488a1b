"""symgraph.scan: loops (Theano's scan, until, map, reduce, foldl, foldr).

The module itself is callable, so both spellings work: ``symgraph.scan(fn, ...)`` (as
``theano.scan``) and ``symgraph.scan.until`` / ``from symgraph.scan import scan``.
"""

import sys
import types

from symgraph.scan.basic import scan, until
from symgraph.scan.op import Scan
from symgraph.scan.views import foldl, foldr, map, reduce

__all__ = ["scan", "until", "map", "reduce", "foldl", "foldr", "Scan"]


class _CallableModule(types.ModuleType):
    """`symgraph.scan` is a package that can be called like Theano's ``theano.scan``."""

    def __call__(self, *args, **kwargs):
        return scan(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
