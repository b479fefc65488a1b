"""symgraph.tensor.nnet.ctc: Theano's CTC loss at its path (see ops/ctc.py)."""

from symgraph.ops.ctc import ConnectionistTemporalClassification, ctc

__all__ = ["ConnectionistTemporalClassification", "ctc"]
