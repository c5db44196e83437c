"""utils.autograde, the hidden tests of nbgrader's test cells, in this process (no nbgrader)."""

import numpy as np
import pytest

from utils import autograde, checks, layers


@pytest.fixture(autouse=True)
def fresh_results():
    autograde.RESULTS.clear()
    yield
    autograde.RESULTS.clear()


def test_correct_wrong_untouched_and_missing():
    def rnn_step_forward(x, h_prev, Wx, Wh, b):
        h = np.tanh(x @ Wx + h_prev @ Wh + b)
        return h, (x, h_prev, Wx, Wh, h)

    def untouched(*args):
        raise NotImplementedError("exercise 2.1: rnn_step_forward")

    def no_bias(x, h_prev, Wx, Wh, b):
        h = np.tanh(x @ Wx + h_prev @ Wh)
        return h, (x, h_prev, Wx, Wh, h)

    assert autograde.grade("rnn_step_forward", {"rnn_step_forward": rnn_step_forward}) == "passed"
    autograde.verdict("rnn_step_forward")
    for fn, state in ((untouched, "not_attempted"), (no_bias, "failed")):
        assert autograde.grade("rnn_step_forward", {"rnn_step_forward": fn}) == state
        with pytest.raises(AssertionError, match=r"hidden cases: rnn_step_forward \(exercise 2.1\)"):
            autograde.verdict("rnn_step_forward")
    assert autograde.grade("rnn_step_forward", {}) == "not_defined"
    with pytest.raises(AssertionError, match="does not define a function rnn_step_forward"):
        autograde.verdict("rnn_step_forward")


def test_references_are_unavailable_while_the_student_code_runs():
    """As in tools/grade.py's sandbox: calling the reference (through utils or a name of the
    notebook) fails, and the references are back afterwards."""
    def via_module(*args):
        return layers.rnn_step_forward(*args)

    namespace = {"rnn_step_forward": layers.rnn_step_forward}  # e.g. imported from utils.layers
    assert autograde.grade("rnn_step_forward", namespace) == "failed"
    assert autograde.grade("rnn_step_forward", {"rnn_step_forward": via_module}) == "failed"
    with pytest.raises(AssertionError, match="ReferenceUnavailableError"):
        autograde.verdict("rnn_step_forward")
    assert namespace["rnn_step_forward"] is checks.get_exercise("rnn_step_forward").reference
    assert layers.rnn_step_forward is checks.get_exercise("rnn_step_forward").reference


@pytest.mark.parametrize("module", ["utils.charlm", "utils.lm_baselines"])
def test_a_reference_is_unavailable_under_every_name_it_has(module):
    """bigram_nats is defined in utils.lm_baselines and re-exported by utils.charlm, which the
    lab imports from: both names are the stub while the student's code runs."""
    import importlib
    where = importlib.import_module(module)

    def bigram_nats(*args, **kwargs):
        return where.bigram_nats(*args, **kwargs)

    assert autograde.grade("bigram_nats", {"bigram_nats": bigram_nats}) == "failed"
    with pytest.raises(AssertionError, match="ReferenceUnavailableError"):
        autograde.verdict("bigram_nats")
    assert where.bigram_nats is checks.get_exercise("bigram_nats").reference


def test_replayed_results_come_back_once_each_in_call_order():
    from utils.replay import replayer
    make = replayer([("f", 1), ("g", "a"), ("f", 2)])
    f, g = make("f"), make("g")
    assert (f(), g(), f()) == (1, "a", 2)
    with pytest.raises(RuntimeError, match="no recorded reference result left for f"):
        f()


def test_a_backward_is_graded_on_the_reference_results_when_its_forward_failed():
    def broken_forward(*args):
        raise NotImplementedError

    reference_backward = checks.get_exercise("rnn_step_backward").reference

    rnn_step_backward = _copy_of(reference_backward)  # right, but its forward is not

    assert autograde.grade("rnn_step_forward", {"rnn_step_forward": broken_forward}) == "not_attempted"
    # with the student's own forward it would fail (NotImplementedError); on the reference's
    # recorded results it passes
    assert autograde.grade("rnn_step_backward", {"rnn_step_backward": rnn_step_backward}) == "passed"


def _copy_of(fn):
    """A new function with fn's code: not the reference object, so it is not stubbed."""
    import types
    return types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
