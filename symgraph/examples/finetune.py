"""Fine-tuning: pretrain on digits 0-4, then reuse the body with a new 10-class head.

Run: ``python -m symgraph.examples.finetune``. The saved parameters are loaded with
``strict=False``: the body is copied, the changed last layer keeps its fresh initialization
(the Caffe workflow), and the report says which parameters were re-initialized.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

import symgraph.tensor as T
from symgraph import nn
from symgraph.examples.digits import compile_model, load_data


def model(n_classes: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Flatten(2),
        nn.Dense(64, 64, nonlinearity=T.nnet.relu, name="body"),
        nn.Dense(64, n_classes, name="head"),
    )


def train(net, x, y, epochs: int, rng) -> None:
    step, _ = compile_model(net)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for i in range(0, len(order), 32):
            step(x[order[i : i + 32]], y[order[i : i + 32]])


def main(epochs: int = 5) -> float:
    import symgraph as sg

    old, sg.config.floatX = sg.config.floatX, "float32"
    try:
        x_train, x_test, y_train, y_test = load_data()
        rng = np.random.default_rng(0)
        few = y_train < 5
        pretrained = model(5)
        train(pretrained, x_train[few], y_train[few], epochs, rng)
        path = Path(tempfile.mkdtemp()) / "pretrained.npz"
        nn.save_params(pretrained, path)
        print(f"pretrained on digits 0-4, saved to {path}")

        net = model(10)
        report = nn.load_params(net, path, strict=False)
        print(report)
        train(net, x_train, y_train, epochs, rng)
        _, predict = compile_model(net)
        acc = float(np.mean(predict(x_test) == y_test))
        print(f"fine-tuned on all 10 digits: held-out accuracy {acc:.3f}")
        return acc
    finally:
        sg.config.floatX = old


if __name__ == "__main__":
    main()
