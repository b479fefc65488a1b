"""Logistic regression trained by gradient descent (Theano's tutorial), on generated data.

Run: ``python -m symgraph.examples.logistic_regression``
"""

from __future__ import annotations

import time

import numpy as np

import symgraph as sg
import symgraph.tensor as T


def make_data(n: int = 400, features: int = 784, seed: int = 0):
    """Two classes separated by a random hyperplane, with label noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    w_true = rng.normal(size=features)
    logits = x @ w_true / np.sqrt(features)
    y = (logits + 0.3 * rng.normal(size=n) > 0).astype("float64")
    return x, y


def build(features: int, lr: float = 0.1, l2: float = 0.01):
    """Symbolic model, its gradient and the compiled train / predict functions."""
    x = T.dmatrix("x")
    y = T.dvector("y")
    w = sg.shared(np.zeros(features), name="w")
    b = sg.shared(0.0, name="b")
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))  # probability that the target is 1
    prediction = p_1 > 0.5
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
    cost = xent.mean() + l2 * (w**2).sum()
    gw, gb = sg.grad(cost, [w, b])
    train = sg.function(
        [x, y], [prediction, cost], updates=[(w, w - lr * gw), (b, b - lr * gb)], name="train"
    )
    predict = sg.function([x], prediction, name="predict")
    return train, predict


def main(steps: int = 1000, report_every: int = 100) -> float:
    x, y = make_data()
    t0 = time.perf_counter()
    train, predict = build(x.shape[1])
    print(f"compiled in {time.perf_counter() - t0:.2f} s")
    t0 = time.perf_counter()
    for step in range(steps + 1):
        _, cost = train(x, y)
        if step % report_every == 0:
            print(f"step {step:5d}  loss {float(cost):.4f}")
    accuracy = float(np.mean(predict(x) == y))
    print(
        f"trained {steps} steps in {time.perf_counter() - t0:.2f} s; "
        f"training accuracy {accuracy:.3f}"
    )
    return accuracy


if __name__ == "__main__":
    main()
