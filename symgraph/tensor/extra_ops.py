"""symgraph.tensor.extra_ops: Theano's extra_ops at its path (a facade over ops/)."""

from symgraph.ops.alloc import repeat
from symgraph.ops.extra_ops import (
    Bartlett, BinCount, CumOp, FillDiagonal, RavelMultiIndex, SearchSorted, Unique, UnravelIndex,
    bartlett, bincount, compress, cumprod, cumsum, diff, fill_diagonal, fill_diagonal_offset,
    ravel_multi_index, searchsorted, to_one_hot, unique, unravel_index,
)
from symgraph.ops.numeric import choose
from symgraph.ops.shape import squeeze

__all__ = ["Bartlett", "BinCount", "CumOp", "FillDiagonal", "RavelMultiIndex", "SearchSorted",
           "Unique", "UnravelIndex", "bartlett", "bincount", "choose", "compress", "cumprod",
           "cumsum", "diff", "fill_diagonal", "fill_diagonal_offset", "ravel_multi_index",
           "repeat", "searchsorted", "squeeze", "to_one_hot", "unique", "unravel_index"]
