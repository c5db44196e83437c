"""Every number with a unit or a percent sign in a lab's markdown is printed by the lab.

The prose of a lab quotes its results; nbval keeps the stored outputs true, and this test
keeps the prose tied to them, so that re-executing a lab cannot leave a stale number in the
text. What counts as a claim and as backing it: tests/prose_claims.py.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prose_claims import backs, check_notebook, claims  # noqa: E402

SOLUTIONS = sorted((Path(__file__).resolve().parent.parent / "solutions").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.name for p in SOLUTIONS])
def test_every_number_with_a_unit_in_the_prose_is_printed(path):
    found, unbacked = check_notebook(path)
    print(f"{path.name}: {len(found)} claims checked")
    assert not unbacked, (
        f"{path.name}: {len(unbacked)} of {len(found)} numbers with a unit in the markdown are "
        f"printed by no output of the lab (cell index, number): {unbacked}. Print them from a "
        f"code cell, or quote the printed value.")


def test_claims_are_found_outside_code_and_math():
    text = ("The LSTM reaches 94.6 % and 1.69 nats/char in 12 s; 96-99% of runs; "
            "`lr = 0.5 s` and $0.73^{39} \\approx 5 \\%$ are not claims.\n```\n3 %\n```")
    assert claims(text) == ["94.6", "1.69", "12", "96", "99"]


def test_a_claim_is_backed_by_the_same_number_or_one_that_rounds_to_it():
    assert backs("94.6", "94.6") and backs("94.62", "94.6") and backs("87.43", "87")
    assert not backs("94.7", "94.6") and not backs("0.8743", "87") and not backs("9.46", "94.6")
