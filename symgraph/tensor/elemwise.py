"""symgraph.tensor.elemwise: Theano's path of the elementwise, broadcast and reduction ops."""

from symgraph.ops.elemwise import DimShuffle, Elemwise
from symgraph.ops.reduce import CAReduce

__all__ = ["CAReduce", "DimShuffle", "Elemwise"]
