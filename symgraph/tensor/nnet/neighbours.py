"""symgraph.tensor.nnet.neighbours: Theano's module path for images2neibs / neibs2images."""

from symgraph.ops.neighbours import Images2Neibs, Neibs2Images, images2neibs, neibs2images

__all__ = ["images2neibs", "neibs2images", "Images2Neibs", "Neibs2Images"]
