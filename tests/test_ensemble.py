"""The ensemble trainer computes what torch.nn.RNN / LSTM / GRU compute, member by member."""

import numpy as np
import pytest
import torch

from utils import ensemble

V, H, S = 5, 3, 2


def torch_member(cell, params, s):
    """Member s of an ensemble as a torch recurrent layer and a Linear, float64."""
    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
        V, H, batch_first=True).double()
    out = torch.nn.Linear(H, V).double()
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(params["Wx"][s].T))
        module.weight_hh_l0.copy_(torch.from_numpy(params["Wh"][s].T))
        module.bias_ih_l0.copy_(torch.from_numpy(params["b"][s]))
        module.bias_hh_l0.copy_(torch.from_numpy(params["bh"][s]) if cell == "gru"
                                else torch.zeros(module.bias_hh_l0.shape, dtype=torch.float64))
        out.weight.copy_(torch.from_numpy(params["Wy"][s].T))
        out.bias.copy_(torch.from_numpy(params["by"][s]))
    return module, out


def batch(seed=0, N=4, T=6):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, V, (S, N, T))
    y = rng.integers(0, V, (S, N, T))
    mask = rng.random((S, N, T)) < 0.7
    mask[:, :, 0] = True
    return x, y, mask


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_logits_and_gradients_match_torch(cell):
    params = ensemble.init_params(cell, V, H, [11, 12], forget_bias=[1.0, 0.0], dtype=np.float64)
    params["by"] += np.linspace(-0.3, 0.2, V)           # non-zero output bias
    x, y, mask = batch()
    losses, grads = ensemble.loss_and_grads(params, x, y, mask)
    logits, _ = ensemble.forward(params, x)
    for s in range(S):
        module, out = torch_member(cell, params, s)
        h, _ = module(torch.nn.functional.one_hot(torch.from_numpy(x[s]), V).double())
        want = out(h)
        np.testing.assert_allclose(logits[s], want.detach().numpy(), rtol=1e-10, atol=1e-12)
        m = torch.from_numpy(mask[s]).double()
        nll = torch.nn.functional.cross_entropy(want.reshape(-1, V), torch.from_numpy(y[s]).reshape(-1),
                                                reduction="none").reshape(m.shape)
        loss = (nll * m).sum() / m.sum()
        loss.backward()
        assert losses[s] == pytest.approx(loss.item(), rel=1e-12)
        ref = {"Wx": module.weight_ih_l0.grad.T, "Wh": module.weight_hh_l0.grad.T,
               "b": module.bias_ih_l0.grad, "Wy": out.weight.grad.T, "by": out.bias.grad}
        if cell == "gru":
            ref["bh"] = module.bias_hh_l0.grad
        assert set(ref) == set(grads)
        for k, g in ref.items():
            np.testing.assert_allclose(grads[k][s], g.numpy(), rtol=1e-8, atol=1e-12,
                                       err_msg=f"{cell} d{k}, member {s}")


def test_members_are_independent_and_follow_their_own_seeds():
    data = {"x": np.tile(np.arange(4), (12, 2))[:, :7] % V, "y": np.tile(np.arange(1, 5), (12, 2))[:, :7] % V,
            "mask": np.ones((12, 7), bool)}
    together = ensemble.init_params("lstm", V, H, [1, 2, 3])
    ensemble.train(together, data, lr=[0.01, 0.02, 0.05], epochs=2, batch_size=4, order_seeds=[7, 8, 9])
    alone = ensemble.init_params("lstm", V, H, [2])
    ensemble.train(alone, data, lr=0.02, epochs=2, batch_size=4, order_seeds=[8])
    for k in alone:
        np.testing.assert_allclose(together[k][1], alone[k][0], rtol=1e-5, atol=1e-6)


def test_sgd_and_clipping_follow_torch():
    # One member, SGD with momentum, clipping by norm: the same updates as torch.optim.SGD with
    # torch.nn.utils.clip_grad_norm_.
    params = ensemble.init_params("rnn", V, H, [5], dtype=np.float64)
    x, y, mask = batch(1, N=4, T=5)
    data = {"x": x[0], "y": y[0], "mask": mask[0]}
    module, out = torch_member("rnn", params, 0)
    module.bias_hh_l0.requires_grad_(False)
    ensemble.train(params, data, lr=0.5, epochs=3, batch_size=4, order_seeds=[0], optimizer="sgd",
                   momentum=0.9, clip_norm=0.1)
    tparams = [module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, out.weight, out.bias]
    opt = torch.optim.SGD(tparams, lr=0.5, momentum=0.9)
    m = torch.from_numpy(data["mask"]).double()
    for _ in range(3):
        h, _ = module(torch.nn.functional.one_hot(torch.from_numpy(data["x"]), V).double())
        nll = torch.nn.functional.cross_entropy(out(h).reshape(-1, V), torch.from_numpy(data["y"]).reshape(-1),
                                                reduction="none").reshape(m.shape)
        opt.zero_grad()
        ((nll * m).sum() / m.sum()).backward()
        torch.nn.utils.clip_grad_norm_(tparams, 0.1)
        opt.step()
    np.testing.assert_allclose(params["Wh"][0], module.weight_hh_l0.detach().numpy().T, rtol=1e-9)
    np.testing.assert_allclose(params["Wy"][0], out.weight.detach().numpy().T, rtol=1e-9)


def test_bad_input():
    with pytest.raises(ValueError, match="cell must be one of"):
        ensemble.init_params("tree", V, H, [0])
    params = ensemble.init_params("rnn", V, H, [0, 1])
    data = {"x": np.zeros((4, 3), int), "y": np.zeros((4, 3), int), "mask": np.ones((4, 3), bool)}
    with pytest.raises(ValueError, match="one order seed per member"):
        ensemble.train(params, data, 0.1, 1, 2, order_seeds=[0])
    with pytest.raises(ValueError, match="lr must be a number or have one value per member"):
        ensemble.train(params, data, [0.1, 0.2, 0.3], 1, 2, order_seeds=[0, 1])


def test_run_arm_picks_the_rate_on_validation_and_reports_every_seed():
    from utils.data import Vocab, lm_batch, series_anbn_split
    from utils.experiments import run_arm, spread
    from utils.metrics import anbn_eval_set

    vocab = Vocab(["a", "b"])
    split = series_anbn_split(num_train=32)
    evals = {"held-out": anbn_eval_set(vocab, split.test_n)}
    r = run_arm("rnn", len(vocab), 4, [0.03, 1e-6], range(3), lm_batch(vocab, split.train), evals,
                anbn_eval_set(vocab, split.validation_n), epochs=2, batch_size=16)
    best = min(r["search"], key=lambda lr: (-r["search"][lr][0], r["search"][lr][1]))
    assert r["lr"] == best and set(r["search"]) == {0.03, 1e-6}
    assert r["history"]["loss"].shape == (2, 3) and r["final"]["held-out strings"].shape == (3,)
    assert r["params"]["Wx"].shape[0] == 3 and r["parameters"] == 5 * 4 + 16 + 4 + 4 * 5 + 5
    assert spread([0.5, 1.0, 0.75], percent=True) == "median 75.0 %, range 50.0-100.0 % over 3 seeds"
