"""A multilayer perceptron in Theano's tutorial style (raw shared weights), on the digits.

Run: ``python -m symgraph.examples.mlp``
"""

from __future__ import annotations

import numpy as np

import symgraph as sg
import symgraph.tensor as T
from symgraph.examples.digits import load_data
from symgraph.updates import nesterov_momentum


def layer(rng, n_in: int, n_out: int, name: str):
    bound = np.sqrt(6.0 / (n_in + n_out))
    W = sg.shared(rng.uniform(-bound, bound, (n_in, n_out)).astype("float32"), name=f"W_{name}")
    b = sg.shared(np.zeros(n_out, dtype="float32"), name=f"b_{name}")
    return W, b


def main(epochs: int = 20, batch: int = 32) -> float:
    x_train, x_test, y_train, y_test = load_data()
    x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    rng = np.random.default_rng(0)
    (W1, b1), (W2, b2) = layer(rng, 64, 100, "hidden"), layer(rng, 100, 10, "out")
    x, y = T.fmatrix("x"), T.ivector("y")
    hidden = T.tanh(T.dot(x, W1) + b1)
    p_y = T.nnet.softmax(T.dot(hidden, W2) + b2)
    l2 = T.constant(1e-4, dtype="float32") * ((W1**2).sum() + (W2**2).sum())
    loss = T.nnet.categorical_crossentropy(p_y, y).mean() + l2
    params = [W1, b1, W2, b2]
    train = sg.function([x, y], loss, updates=nesterov_momentum(loss, params, 0.05, 0.9))
    predict = sg.function([x], T.argmax(p_y, axis=1))
    for epoch in range(epochs):
        order = rng.permutation(len(x_train))
        losses = [
            train(x_train[order[i : i + batch]], y_train[order[i : i + batch]])
            for i in range(0, len(order), batch)
        ]
        if epoch % 5 == 4 or epoch == epochs - 1:
            acc = float(np.mean(predict(x_test) == y_test))
            print(f"epoch {epoch + 1:3d}  loss {np.mean(losses):.4f}  held-out accuracy {acc:.3f}")
    return acc


if __name__ == "__main__":
    main()
