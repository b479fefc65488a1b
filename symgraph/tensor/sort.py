"""symgraph.tensor.sort: sort and argsort at Theano's path (a facade over ops/sort.py)."""

from symgraph.ops.sort import ArgSort, Sort, argsort, sort, take_along_axis

SortOp, ArgSortOp = Sort, ArgSort  # Theano's class names

__all__ = ["ArgSort", "ArgSortOp", "Sort", "SortOp", "argsort", "sort", "take_along_axis"]
