"""Sequential: layers applied in order, with their parameters collected by name."""

from __future__ import annotations

from symgraph.nn.layers import Layer
from symgraph.shared import SharedVariable


class Sequential(Layer):
    """Apply `layers` one after another: ``Sequential(Dense(...), Dropout(), Dense(...))``."""

    def __init__(self, *layers: Layer, name: str | None = None):
        super().__init__(name)
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for k, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: item {k} is a {type(layer).__name__}, not a Layer")
        self.layers = list(layers)

    def __call__(self, x, deterministic: bool = False):
        for layer in self.layers:
            x = layer(x, deterministic=deterministic)
        return x

    def __getitem__(self, k: int) -> Layer:
        return self.layers[k]

    def __len__(self) -> int:
        return len(self.layers)

    def get_params(self, **tags) -> list[SharedVariable]:
        out: list[SharedVariable] = []
        for layer in self.layers:
            out.extend(p for p in layer.get_params(**tags) if p not in out)
        return out

    def named_params(self, prefix: str = "") -> dict[str, SharedVariable]:
        """Parameters keyed 'layername.param' (or 'index.param' for unnamed layers)."""
        base = prefix + (self.name + "." if self.name else "")
        out: dict[str, SharedVariable] = {}
        for k, layer in enumerate(self.layers):
            label = layer.name or str(k)
            inner = layer.named_params() if layer.name else layer.named_params(f"{label}.")
            out.update({base + key: p for key, p in inner.items()})
        return out
