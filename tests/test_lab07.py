"""Lab 07's reference library: the date generator, masked softmax, attention, the
encoder-decoder and beam search (utils/dates.py, attention.py, seq2seq.py, beam.py)."""

import datetime as dt

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils import attention, beam, dates, seq2seq
from utils.data import date_splits as reexported


# ----------------------------------------------------------------------------- dates


def test_formats_write_the_examples_of_the_issue():
    d = dt.date(2009, 6, 25)
    written = {dates.write_date(d, f) for f in dates.TRAIN_FORMATS}
    assert {"tuesday 25 june 2009", "25.06.09", "June 25, 2009"} - written == {"tuesday 25 june 2009"}
    # 25 June 2009 was a Thursday: the weekday comes from the calendar, not from the example
    assert "thursday 25 june 2009" in written
    assert dates.write_date(dt.date(2001, 3, 22), "{dth}") == "22nd"
    assert dates.write_date(dt.date(2001, 3, 13), "{dth}") == "13th"
    assert dates.iso(d) == "2009-06-25"


def test_every_format_encodes_and_held_out_formats_are_new():
    assert not set(dates.TRAIN_FORMATS) & set(dates.HELD_OUT_FORMATS)
    for f in dates.TRAIN_FORMATS + dates.HELD_OUT_FORMATS:
        for d in (dates.FIRST, dates.LAST, dt.date(1999, 9, 30)):
            dates.SOURCE_VOCAB.encode(dates.write_date(d, f))      # no unknown character


def test_two_digit_years_are_unambiguous():
    seen = {}
    for k in range(0, (dates.LAST - dates.FIRST).days + 1, 7):
        d = dates.FIRST + dt.timedelta(days=k)
        key = dates.write_date(d, "{dd}.{mm}.{yy}")
        assert seen.setdefault(key, d) == d


def test_splits_are_seeded_and_disjoint():
    a, b, c = dates.date_splits(0), dates.date_splits(0), dates.date_splits(1)
    assert a.train.sources == b.train.sources and a.test_formats.sources == b.test_formats.sources
    assert a.train.sources != c.train.sources
    train_days = set(a.train.dates)
    assert not train_days & set(a.test_dates.dates)
    assert not train_days & set(a.test_formats.dates)
    assert a.train.formats.max() < len(dates.TRAIN_FORMATS)
    assert all(s == dates.write_date(d, dates.HELD_OUT_FORMATS[f])
               for s, d, f in zip(a.test_formats.sources, a.test_formats.dates, a.test_formats.formats))
    assert all(t == d.isoformat() for t, d in zip(a.train.targets, a.train.dates))
    assert reexported is dates.date_splits


def test_encode_pairs_pads_and_frames_the_targets():
    pairs = dates.date_splits(0, n_train=20, n_test=5).train
    src, src_len, tgt = dates.encode_pairs(pairs)
    assert src.shape == (20, src_len.max()) and tgt.shape == (20, dates.TARGET_LEN + 2)
    for i in range(20):
        assert dates.SOURCE_VOCAB.decode(src[i]) == pairs.sources[i]
        assert (src[i, src_len[i]:] == dates.PAD_ID).all()
        assert tgt[i, 0] == dates.BOS_ID and tgt[i, -1] == dates.EOS_ID
        assert dates.TARGET_VOCAB.decode(tgt[i]) == pairs.targets[i]


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="not in the vocabulary"):
        dates.SOURCE_VOCAB.encode("25 juni 2009 ü")
    with pytest.raises(ValueError, match="outside"):
        dates.write_date(dt.date(1960, 1, 1), dates.TRAIN_FORMATS[0])
    with pytest.raises(ValueError, match="n_train"):
        dates.date_splits(0, n_train=0)


def test_baselines():
    assert dates.digits_in_order("20090625") == "2009-06-25"
    assert dates.digits_in_order("25.06.09") == "2506-09-00"
    assert dates.exact_match(["a", "b"], ["a", "c"]) == 0.5
    assert dates.char_accuracy(["2009-06-26"], ["2009-06-25"]) == 0.9


# ----------------------------------------------------------------------------- attention


def test_masked_softmax_matches_torch_softmax_on_real_positions():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((5, 7)) * 4
    mask = np.arange(7)[None] < np.array([7, 3, 1, 5, 2])[:, None]
    want = torch.softmax(torch.tensor(scores).masked_fill(~torch.tensor(mask), float("-inf")), -1).numpy()
    np.testing.assert_allclose(attention.masked_softmax_np(scores, mask), want, atol=1e-12)
    got_t = attention.masked_softmax(torch.tensor(scores), torch.tensor(mask)).numpy()
    np.testing.assert_allclose(got_t, want, atol=1e-12)


def test_masked_softmax_all_padding_row_is_zero_and_no_nan_gradient():
    scores = torch.tensor([[1000.0, 2.0], [3.0, 4.0]], dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True, True], [False, False]])
    w = attention.masked_softmax(scores, mask)
    w.sum().backward()
    assert torch.equal(w[1], torch.zeros(2, dtype=torch.float64))
    assert torch.isfinite(scores.grad).all() and torch.isfinite(w).all()
    np.testing.assert_array_equal(attention.masked_softmax_np(scores.detach().numpy(), mask.numpy())[1], [0, 0])


def test_additive_attention_numpy_matches_the_module_and_ignores_padding():
    rng = np.random.default_rng(1)
    N, S, H, A = 3, 6, 4, 5
    mod = attention.AdditiveAttention(H, H, A).double()
    q, k = rng.standard_normal((N, H)), rng.standard_normal((N, S, H))
    mask = np.arange(S)[None] < np.array([6, 2, 4])[:, None]
    with torch.no_grad():
        mod.Wk.bias.zero_()                            # the NumPy version has no bias
    ctx_t, w_t = mod(torch.tensor(q), torch.tensor(k), torch.tensor(mask))
    Wq, Wk = mod.Wq.weight.detach().numpy().T, mod.Wk.weight.detach().numpy().T
    v = mod.v.weight.detach().numpy()[0]
    ctx, w = attention.additive_attention_np(q, k, mask, Wq, Wk, v)
    np.testing.assert_allclose(w_t.detach().numpy(), w, atol=1e-10)
    np.testing.assert_allclose(ctx_t.detach().numpy(), ctx, atol=1e-10)
    assert w.shape == (N, S) and ctx.shape == (N, H)
    assert (w[~mask] == 0).all() and np.allclose(w.sum(1), 1)
    k2 = k.copy()
    k2[~mask] = 99.0                                   # changing the padding changes nothing
    ctx2, w2 = attention.additive_attention_np(q, k2, mask, Wq, Wk, v)
    np.testing.assert_allclose(ctx2, ctx)
    np.testing.assert_allclose(w2, w)


def test_scaled_dot_product_attention_rows_sum_to_one_and_causal_mask():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((5, 4))
    causal = np.tril(np.ones((5, 5), dtype=bool))
    out, w = attention.scaled_dot_product_attention(X, X, X, causal)
    assert out.shape == (5, 4) and np.allclose(w.sum(1), 1) and (w[~causal] == 0).all()
    np.testing.assert_allclose(out[0], X[0])           # the first position sees only itself


# ----------------------------------------------------------------------------- seq2seq and beam


@pytest.mark.parametrize("arm", ["none", "additive", "dot"])
def test_model_shapes_and_padding_does_not_change_the_output(arm):
    torch.manual_seed(0)
    model = seq2seq.Seq2Seq(attention=arm).eval()
    pairs = dates.date_splits(0, n_train=6, n_test=2).train
    src, src_len, tgt = seq2seq.to_tensors(*dates.encode_pairs(pairs))
    logits, w = model(src, src_len, tgt[:, :-1], return_weights=True)
    assert logits.shape == (6, 11, len(dates.TARGET_VOCAB))
    if arm == "none":
        assert w is None
    else:
        assert w.shape == (6, 11, src.shape[1])
        assert torch.allclose(w.sum(-1), torch.ones(6, 11))
        assert (w[~(torch.arange(src.shape[1])[None] < src_len[:, None])[:, None, :].expand_as(w)] == 0).all()
    longer = torch.cat([src, torch.zeros(6, 5, dtype=torch.long)], dim=1)
    assert torch.allclose(model(longer, src_len, tgt[:, :-1]), logits, atol=1e-5)


def test_parameter_counts_differ_only_by_the_attention_module():
    counts = {a: seq2seq.n_params(seq2seq.Seq2Seq(attention=a)) for a in ("none", "additive", "dot")}
    assert counts["additive"] - counts["none"] == seq2seq.n_params(attention.AdditiveAttention(64, 64, 64))
    assert counts["dot"] - counts["none"] == 64 * 64


def _toy_step(table):
    def step(tokens, states):
        logits = table[np.asarray(tokens)] + 0.1 * np.asarray(states)[:, None]
        return logits - np.log(np.exp(logits).sum(1, keepdims=True)), np.asarray(states) + 1.0
    return step


def test_beam_of_one_is_greedy_and_wider_beams_never_score_worse():
    rng = np.random.default_rng(3)
    for _ in range(20):
        table = rng.standard_normal((6, 6)) * 2
        step = _toy_step(table)
        g_ids, g_logp = beam.greedy_search(step, np.array(0.0), 0, 1, max_len=8)
        b_ids, b_score = beam.beam_search(step, np.array(0.0), 0, 1, beam_size=1, max_len=8, alpha=0.0)
        np.testing.assert_array_equal(g_ids, b_ids)
        assert b_score == pytest.approx(g_logp)
        wide_ids, wide = beam.beam_search(step, np.array(0.0), 0, 1, beam_size=6, max_len=8, alpha=0.0)
        assert wide >= b_score - 1e-12


def test_beam_search_finds_the_best_sequence_by_brute_force():
    rng = np.random.default_rng(4)
    V, L = 4, 3
    table = rng.standard_normal((V, V)) * 2
    step = _toy_step(table)
    import itertools
    best = -np.inf
    for n in range(1, L + 1):
        for seq in itertools.product(range(V), repeat=n):
            if 1 in seq[:-1] or (n < L and seq[-1] != 1):
                continue                       # eos only at the end; shorter ones must end with eos
            x, s, lp = np.array([0]), np.array([0.0]), 0.0
            for tok in seq:
                logp, s = step(x, s)
                lp += logp[0, tok]
                x = np.array([tok])
            best = max(best, lp / len(seq))
    _, score = beam.beam_search(step, np.array(0.0), 0, 1, beam_size=V ** L, max_len=L, alpha=1.0)
    assert score == pytest.approx(best)


def test_a_tiny_training_run_learns():
    torch.manual_seed(0)
    splits = dates.date_splits(0, n_train=2000, n_test=200)
    src, src_len, tgt = dates.encode_pairs(splits.train)
    model = seq2seq.Seq2Seq(E=16, H=32, attention="additive")
    losses = seq2seq.train(model, src, src_len, tgt, steps=40, batch=32, lr=1e-2, rng=np.random.default_rng(0))
    assert losses[-10:].mean() < 0.6 * losses[:5].mean()
    pred = seq2seq.translate(model, splits.test_dates.sources)
    constant = splits.train.targets[0]
    assert dates.char_accuracy(pred, splits.test_dates.targets) > \
        dates.char_accuracy([constant] * 200, splits.test_dates.targets) + 0.1
    with pytest.raises(ValueError, match="rng"):
        seq2seq.train(model, src, src_len, tgt, steps=1)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = seq2seq.Seq2Seq(attention="dot").eval()
    seq2seq.save(model, tmp_path / "m.pt")
    again = seq2seq.load(tmp_path / "m.pt")
    srcs = ["25.06.09", "June 25, 2009"]
    assert seq2seq.translate(model, srcs) == seq2seq.translate(again, srcs)


def test_model_and_search_reject_bad_settings():
    with pytest.raises(ValueError, match="attention must be one of"):
        seq2seq.Seq2Seq(attention="bahdanau")
    with pytest.raises(ValueError, match="H must be even"):
        seq2seq.Seq2Seq(H=63)
    with pytest.raises(ValueError, match="beam_size and max_len"):
        beam.beam_search(_toy_step(np.zeros((3, 3))), np.array(0.0), 0, 1, beam_size=0)
