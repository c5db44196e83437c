"""Checks seen from the student's side: correct code written differently passes; code that
changes its inputs, loops forever, returns the wrong type or breaks a later cell fails with a
message that names the function and the cause; a broken forward never gets its correct
backward blamed.
"""

import signal
import threading
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils import layers
from utils.checks import FAIL_MARK, PASS_MARK, REGISTRY, TODO_MARK, check


def verdict(capsys, name, fn, **kw):
    used = check(name, fn, **kw)
    return used, capsys.readouterr().out


# ----------------------------------------------------------------- correct variants pass


def rnn_step_einsum(x, h_prev, Wx, Wh, b):
    h = np.tanh(np.einsum("nd,dh->nh", x, Wx) + np.einsum("nk,kh->nh", h_prev, Wh) + b)
    return [h, (x, h_prev, Wx, Wh, h)]                          # a list is fine


def rnn_forward_loops(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    H = Wh.shape[0]
    if h0 is None:
        h0 = np.zeros((N, H), dtype=x.dtype)
    h = np.zeros((N, T, H), dtype=x.dtype)
    for n in range(N):                                         # one sequence at a time
        prev = h0[n]
        for t in range(T):
            prev = np.tanh(x[n, t] @ Wx + prev @ Wh + b)
            h[n, t] = prev
    return h, (x, h0, Wx, Wh, h)


def lstm_step_separate_gates_float32(x, h_prev, c_prev, Wx, Wh, b):
    H = h_prev.shape[1]
    x32, h32, c32 = (a.astype(np.float32) for a in (x, h_prev, c_prev))
    Wx32, Wh32, b32 = (a.astype(np.float32) for a in (Wx, Wh, b))

    def gate(k, act):
        cols = slice(k * H, (k + 1) * H)
        return act(x32 @ Wx32[:, cols] + h32 @ Wh32[:, cols] + b32[cols])

    sig = lambda a: 1 / (1 + np.exp(-a))                       # noqa: E731 (float32 is safe here)
    i, f, g, o = gate(0, sig), gate(1, sig), gate(2, np.tanh), gate(3, sig)
    c = f * c32 + i * g
    h = o * np.tanh(c)
    gates = np.concatenate([i, f, g, o], axis=1)
    return h, c, (x, h_prev, c_prev, Wx, Wh, c, gates)


def lstm_step_backward_list(dh, dc, cache):
    return list(layers.lstm_step_backward(dh, dc, cache))


def masked_ce_by_hand(logits, targets, mask):
    logp = torch.log_softmax(logits, dim=-1)
    picked = logp.gather(-1, targets[..., None])[..., 0]
    return -(picked * mask).sum() / mask.sum()


def masked_softmax_np_loops(scores, mask):
    out = np.zeros_like(scores, dtype=float)
    for n in range(scores.shape[0]):                           # one row at a time
        real = scores[n][mask[n]]
        if real.size:
            e = np.exp(real - real.max())
            out[n][mask[n]] = e / e.sum()
    return out


def masked_softmax_large_negative(scores, mask):
    return torch.softmax(scores.masked_fill(~mask, -1e9), dim=-1) * mask   # uniform then zeroed


def additive_attention_loops(query, keys, mask, Wq, Wk, v):
    N, S, _ = keys.shape
    scores = np.array([[v @ np.tanh(query[n] @ Wq + keys[n, s] @ Wk) for s in range(S)] for n in range(N)])
    scores = np.where(mask, scores, -1e300)
    w = np.exp(scores - scores.max(axis=1, keepdims=True)) * mask
    w = w / w.sum(axis=1, keepdims=True)
    return [np.sum(w[..., None] * keys, axis=1), w]


def decoder_step_split_cat(dec, y_prev, h_prev, enc_out, mask):
    context, weights = dec.attention(h_prev, enc_out, mask)
    h = dec.cell(torch.cat((dec.embed(y_prev), context), 1), h_prev)
    W, b = dec.out.weight, dec.out.bias
    H = h.shape[1]
    return h @ W[:, :H].T + context @ W[:, H:].T + b, h, weights      # the linear layer split in two


def beam_search_heap(step, state, bos, eos, beam_size=3, max_len=12, alpha=1.0):
    import heapq
    live = [(0.0, [], np.asarray(state))]
    done = []
    for _ in range(max_len):
        tokens = np.array([s[-1] if s else bos for _, s, _ in live])
        logp, new = step(tokens, np.stack([st for _, _, st in live]))
        cands = [(lp + logp[i, v], s + [v], i) for i, (lp, s, _) in enumerate(live) for v in range(logp.shape[1])]
        top = heapq.nlargest(beam_size, cands, key=lambda c: c[0])
        done += [(lp, s) for lp, s, _ in top if s[-1] == eos]
        live = [(lp, s, new[i]) for lp, s, i in top if s[-1] != eos]
        if not live:
            break
    lp, s = max(done + [(lp, s) for lp, s, _ in live], key=lambda c: c[0] / len(c[1]) ** alpha)
    return np.array(s), lp / len(s) ** alpha


VARIANTS = [
    ("rnn_step_forward", rnn_step_einsum),
    ("rnn_forward", rnn_forward_loops),
    ("lstm_step_forward", lstm_step_separate_gates_float32),
    ("lstm_step_backward", lstm_step_backward_list),
    ("masked_cross_entropy", masked_ce_by_hand),
    ("masked_softmax_np", masked_softmax_np_loops),
    ("masked_softmax", masked_softmax_large_negative),
    ("additive_attention", additive_attention_loops),
    ("decoder_step", decoder_step_split_cat),
    ("beam_search", beam_search_heap),
]


@pytest.mark.parametrize("name,fn", VARIANTS, ids=[v[1].__name__ for v in VARIANTS])
def test_correct_variants_pass(capsys, name, fn):
    used, out = verdict(capsys, name, fn)
    assert out.startswith(PASS_MARK), out


def test_a_list_return_is_turned_into_a_tuple_for_later_cells(capsys):
    used, out = verdict(capsys, "lstm_step_backward", lstm_step_backward_list)
    x, h, c, Wx, Wh, b = (np.full((1, 1), 0.5),) * 3 + (np.full((1, 4), 0.1),) * 2 + (np.zeros(4),)
    _, _, cache = layers.lstm_step_forward(x, h, c, Wx, Wh, b)
    assert isinstance(used(np.ones((1, 1)), np.ones((1, 1)), cache), tuple)
    assert used.__name__ == "lstm_step_backward_list"


# ----------------------------------------------------------------- inputs changed in place


def step_back_scales_dh(dh, cache):
    x, h_prev, Wx, Wh, h = cache
    dh *= 1 - h ** 2
    return dh @ Wx.T, dh @ Wh.T, x.T @ dh, h_prev.T @ dh, dh.sum(0)


def lstm_step_back_adds_to_dc(dh, dc, cache):
    x, h_prev, c_prev, Wx, Wh, c, gates = cache
    H = c.shape[1]
    o = gates[:, 3 * H:]
    dc += dh * o * (1 - np.tanh(c) ** 2)
    return layers.lstm_step_backward(dh, dc - dh * o * (1 - np.tanh(c) ** 2), cache)


def ce_shifts_logits(logits, targets, mask=None):
    logits -= logits.max(axis=-1, keepdims=True)
    return layers.softmax_cross_entropy(logits, targets, mask)


def probs_divides_logits(logits, temperature=1.0, top_k=None):
    from utils.charlm import next_char_probs
    if temperature > 0:
        logits /= temperature
        return next_char_probs(logits, 1.0, top_k)
    return next_char_probs(logits, temperature, top_k)


def encode_grows_vocab(tokens, stoi):
    for t in tokens:
        if t not in stoi:
            stoi[t] = len(stoi)
    return np.array([stoi[t] for t in tokens], dtype=np.int64)


def pad_sorts_ids(seqs, pad_id):
    from utils.data import pad_batch
    for s in seqs:
        s.sort()
    return pad_batch(seqs, pad_id)


def lstm_step_in_place(x, h_prev, c_prev, Wx, Wh, b):
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b
    i, f = layers.sigmoid(a[:, :H]), layers.sigmoid(a[:, H:2 * H])
    g, o = np.tanh(a[:, 2 * H:3 * H]), layers.sigmoid(a[:, 3 * H:])
    c = c_prev
    c *= f
    c += i * g
    h = np.tanh(c, out=h_prev) * o
    return h, c, (x, h_prev, c_prev, Wx, Wh, c, np.concatenate([i, f, g, o], axis=1))


MUTATING = [
    ("rnn_step_backward", step_back_scales_dh, "dh"),
    ("lstm_step_backward", lstm_step_back_adds_to_dc, "dc"),
    ("softmax_cross_entropy", ce_shifts_logits, "logits"),
    ("next_char_probs", probs_divides_logits, "logits"),
    ("encode", encode_grows_vocab, "stoi"),
    ("pad_batch", pad_sorts_ids, "seqs"),
    ("lstm_step_forward", lstm_step_in_place, "h_prev"),     # the first changed, in argument order
]


@pytest.mark.parametrize("name,fn,arg", MUTATING, ids=[m[1].__name__ for m in MUTATING])
def test_input_changed_in_place_is_named(capsys, name, fn, arg):
    used, out = verdict(capsys, name, fn)
    assert out.startswith(f"{FAIL_MARK} {REGISTRY[name].title}: changed its input {arg} in place"), out
    assert "Later cells pass the same arrays" in out
    assert used is REGISTRY[name].reference


# ----------------------------------------------------------------- a broken forward


def lstm_step_caches_a(x, h_prev, c_prev, Wx, Wh, b):
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b
    i, f = layers.sigmoid(a[:, :H]), layers.sigmoid(a[:, H:2 * H])
    g, o = np.tanh(a[:, 2 * H:3 * H]), layers.sigmoid(a[:, 3 * H:])
    c = f * c_prev + i * g
    return o * np.tanh(c), c, (x, h_prev, c_prev, Wx, Wh, c, a)     # pre-activations cached


def lstm_forward_empty_cache(x, h0, c0, Wx, Wh, b):
    N, T, _ = x.shape
    H = Wh.shape[0]
    h0 = np.zeros((N, H), x.dtype) if h0 is None else h0
    c0 = np.zeros((N, H), x.dtype) if c0 is None else c0
    hs, cs, gates = np.empty((N, T, H)), np.empty((N, T, H)), np.empty((N, T, 4 * H))
    h, c = h0, c0
    for t in range(T):
        h, c, _ = layers.lstm_step_forward(x[:, t], h, c, Wx, Wh, b)
        hs[:, t] = h                                            # cs and gates never filled
    return hs, {"x": x, "h0": h0, "c0": c0, "Wx": Wx, "Wh": Wh, "h": hs, "c": cs, "gates": gates}


@pytest.mark.parametrize("forward,backward,broken", [
    ("lstm_step_forward", "lstm_step_backward", lstm_step_caches_a),
    ("lstm_forward", "lstm_backward", lstm_forward_empty_cache),
])
def test_broken_forward_fails_its_own_check_and_the_backward_passes(capsys, forward, backward, broken):
    used_fwd, out = verdict(capsys, forward, broken)
    assert out.startswith(f"{FAIL_MARK} {REGISTRY[forward].title}: cache"), out
    assert f"Hint: {REGISTRY[forward].hints['cache']}" in out or "Hint: Store the activated" in out
    assert used_fwd is REGISTRY[forward].reference
    # the notebook passes what the forward's check returned: the correct backward passes
    _, out = verdict(capsys, backward, REGISTRY[backward].reference, uses={forward: used_fwd})
    assert out.startswith(PASS_MARK), out
    # and given the broken forward itself, the verdict blames the forward, not the backward
    _, out = verdict(capsys, backward, REGISTRY[backward].reference, uses={forward: broken})
    assert out.startswith(f"{FAIL_MARK} {REGISTRY[backward].title}: is right on the reference "
                          f"{forward}'s results"), out
    assert f"fix {forward}" in out


# ----------------------------------------------------------------- return types and stubs


def test_none_gets_a_return_message_not_the_exception_hint(capsys):
    _, out = verdict(capsys, "encode", lambda tokens, stoi: None)
    assert "returned None" in out and "KeyError" not in out
    _, out = verdict(capsys, "sigmoid", lambda x: None)
    assert "returned None" in out and "overflows" not in out


def test_loss_cut_from_the_graph_fails_before_training(capsys):
    def masked_cross_entropy(logits, targets, mask):
        V = logits.shape[-1]
        losses = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="none")
        m = mask.reshape(-1).to(logits.dtype)
        return torch.tensor(((losses * m).sum() / m.sum()).detach().numpy())

    _, out = verdict(capsys, "masked_cross_entropy", masked_cross_entropy)
    assert out.startswith(f"{FAIL_MARK} masked_cross_entropy (exercise 4.1): returned a tensor "
                          "that does not require grad"), out


def test_partly_written_is_not_called_not_attempted(capsys):
    src = ("def encode(tokens, stoi):\n"
           "    unk = stoi['UNK']\n"
           "    # YOUR CODE HERE\n"
           "    ids = [stoi.get(t, unk) for t in tokens]\n"
           "    raise NotImplementedError('exercise 1.2: encode')\n")
    ns = {}
    import linecache
    linecache.cache["<cell-partly>"] = (len(src), None, src.splitlines(True), "<cell-partly>")
    exec(compile(src, "<cell-partly>", "exec"), ns)
    _, out = verdict(capsys, "encode", ns["encode"])
    assert out.startswith(f"{TODO_MARK} encode (exercise 1.2): partly written: it still raises "
                          "NotImplementedError at line 5 of encode"), out

    stub = ("def encode(tokens, stoi):\n"
            "    # YOUR CODE HERE\n"
            "    raise NotImplementedError('exercise 1.2: encode')\n")
    linecache.cache["<cell-stub>"] = (len(stub), None, stub.splitlines(True), "<cell-stub>")
    exec(compile(stub, "<cell-stub>", "exec"), ns)
    _, out = verdict(capsys, "encode", ns["encode"])
    assert out.startswith(f"{TODO_MARK} encode (exercise 1.2): not attempted yet"), out


def test_float32_differences_print_enough_digits(capsys):
    def bits_and_perplexity(nats):
        return (nats / np.log(2.0) * (1 + 3e-4)).astype(np.float32), np.exp(nats)

    _, out = verdict(capsys, "bits_and_perplexity", bits_and_perplexity)
    line = next(ln for ln in out.splitlines() if "got" in ln)
    got, want = line.split("got ")[1].split(", want ")
    assert got != want.rstrip(".")


def test_tokens_are_named_by_their_text(capsys):
    from utils.exercises.mistakes_lab01 import vocab_sorted
    _, out = verdict(capsys, "build_vocab", vocab_sorted)
    assert "the id of 'the'" in out or "the id of 'cat'" in out, out


# ----------------------------------------------------------------- time limit


def test_an_endless_loop_fails_within_the_limit_and_is_stopped(capsys):
    def rnn_step_forward(x, h_prev, Wx, Wh, b):
        while True:
            pass

    before = threading.active_count()
    start = time.monotonic()
    used, out = verdict(capsys, "rnn_step_forward", rnn_step_forward, time_limit=0.5)
    assert time.monotonic() - start < 5
    assert out.startswith(f"{FAIL_MARK} rnn_step_forward (exercise 2.1): took longer than 0.5 s: "
                          "an infinite loop?"), out
    assert used is REGISTRY["rnn_step_forward"].reference
    time.sleep(0.2)
    assert threading.active_count() == before            # the worker thread was stopped
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)   # no alarm left armed


def test_check_works_outside_the_main_thread(capsys):
    box = {}

    def run():
        box["used"] = check("sigmoid", layers.sigmoid)

    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    assert box["used"] is layers.sigmoid
    assert capsys.readouterr().out.startswith(PASS_MARK)


def test_an_interrupt_falls_back_to_the_reference(capsys):
    def sigmoid(x):
        raise KeyboardInterrupt          # what the stop button raises

    used, out = verdict(capsys, "sigmoid", sigmoid)
    assert out.startswith(f"{FAIL_MARK} sigmoid (exercise 3.1): was interrupted"), out
    assert used is layers.sigmoid


# ----------------------------------------------------------------- labs 06 and 07


def test_lab06_07_mistakes_outside_the_catalogue_get_a_true_message(capsys):
    """Mistakes a student makes that the catalogue does not list: the verdict names what is
    wrong (tensor losses, a float loss, outputs in the wrong order), never another mistake's
    hint."""
    from utils.tbptt import detach_state

    def tbptt_tensor_losses(model, x_rows, y_rows, T, optimizer):
        losses, state = [], None
        for start in range(0, x_rows.shape[1], T):
            logits, state = model(x_rows[:, start:start + T], detach_state(state))
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y_rows[:, start:start + T].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss)
        return losses, state

    _, out = verdict(capsys, "tbptt_epoch", tbptt_tensor_losses)
    assert "returned the losses as tensors: append loss.item()" in out and "Detach" not in out, out
    scheduled = REGISTRY["scheduled_sampling_loss"].reference
    _, out = verdict(capsys, "scheduled_sampling_loss", lambda m, y, u: scheduled(m, y, u).item())
    assert "returned a float, want a 0-d tensor (no .item())" in out and "Hint" not in out, out
    step = REGISTRY["decoder_step"].reference
    _, out = verdict(capsys, "decoder_step", lambda *a: (lambda o: (o[0], o[2], o[1]))(step(*a)))
    assert "Hint: Return logits (N, V), the new state h (N, H) and the weights (N, S), in that order." in out


def test_a_beam_that_keeps_the_wrong_rows_states_fails(capsys):
    """The check's toy model has a state that remembers the path: keeping the first rows'
    states instead of those of the hypotheses kept is caught."""
    reference = REGISTRY["beam_search"].reference
    import utils.beam

    def beam_search(step, state, bos, eos, beam_size=3, max_len=12, alpha=1.0):
        def wrong_rows(tokens, states):
            logp, new = step(tokens, states)
            return logp, np.sort(new)             # the right states, in another order
        return reference(wrong_rows, state, bos, eos, beam_size, max_len, alpha)

    assert reference is utils.beam.beam_search
    used, out = verdict(capsys, "beam_search", beam_search)
    assert out.startswith(FAIL_MARK + " beam_search"), out
