"""symgraph.nn: layers that own shared parameters, initializers, and saving/loading by name."""

from symgraph.nn import init
from symgraph.nn.container import Sequential
from symgraph.nn.layers import (
    Activation,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Layer,
    MaxPool2D,
)
from symgraph.nn.serialization import LoadReport, load_params, save_params

__all__ = [
    "Activation",
    "BatchNorm",
    "Conv2D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "Layer",
    "LoadReport",
    "MaxPool2D",
    "Sequential",
    "init",
    "load_params",
    "save_params",
]
