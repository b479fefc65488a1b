"""The demos run end to end (briefly) and learn."""

import numpy as np

from symgraph.examples import digits, logistic_regression


def test_logistic_regression_demo_learns(capsys):
    accuracy = logistic_regression.main(steps=60, report_every=20)
    assert accuracy > 0.9
    assert "loss" in capsys.readouterr().out


def test_digits_demo_trains_saves_and_reloads(tmp_path):
    histories = digits.main(["--epochs", "2", "--out", str(tmp_path)])
    assert histories["convnet"]["test_accuracy"][-1] > 0.5
    assert histories["mlp"]["loss"][-1] < histories["mlp"]["loss"][0]
    assert (tmp_path / "convnet.npz").exists()
    assert np.isfinite(histories["mlp"]["loss"]).all()


def test_char_rnn_learns_with_scan():
    from symgraph.examples import char_rnn

    assert char_rnn.main(steps=60) < 2.0


def test_finetune_reuses_the_body():
    from symgraph.examples import finetune

    assert finetune.main(epochs=1) > 0.5
