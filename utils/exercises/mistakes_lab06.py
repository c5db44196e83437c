"""Known mistakes of lab 06's exercises, one function per mistake (the catalogue).

Written the way a student would write each mistake, with the exercise's signature; paired
with hints in ``utils/exercises/lab06.py`` and asserted in tests/test_known_bugs.py. Each is
self-contained (no reference function), so it runs wherever the check runs.
"""

import numpy as np
import torch
import torch.nn.functional as F

# ----------------------------------------------------------------------------- 6.1


def _tbptt(model, x_rows, y_rows, T, optimizer, carry=True, detach=True, carry_c=True, zero=True):
    losses, state = [], None
    for start in range(0, x_rows.shape[1], T):
        x, y = x_rows[:, start:start + T], y_rows[:, start:start + T]      # (N, T) each
        if not carry:
            state = None
        elif state is not None:
            h, c = state
            if detach:
                h, c = h.detach(), c.detach()
            state = (h, c if carry_c else torch.zeros_like(c))
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        if zero:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return np.array(losses), state


def tbptt_no_detach(model, x_rows, y_rows, T, optimizer):
    return _tbptt(model, x_rows, y_rows, T, optimizer, detach=False)


def tbptt_state_reset_every_chunk(model, x_rows, y_rows, T, optimizer):
    return _tbptt(model, x_rows, y_rows, T, optimizer, carry=False)


def tbptt_cell_state_not_carried(model, x_rows, y_rows, T, optimizer):
    return _tbptt(model, x_rows, y_rows, T, optimizer, carry_c=False)


def tbptt_no_zero_grad(model, x_rows, y_rows, T, optimizer):
    return _tbptt(model, x_rows, y_rows, T, optimizer, zero=False)


# ----------------------------------------------------------------------------- 6.2


def orthogonal_no_sign_fix(A, gain=1.0):
    Q, R = np.linalg.qr(A)
    return gain * Q


def orthogonal_transposed(A, gain=1.0):
    Q, R = np.linalg.qr(A)
    return (gain * Q * np.sign(np.diag(R))).T


def orthogonal_gain_forgotten(A, gain=1.0):
    Q, R = np.linalg.qr(A)
    return Q * np.sign(np.diag(R))


def orthogonal_signs_on_rows(A, gain=1.0):
    Q, R = np.linalg.qr(A)
    return gain * np.sign(np.diag(R))[:, None] * Q


# ----------------------------------------------------------------------------- 6.3


def last_state_padded_column(h, lengths):
    return h[:, -1]


def last_state_off_by_one(h, lengths):
    return h[torch.arange(h.shape[0]), lengths]


def last_state_no_batch_index(h, lengths):
    return h[:, lengths - 1]                       # (N, N, H): every sequence at every length


def last_state_gather_not_expanded(h, lengths):
    return h.gather(1, (lengths - 1)[:, None, None]).squeeze(1)      # (N, 1): unit 0 only


# ----------------------------------------------------------------------------- 6.4


def _free_run(model, prompt, steps, reread=False, carry=True, feed_back=True, with_prompt=False):
    with torch.no_grad():
        pred, state = model(prompt)
        value = pred[:, -1:]
        if reread:
            pred, state = model(prompt[:, -1:], state)
            value = pred[:, -1:]
        out = [prompt[:, -1:]] if with_prompt else []
        for _ in range(steps):
            out.append(value)
            pred, state = model(value if feed_back else prompt[:, -1:], state if carry else None)
            value = pred[:, -1:]
        return torch.cat(out, dim=1)


def free_run_prompt_end_read_twice(model, prompt, steps):
    return _free_run(model, prompt, steps, reread=True)


def free_run_state_restarted(model, prompt, steps):
    return _free_run(model, prompt, steps, carry=False)


def free_run_truth_fed_instead(model, prompt, steps):
    return _free_run(model, prompt, steps, feed_back=False)


def free_run_prompt_value_returned(model, prompt, steps):
    return _free_run(model, prompt, steps, with_prompt=True)


# ----------------------------------------------------------------------------- 6.5


def _scheduled(model, y, use_model, invert=False, detach=True, shared=False, shift=True):
    state, prev, preds = None, None, []
    for t in range(y.shape[1] - 1):
        inp = y[:, t]
        if t > 0:
            use = use_model[:, t - 1]
            if shared:                               # one decision for the whole batch
                use = use[:1].expand_as(use)
            if invert:
                use = ~use
            inp = torch.where(use, prev.detach() if detach else prev, inp)
        pred, state = model(inp[:, None], state)
        prev = pred[:, 0]
        preds.append(prev)
    target = y[:, 1:] if shift else y[:, :-1]
    return ((torch.stack(preds, dim=1) - target) ** 2).mean()


def scheduled_inverted(model, y, use_model):
    return _scheduled(model, y, use_model, invert=True)


def scheduled_not_detached(model, y, use_model):
    return _scheduled(model, y, use_model, detach=False)


def scheduled_shared_across_batch(model, y, use_model):
    return _scheduled(model, y, use_model, shared=True)


def scheduled_targets_not_shifted(model, y, use_model):
    return _scheduled(model, y, use_model, shift=False)
