"""Numbers with a unit in a lab's markdown, and whether a stored output of the lab prints them.

A claim is a number followed by a unit or a percent sign (`94.6 %`, `1.69 nats/char`,
`12 s`, both ends of `96-99 %`) in a markdown cell, outside code (fenced or inline) and outside LaTeX math, which
holds formulas rather than results. It is backed when an output of a code cell of the same
notebook prints the same number, or a number that rounds to it at the precision the prose
uses (prose "95 %" is backed by a printed "94.6 %"; the unit need not follow it there).

Run as a script to list every lab's claims and the unbacked ones:
    python tests/prose_claims.py solutions/*.ipynb
"""

import re
import sys
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation

import nbformat

UNITS = (r"%|nats?(?:/(?:char|token|target|character))?|bits?(?:/(?:char|token))?|ms|s|"
         r"seconds?|minutes?|min|MB|kB|KB|GB")
NUM = r"(?<![\w.^_{\\])(\d+(?:\.\d+)?)"
CLAIM = re.compile(rf"{NUM}(?:\s?(?:-|–|to)\s?(\d+(?:\.\d+)?))?\s?(?:{UNITS})(?![\w/])")
NUMBER = re.compile(r"(?<![\w.])-?(\d+(?:\.\d+)?)(?:e[-+]?\d+)?")
STRIP = [re.compile(p, re.DOTALL) for p in
         (r"```.*?```", r"`[^`\n]*`", r"\$\$.*?\$\$", r"\$[^$\n]*\$")]


def claims(text):
    """Numbers (as written) with a unit in markdown text, code and math left out."""
    for pattern in STRIP:
        text = pattern.sub(" ", text)
    return [n for m in CLAIM.finditer(text) for n in m.groups() if n is not None]


def output_text(cell):
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


def printed_numbers(nb):
    """Every number in the stored outputs of the notebook's code cells, as strings."""
    found = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            found.update(m.group(1) for m in NUMBER.finditer(output_text(cell)))
    return found


def backs(printed, claim):
    """Whether a printed number is the claim, or rounds to it at the claim's precision."""
    if printed == claim:
        return True
    try:
        exp = Decimal(claim).as_tuple().exponent
        value = Decimal(printed)
    except InvalidOperation:
        return False
    quantum = Decimal(1).scaleb(exp)
    return any(value.quantize(quantum, rounding=r) == Decimal(claim)
               for r in (ROUND_HALF_UP, ROUND_HALF_EVEN))


def check_notebook(path):
    """(all claims, unbacked claims) of one notebook, each as (cell index, number)."""
    nb = nbformat.read(path, as_version=4)
    printed = printed_numbers(nb)
    found, unbacked = [], []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for claim in claims(cell.source):
            found.append((index, claim))
            if not any(backs(p, claim) for p in printed):
                unbacked.append((index, claim))
    return found, unbacked


if __name__ == "__main__":
    for path in sys.argv[1:]:
        found, unbacked = check_notebook(path)
        print(f"{path}: {len(found)} claims, {len(unbacked)} not printed: {unbacked}")
