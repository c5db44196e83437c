"""tools/train_charlm.py: the batches of stateful truncated BPTT that train the pretrained model."""

import numpy as np
import pytest

from tools.train_charlm import parse_args, stateful_batches


def test_stateful_batches_continue_each_stream_and_restart_each_epoch():
    ids = np.arange(10_000)                    # each character names its position in the text
    N, T = 4, 16
    batches = stateful_batches(ids, N, T, np.random.default_rng(0))
    L = (len(ids) - T) // N // T * T           # the shortest a stream can be (largest offset)
    epoch, prev, starts = [], None, []
    for _ in range(3 * (L // T + 1) + 5):      # a little over three epochs
        x, y, new_epoch = next(batches)
        assert x.shape == y.shape == (N, T) and x.dtype == np.int64
        np.testing.assert_array_equal(y, x + 1)                       # the next character
        np.testing.assert_array_equal(np.diff(x, axis=1), 1)          # contiguous text in a row
        if new_epoch:
            starts.append(x[:, 0])
        else:
            # Row n continues where row n of the previous batch stopped: the carried state
            # is the state of the text just before x.
            np.testing.assert_array_equal(x[:, 0], prev[:, -1] + 1)
        epoch.append(new_epoch)
        prev = x
    assert epoch[0] and len(starts) >= 3
    # Each epoch: N streams of equal length tiling the text from an offset in [0, T) ...
    for s in starts:
        assert 0 <= s[0] < T and len(set(np.diff(s))) == 1 and np.diff(s)[0] >= L
    # ... and another offset each time, so the truncation points move between epochs.
    assert len({int(s[0]) for s in starts}) > 1


def test_stateful_batches_reject_streams_shorter_than_a_window():
    with pytest.raises(ValueError, match="shorter than T=16"):
        next(stateful_batches(np.arange(40), 4, 16, np.random.default_rng(0)))


def test_published_settings_are_the_defaults():
    # `python tools/train_charlm.py` with no flags reproduces data/charlm.pt: the settings
    # recorded in data/charlm.json are the defaults of the script.
    import json

    from utils.charlm import CHECKPOINT_INFO_PATH

    recorded = json.loads(CHECKPOINT_INFO_PATH.read_text())["args"]
    defaults = vars(parse_args([]))
    assert {k: recorded[k] for k in defaults if k != "out"} == {k: v for k, v in defaults.items() if k != "out"}
