"""The NumPy sequence model: gradients of the whole model, overfitting, and learning aⁿbⁿ."""

import numpy as np
import pytest

from utils.data import Vocab, anbn_splits, lm_batch, predictable_mask, noisy_sine
from utils.gradcheck import numerical_gradient, rel_error
from utils.models import SequenceModel
from utils.optim import SGD, Adam
from utils.training import TrainingDiverged, train


def _token_batch(rng, N=3, T=5, V=6):
    mask = np.ones((N, T), bool)
    mask[0, 3:] = False                              # a padded row
    return {"x": rng.integers(0, V, (N, T)), "y": rng.integers(0, V, (N, T)), "mask": mask}


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_model_gradients_match_central_differences(cell):
    rng = np.random.default_rng(0)
    model = SequenceModel(cell, D=6, H=5, V=6, rng=rng)
    for p in model.params.values():                  # non-trivial biases, not the init zeros
        p += 0.1 * rng.standard_normal(p.shape)
    batch = _token_batch(rng)
    _, grads = model.loss(batch)
    assert set(grads) == set(model.params)
    for k, p in model.params.items():
        num = numerical_gradient(lambda _: model.loss(batch)[0], p)
        assert grads[k].shape == p.shape
        assert rel_error(grads[k], num) <= 1e-6, k


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_many_to_one_regression_gradients(cell):
    rng = np.random.default_rng(1)
    model = SequenceModel(cell, D=1, H=4, V=1, rng=rng, loss="mse")
    batch = {"x": rng.standard_normal((3, 6, 1)), "y": rng.standard_normal((3, 1))}
    _, grads = model.loss(batch)
    for k, p in model.params.items():
        num = numerical_gradient(lambda _: model.loss(batch)[0], p)
        assert rel_error(grads[k], num) <= 1e-6, k
    # Only the last step is scored: the output weights see only the last hidden state.
    out, _ = model.forward(batch["x"])
    assert out.shape == (3, 6, 1)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_a_tiny_batch_is_overfitted(cell):
    rng = np.random.default_rng(2)
    model = SequenceModel(cell, D=5, H=16, V=5, rng=rng)
    x = rng.integers(0, 5, (2, 6))
    y = np.concatenate([x[:, :1], x[:, :-1]], axis=1)   # recall the previous token: needs memory
    batch = {"x": x, "y": y}
    first = model.loss(batch)[0]
    history = train(model, batch, Adam(0.05), epochs=150, batch_size=2,
                    rng=np.random.default_rng(3), progress=False)
    assert history["loss"][-1] < 0.02 * first
    np.testing.assert_array_equal(model.predict(batch["x"]), batch["y"])


def test_lstm_learns_anbn_and_predicts_every_predictable_test_token():
    splits = anbn_splits(np.random.default_rng(0), num_train=300, max_train_n=12)
    vocab = Vocab(["a", "b"])
    model = SequenceModel("lstm", len(vocab), 16, len(vocab), np.random.default_rng(1))
    train(model, lm_batch(vocab, splits.train), Adam(0.01), epochs=30, batch_size=16,
          rng=np.random.default_rng(2), clip_norm=1.0, progress=False)
    test = lm_batch(vocab, splits.test)
    mask = predictable_mask(splits.test)
    pred = model.predict(test["x"])
    assert mask.sum() == sum(splits.test_n)          # n predictable targets per sequence
    np.testing.assert_array_equal(pred[mask], test["y"][mask])


def test_sampling_is_seeded_and_greedy_is_deterministic():
    model = SequenceModel("lstm", 5, 8, 5, np.random.default_rng(0))
    prompt = np.array([1, 2])
    a = model.sample(np.random.default_rng(7), prompt, 10)
    b = model.sample(np.random.default_rng(7), prompt, 10)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (10,) and a.min() >= 0 and a.max() < 5
    g1 = model.sample(np.random.default_rng(1), prompt, 10, temperature=0)
    g2 = model.sample(np.random.default_rng(2), prompt, 10, temperature=0)
    np.testing.assert_array_equal(g1, g2)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_training_stops_with_a_clear_message_when_the_loss_diverges():
    rng = np.random.default_rng(0)
    x, y = noisy_sine(rng)
    model = SequenceModel("rnn", 1, 8, 1, rng, loss="mse")
    data = {"x": x[None, :, None], "y": (y * 1e200)[None, :, None]}
    with pytest.raises(TrainingDiverged, match=r"loss became (inf|nan).*learning rate"):
        train(model, data, SGD(0.1), epochs=3, batch_size=1, rng=rng, progress=False)


def test_sgd_momentum_and_decay_follow_their_formulas():
    p = {"w": np.array([1.0])}
    g = {"w": np.array([2.0])}
    opt = SGD(lr=0.1, momentum=0.5, decay=1.0)
    opt.step(p, g)                                   # lr_0 = 0.1: v = g = 2, p = 1 - 0.2
    assert p["w"][0] == pytest.approx(0.8)
    opt.step(p, g)                                   # lr_1 = 0.05: v = 0.5 * 2 + 2 = 3
    assert p["w"][0] == pytest.approx(0.65)          # p = 0.8 - 0.05 * 3


def test_adam_first_step_moves_each_weight_by_lr():
    p = {"w": np.array([1.0, -1.0])}
    Adam(lr=0.01).step(p, {"w": np.array([3.0, -0.001])})
    np.testing.assert_allclose(p["w"], [0.99, -0.99], rtol=1e-6)   # bias-corrected m/√v = ±1


def test_optimizers_reject_mismatched_grads():
    p = {"w": np.zeros(3)}
    with pytest.raises(ValueError, match=r"grads\['w'\] has shape \(2,\), expected \(3,\)"):
        SGD(0.1).step(p, {"w": np.zeros(2)})
    with pytest.raises(ValueError, match="same keys"):
        Adam().step(p, {"v": np.zeros(3)})
    with pytest.raises(ValueError, match="lr > 0"):
        SGD(lr=-1)
