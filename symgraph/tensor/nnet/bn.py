"""symgraph.tensor.nnet.bn: Theano's module path for batch normalization (a re-export)."""

from symgraph.ops.bn import (
    batch_normalization,
    batch_normalization_test,
    batch_normalization_train,
)

__all__ = ["batch_normalization", "batch_normalization_train", "batch_normalization_test"]
