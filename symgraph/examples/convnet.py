"""A LeNet-style convnet with T.nnet.conv2d and pool_2d (Theano's tutorial ops), on the digits.

Run: ``python -m symgraph.examples.convnet``
"""

from __future__ import annotations

import numpy as np

import symgraph as sg
import symgraph.tensor as T
from symgraph.examples.digits import load_data
from symgraph.tensor.signal.pool import pool_2d
from symgraph.updates import momentum


def main(epochs: int = 15, batch: int = 32) -> float:
    x_train, x_test, y_train, y_test = load_data()
    rng = np.random.default_rng(0)

    def param(shape, fan_in, name):
        value = rng.normal(0, np.sqrt(2.0 / fan_in), shape).astype("float32")
        return sg.shared(value, name=name)

    W1 = param((16, 1, 3, 3), 9, "W1")
    W2 = param((32, 16, 3, 3), 144, "W2")
    W3 = param((32 * 2 * 2, 10), 128, "W3")
    b3 = sg.shared(np.zeros(10, dtype="float32"), name="b3")
    x, y = T.ftensor4("x"), T.ivector("y")
    h1 = pool_2d(
        T.nnet.relu(T.nnet.conv2d(x, W1, border_mode="half")), ws=(2, 2), ignore_border=True
    )
    h2 = pool_2d(
        T.nnet.relu(T.nnet.conv2d(h1, W2, border_mode="half")), ws=(2, 2), ignore_border=True
    )
    logits = T.dot(h2.flatten(2), W3) + b3
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(logits), y).mean()
    params = [W1, W2, W3, b3]
    train = sg.function([x, y], loss, updates=momentum(loss, params, 0.02, 0.9))
    predict = sg.function([x], T.argmax(logits, axis=1))
    for epoch in range(epochs):
        order = rng.permutation(len(x_train))
        losses = [
            train(x_train[order[i : i + batch]], y_train[order[i : i + batch]])
            for i in range(0, len(order), batch)
        ]
        acc = float(np.mean(predict(x_test) == y_test))
        print(f"epoch {epoch + 1:3d}  loss {np.mean(losses):.4f}  held-out accuracy {acc:.3f}")
    return acc


if __name__ == "__main__":
    main()
