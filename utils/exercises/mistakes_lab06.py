"""Known mistakes of lab 06's exercises, one function per mistake (the catalogue).

Written the way a student would write each mistake, with the exercise's signature; paired
with hints in ``utils/exercises/lab06.py`` and asserted in tests/test_known_bugs.py. Each is
self-contained (no reference function), so it runs wherever the check runs. The mistakes of
6.1, 6.4 and 6.5 are slips in one loop: ``tbptt_variant``, ``free_run_variant`` and
``scheduled_variant`` write it once, with an option per slip (all off: correct);
tests/test_lab06.py builds its other free-running and scheduled-sampling variants from them.
Each mistake is a plain function that builds its variant when called, never at import: the
grader's sandbox replaces every function of a catalogue with a stub that raises, and a variant
built at import would then stop the lab's registry from loading (the graded notebook crashed).
"""

import numpy as np
import torch
import torch.nn.functional as F

# ----------------------------------------------------------------------------- 6.1


def tbptt_variant(carry=True, detach=True, carry_c=True, zero_grad=True):
    """tbptt_epoch with the slips the options turn off: the state carried from chunk to
    chunk, detached, with its cell state c, and the gradients zeroed before each backward."""
    def tbptt_epoch(model, x_rows, y_rows, T, optimizer):
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
            if zero_grad:
                optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return np.array(losses), state
    return tbptt_epoch


def tbptt_no_detach(model, x_rows, y_rows, T, optimizer):
    return tbptt_variant(detach=False)(model, x_rows, y_rows, T, optimizer)


def tbptt_state_reset_every_chunk(model, x_rows, y_rows, T, optimizer):
    return tbptt_variant(carry=False)(model, x_rows, y_rows, T, optimizer)


def tbptt_cell_state_not_carried(model, x_rows, y_rows, T, optimizer):
    return tbptt_variant(carry_c=False)(model, x_rows, y_rows, T, optimizer)


def tbptt_no_zero_grad(model, x_rows, y_rows, T, optimizer):
    return tbptt_variant(zero_grad=False)(model, x_rows, y_rows, T, optimizer)


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


def free_run_variant(reread=False, carry=True, feed_back=True, with_prompt=False):
    """free_run with the slips the options make: the last prompt value read a second time,
    the state not carried, the last true value fed instead of the prediction, the prompt's
    last value returned with the predictions. The defaults: correct."""
    def free_run(model, prompt, steps):
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
    return free_run


def free_run_prompt_end_read_twice(model, prompt, steps):
    return free_run_variant(reread=True)(model, prompt, steps)


def free_run_state_restarted(model, prompt, steps):
    return free_run_variant(carry=False)(model, prompt, steps)


def free_run_truth_fed_instead(model, prompt, steps):
    return free_run_variant(feed_back=False)(model, prompt, steps)


def free_run_prompt_value_returned(model, prompt, steps):
    return free_run_variant(with_prompt=True)(model, prompt, steps)


# ----------------------------------------------------------------------------- 6.5


def scheduled_variant(invert=False, detach=True, shared=False, shift=True, reduce=True,
                      float_mix=False):
    """scheduled_sampling_loss with the slips the options make: the coin's meaning
    inverted, the fed-back prediction not detached, one coin for the whole batch, the
    targets not shifted, per-step losses instead of their mean (reduce=False). float_mix
    writes the choice as arithmetic, m * fed + (1 - m) * true, which is correct too. The
    defaults: correct."""
    def scheduled_sampling_loss(model, y, use_model):
        state, prev, preds = None, None, []
        for t in range(y.shape[1] - 1):
            inp = y[:, t]
            if t > 0:
                use = use_model[:, t - 1]
                if shared:                               # one decision for the whole batch
                    use = use[:1].expand_as(use)
                if invert:
                    use = ~use
                fed = prev.detach() if detach else prev
                m = use.to(y.dtype)
                inp = m * fed + (1 - m) * inp if float_mix else torch.where(use, fed, inp)
            pred, state = model(inp[:, None], state)
            prev = pred[:, 0]
            preds.append(prev)
        target = y[:, 1:] if shift else y[:, :-1]
        err = (torch.stack(preds, dim=1) - target) ** 2
        return err.mean() if reduce else err.mean(dim=0)
    return scheduled_sampling_loss


def scheduled_inverted(model, y, use_model):
    return scheduled_variant(invert=True)(model, y, use_model)


def scheduled_not_detached(model, y, use_model):
    return scheduled_variant(detach=False)(model, y, use_model)


def scheduled_shared_across_batch(model, y, use_model):
    return scheduled_variant(shared=True)(model, y, use_model)


def scheduled_targets_not_shifted(model, y, use_model):
    return scheduled_variant(shift=False)(model, y, use_model)

