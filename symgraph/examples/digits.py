"""Train an MLP and a small convnet on scikit-learn's 8x8 digits, end to end.

Run: ``python -m symgraph.examples.digits`` (needs the ``demo`` extra: scikit-learn, tqdm;
matplotlib optional for the plot). It trains both models with a progress bar per epoch,
reports held-out accuracy, writes a loss/accuracy plot, saves the convnet's parameters,
reloads them into a fresh model and checks the reloaded model predicts the same.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import symgraph as sg
import symgraph.tensor as T
from symgraph import nn
from symgraph.updates import adam


def load_data(seed: int = 0):
    """Digits as float32 images in [0, 1] (N, 1, 8, 8), int32 labels; 75/25 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[:, None, :, :]
    y = digits.target.astype("int32")
    return train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y)


def mlp() -> nn.Sequential:
    return nn.Sequential(
        nn.Flatten(2),
        nn.Dense(64, 128, nonlinearity=T.nnet.relu, W=nn.init.HeUniform(), name="hidden"),
        nn.Dropout(0.2, seed=1),
        nn.Dense(128, 10, name="out"),
    )


def convnet() -> nn.Sequential:
    relu = T.nnet.relu
    return nn.Sequential(
        nn.Conv2D(1, 16, 3, pad="same", nonlinearity=relu, W=nn.init.HeUniform(), name="conv1"),
        nn.MaxPool2D(2),
        nn.Conv2D(16, 32, 3, pad="same", nonlinearity=relu, W=nn.init.HeUniform(), name="conv2"),
        nn.MaxPool2D(2),
        nn.Dense(32 * 2 * 2, 10, name="out"),
    )


def compile_model(model: nn.Sequential, learning_rate: float = 0.003):
    """(train, predict) functions: train(x, y) -> (loss, accuracy) and updates the weights."""
    x = T.ftensor4("x")
    y = T.ivector("y")
    logits = model(x)
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(logits), y).mean()
    accuracy = T.mean(T.eq(T.argmax(logits, axis=1), y))
    updates = adam(loss, model.get_params(trainable=True), learning_rate=learning_rate)
    train = sg.function([x, y], [loss, accuracy], updates=updates, name="train")
    predict = sg.function([x], T.argmax(model(x, deterministic=True), axis=1), name="predict")
    return train, predict


def fit(name: str, model, data, epochs: int, batch: int = 64, seed: int = 0) -> dict:
    """Train with minibatches; returns the history and the trained predict function."""
    from tqdm import tqdm

    x_train, x_test, y_train, y_test = data
    t0 = time.perf_counter()
    train, predict = compile_model(model)
    print(f"[{name}] compiled in {time.perf_counter() - t0:.2f} s")
    rng = np.random.default_rng(seed)
    history = {"loss": [], "accuracy": [], "test_accuracy": []}
    t0 = time.perf_counter()
    for epoch in range(epochs):
        order = rng.permutation(len(x_train))
        losses, accs = [], []
        bar = tqdm(
            range(0, len(order), batch),
            desc=f"{name} epoch {epoch + 1}/{epochs}",
            leave=False,
            ncols=90,
        )
        for start in bar:
            idx = order[start : start + batch]
            loss, acc = train(x_train[idx], y_train[idx])
            losses.append(float(loss))
            accs.append(float(acc))
            bar.set_postfix(loss=f"{np.mean(losses):.3f}", acc=f"{np.mean(accs):.3f}")
        test_acc = float(np.mean(predict(x_test) == y_test))
        history["loss"].append(float(np.mean(losses)))
        history["accuracy"].append(float(np.mean(accs)))
        history["test_accuracy"].append(test_acc)
        print(
            f"[{name}] epoch {epoch + 1:2d}  loss {history['loss'][-1]:.4f}  "
            f"train acc {history['accuracy'][-1]:.3f}  held-out acc {test_acc:.3f}"
        )
    history["seconds"] = time.perf_counter() - t0
    history["predict"] = predict
    print(
        f"[{name}] trained in {history['seconds']:.1f} s; held-out accuracy "
        f"{history['test_accuracy'][-1]:.3f}"
    )
    return history


def plot(histories: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for name, h in histories.items():
        ax1.plot(h["loss"], label=name)
        ax2.plot(h["test_accuracy"], label=name)
    ax1.set(title="training loss", xlabel="epoch")
    ax2.set(title="held-out accuracy", xlabel="epoch")
    ax1.legend()
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path)
    print(f"wrote {path}")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--out", default="digits_out", help="folder for the plot and params")
    args = parser.parse_args(argv)
    old_floatx, sg.config.floatX = sg.config.floatX, "float32"
    try:
        return _run(args)
    finally:
        sg.config.floatX = old_floatx


def _run(args) -> dict:
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    data = load_data()
    histories = {"mlp": fit("mlp", mlp(), data, args.epochs)}
    net = convnet()
    histories["convnet"] = fit("convnet", net, data, args.epochs)
    plot(histories, out / "digits.png")

    params = out / "convnet.npz"
    nn.save_params(net, params)
    fresh = convnet()
    report = nn.load_params(fresh, params)
    x_test = data[1]
    _, predict_fresh = compile_model(fresh)
    same = np.array_equal(predict_fresh(x_test), histories["convnet"]["predict"](x_test))
    print(
        f"saved {params}; reloaded ({len(report.loaded)} parameters): "
        f"{'same predictions' if same else 'DIFFERENT predictions'}"
    )
    if not same:
        raise SystemExit("the reloaded model predicts differently")
    return histories


if __name__ == "__main__":
    main()
