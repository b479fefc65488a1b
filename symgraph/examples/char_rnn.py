"""A character-level vanilla RNN trained with scan (backpropagation through time).

Run: ``python -m symgraph.examples.char_rnn``. It learns a short built-in text and samples
from it; the loss falls from log(vocabulary) towards zero as it memorizes.
"""

from __future__ import annotations

import numpy as np

import symgraph as sg
import symgraph.tensor as T
from symgraph.updates import adam

TEXT = (
    "the quick brown fox jumps over the lazy dog. "
    "a symbolic graph compiler turns expressions into fast code. "
) * 4


def main(steps: int = 300, seq_len: int = 32, hidden: int = 64, seed: int = 0) -> float:
    chars = sorted(set(TEXT))
    index = {c: i for i, c in enumerate(chars)}
    data = np.array([index[c] for c in TEXT], dtype="int32")
    vocab = len(chars)
    rng = np.random.default_rng(seed)

    def param(shape, scale, name):
        return sg.shared((rng.normal(size=shape) * scale).astype("float32"), name=name)

    Wx = param((vocab, hidden), 0.1, "Wx")
    Wh = param((hidden, hidden), 1.0 / np.sqrt(hidden), "Wh")
    Wy = param((hidden, vocab), 0.1, "Wy")
    b = sg.shared(np.zeros(hidden, dtype="float32"), name="b")
    by = sg.shared(np.zeros(vocab, dtype="float32"), name="by")

    inputs, targets = T.ivector("inputs"), T.ivector("targets")
    h0 = T.fvector("h0")

    def step(x_t, h_prev):
        return T.tanh(Wx[x_t] + T.dot(h_prev, Wh) + b)

    states, _ = sg.scan(step, sequences=inputs, outputs_info=h0)
    logits = T.dot(states, Wy) + by
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(logits), targets).mean()
    params = [Wx, Wh, Wy, b, by]
    train = sg.function(
        [inputs, targets, h0], [loss, states[-1]], updates=adam(loss, params, learning_rate=0.01)
    )
    next_probs = sg.function([inputs, h0], [T.nnet.softmax(logits)[-1], states[-1]])

    h = np.zeros(hidden, dtype="float32")
    pos, first = 0, None
    for it in range(steps):
        if pos + seq_len + 1 > len(data):
            pos, h = 0, np.zeros(hidden, dtype="float32")
        loss_value, h = train(data[pos : pos + seq_len], data[pos + 1 : pos + seq_len + 1], h)
        first = float(loss_value) if first is None else first
        pos += seq_len
        if it % 100 == 0 or it == steps - 1:
            print(f"step {it:4d}  loss {float(loss_value):.3f}")
    sample, h = [index["t"]], np.zeros(hidden, dtype="float32")
    for _ in range(60):
        probs, h = next_probs(np.array(sample[-1:], dtype="int32"), h)
        sample.append(int(np.argmax(probs)))
    print("sample:", "".join(chars[i] for i in sample))
    print(f"loss {first:.3f} -> {float(loss_value):.3f}")
    return float(loss_value)


if __name__ == "__main__":
    main()
