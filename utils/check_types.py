"""The data types of the exercise checks and the registry (used by ``utils.checks``).

``Case`` (one set of inputs), ``CaseError`` (what went wrong on one case), ``KnownBug`` (a
catalogued mistake with its own hint), ``Exercise`` (the reference, the cases, how outputs
are compared) and ``REGISTRY`` with ``register`` / ``get_exercise``. ``BadReturn`` and
``ChangedInput`` are raised by an exercise's ``call`` to report a wrong return value or an
argument changed in place; the checks turn them into a ``CaseError``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from utils.twins import check_twin

# Hint keys that are not output names: an exception, a wrong shape, a wrong cache (the
# forward's cache checked entry by entry), a wrong return type.
SPECIAL_HINTS = ("error", "shape", "cache", "return")


class BadReturn(Exception):
    """Raised by an exercise's ``call`` when the function returned the wrong kind of value
    (the message says what was expected and what came back)."""


class ChangedInput(Exception):
    """Raised by an exercise's ``call`` when the function changed one of its inputs in place
    (the message names the argument and the first changed entry)."""


# --------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class Case:
    """One set of inputs for an exercise.

    args/kwargs: passed to the function (``fn(*args, **kwargs)``) unless the exercise has a
    custom ``call``. label: shown in messages, e.g. ``"fixed fixture N=2, D=3, H=4"``.
    """

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    label: str = ""

    def __post_init__(self):
        if not isinstance(self.args, tuple):
            raise TypeError(f"Case args must be a tuple, got {type(self.args).__name__}")
        if not isinstance(self.kwargs, dict):
            raise TypeError(f"Case kwargs must be a dict, got {type(self.kwargs).__name__}")
        if not isinstance(self.label, str):
            raise TypeError(f"Case label must be a str, got {type(self.label).__name__}")


# CaseError kinds whose message is the whole story (no exception type to show).
MESSAGE_KINDS = ("bad_return", "changed_input", "timeout")


@dataclass(frozen=True)
class CaseError:
    """What went wrong when calling a function on one case (instead of its outputs).

    kind: "not_implemented" (the stub's NotImplementedError), "exception" (any other
    exception), "bad_return" (wrong type, arity, or non-numeric output), "changed_input"
    (an argument was changed in place) or "timeout" (the call did not finish in time).
    type: exception class name ("" for the last three). message: one line.
    where: e.g. "line 3 of rnn_step_forward: h = x @ Wh" ("" when unknown); for
    "not_implemented", set only when the function is partly written (code before the raise).
    Plain strings only, so ``to_dict``/``from_dict`` round-trip through JSON.
    """

    kind: str
    type: str = ""
    message: str = ""
    where: str = ""

    def to_dict(self) -> dict:
        return {"kind": self.kind, "type": self.type, "message": self.message, "where": self.where}

    @classmethod
    def from_dict(cls, d: Mapping) -> "CaseError":
        return cls(kind=str(d["kind"]), type=str(d.get("type", "")),
                   message=str(d.get("message", "")), where=str(d.get("where", "")))

    def describe(self) -> str:
        if self.kind in MESSAGE_KINDS:
            return self.message
        text = f"raised {self.type}"
        if self.message:
            text += f": {self.message}"
        if self.where:
            text += f" ({self.where})"
        return text


@dataclass(frozen=True)
class KnownBug:
    """A catalogued mistake: an implementation with that mistake, and the hint for it.

    name: short, e.g. "missing dc term". fn: called like the student's function. When a
    student's outputs match ``fn``'s on every case, the check shows this hint (the
    diagnosis), whatever output differs first. steps: optional earlier, vaguer hints that a
    notebook shows first and reveals one by one as the check keeps failing. Every entry must fail the check and be told
    apart from the others by the cases (the tests assert both).
    """

    name: str
    hint: str
    fn: Callable
    steps: tuple = ()

    def __post_init__(self):
        if not (isinstance(self.name, str) and self.name and isinstance(self.hint, str) and self.hint
                and callable(self.fn)):
            raise TypeError(f"KnownBug needs a name, a hint and a callable fn, got {self!r}")
        if not all(isinstance(h, str) and h for h in self.steps):
            raise TypeError(f"KnownBug {self.name}: steps must be a tuple of hint texts")
        object.__setattr__(self, "steps", tuple(self.steps))

    @property
    def levels(self) -> tuple:
        """The hints in the order a notebook reveals them, one more per failed check: the
        steps (e.g. which gate, then its local derivative), then the hint (the formula)."""
        return self.steps + (self.hint,)


@dataclass(frozen=True, eq=False)
class Exercise:
    """An exercise: the reference, how to build inputs, and how to compare outputs.

    name: the function name the student defines (and the registry key).
    lab: "02"; number: "2.1" (shown as "exercise 2.1").
    reference: the correct implementation (usually from ``utils.layers``).
    cases: ``cases(rng) -> list[Case]``; include a fixed fixture and random inputs from rng.
    outputs: names of the compared outputs, in return order. If the function returns one
        more value than this (a cache), the last value is not compared.
    hints: {output name | "error" | "shape": hint text}.
    rtol, atol: a compared output passes when max|got - want| <= atol + rtol * max|want|.
    call: optional ``call(fn, case, uses) -> tuple of outputs``; default
        ``fn(*case.args, **case.kwargs)``. ``uses`` maps each name in ``uses`` to a function.
    uses: names of other exercises this one needs (e.g. a backward needs its forward).
    points: weight for the grader.
    cache: names of the cache the function returns last (after the outputs), which the
        skeleton fixes and the backward reads: a tuple cache ``(x, h_prev, ...)`` or, with
        ``cache_dict``, a dict with these keys. Each entry is compared with the reference's
        (output name ``cache[i] (name)`` or ``cache['name']``), with the hint "cache".
    cache_dict: the cache is a dict (else a tuple; a list of the same length is accepted).
    bugs: the catalogue of known mistakes (``KnownBug``), used to choose the hint.
    entry_name: optional ``entry_name(case, output, index) -> str`` naming one entry of an
        output in messages (e.g. the token whose id it is); "" for the default "ids[5]".
    explain: optional ``explain(cases, got, want) -> tuple of hints`` for a failure that no
        known bug matches (progressive, like ``KnownBug.levels``); () when it has nothing.
    seed: seed of the rng the check cell draws random cases from (default: from the name),
        fixed so the printed verdict is the same on every run.
    twins: other functions of the course that compute the exercise and stay for the lab's
        other cells (a model's method such as ``Decoder.step``, a private helper): switched
        off while the student's function runs on the cases (``utils.twins``).
    """

    name: str
    lab: str
    number: str
    reference: Callable
    cases: Callable[[np.random.Generator], Sequence[Case]]
    outputs: tuple = ("out",)
    hints: Mapping[str, str] = field(default_factory=dict)
    rtol: float = 1e-6
    atol: float = 1e-8
    call: Callable | None = None
    uses: tuple = ()
    points: float = 1
    seed: int | None = None
    cache: tuple = ()
    cache_dict: bool = False
    bugs: tuple = ()
    entry_name: Callable | None = None
    explain: Callable | None = None
    twins: tuple = ()

    def __post_init__(self):
        def need(cond, what, got):
            if not cond:
                raise TypeError(f"Exercise {what}, got {got!r}")

        need(isinstance(self.name, str) and self.name.isidentifier(),
             "name must be a Python identifier (the student's function name)", self.name)
        need(isinstance(self.lab, str) and self.lab != "", "lab must be a non-empty str like '02'", self.lab)
        need(isinstance(self.number, str) and self.number != "",
             "number must be a non-empty str like '2.1'", self.number)
        need(callable(self.reference), f"{self.name}: reference must be callable", self.reference)
        need(callable(self.cases), f"{self.name}: cases must be callable as cases(rng) -> list[Case]",
             self.cases)
        outputs = (self.outputs,) if isinstance(self.outputs, str) else tuple(self.outputs)
        need(len(outputs) > 0 and all(isinstance(o, str) and o for o in outputs),
             f"{self.name}: outputs must be a non-empty tuple of names", self.outputs)
        if len(set(outputs)) != len(outputs):
            raise ValueError(f"Exercise {self.name}: outputs has duplicate names: {outputs}")
        object.__setattr__(self, "outputs", outputs)
        cache = tuple(self.cache)
        need(all(isinstance(c, str) and c for c in cache), f"{self.name}: cache must be a tuple of "
             "names", self.cache)
        object.__setattr__(self, "cache", cache)
        bugs = tuple(self.bugs)
        need(all(isinstance(b, KnownBug) for b in bugs), f"{self.name}: bugs must be KnownBug "
             "entries", self.bugs)
        if len({b.name for b in bugs}) != len(bugs) or len({b.hint for b in bugs}) != len(bugs):
            raise ValueError(f"Exercise {self.name}: each known bug needs its own name and hint")
        object.__setattr__(self, "bugs", bugs)
        need(self.explain is None or callable(self.explain),
             f"{self.name}: explain must be None or callable", self.explain)
        need(self.entry_name is None or callable(self.entry_name),
             f"{self.name}: entry_name must be None or callable", self.entry_name)
        hints = dict(self.hints or {})
        unknown = sorted(set(hints) - set(outputs) - set(SPECIAL_HINTS))
        if unknown:
            raise ValueError(f"Exercise {self.name}: hints has keys {unknown} that are neither an "
                             f"output {outputs} nor one of {SPECIAL_HINTS}")
        object.__setattr__(self, "hints", hints)
        for tol in ("rtol", "atol"):
            v = getattr(self, tol)
            need(isinstance(v, (int, float)) and v >= 0, f"{self.name}: {tol} must be a number >= 0", v)
        need(self.call is None or callable(self.call), f"{self.name}: call must be None or callable",
             self.call)
        uses = (self.uses,) if isinstance(self.uses, str) else tuple(self.uses)
        need(all(isinstance(u, str) for u in uses), f"{self.name}: uses must be a tuple of names",
             self.uses)
        object.__setattr__(self, "uses", uses)
        need(self.seed is None or isinstance(self.seed, int), f"{self.name}: seed must be None or int",
             self.seed)
        twins = tuple(self.twins)
        for twin in twins:
            check_twin(self.name, twin)
        object.__setattr__(self, "twins", twins)

    @property
    def title(self) -> str:
        """'rnn_step_forward (exercise 2.1)'."""
        return f"{self.name} (exercise {self.number})"

    @property
    def cache_names(self) -> tuple:
        """The output names of the cache entries: "cache[6] (gates)" or "cache['gates']"."""
        if self.cache_dict:
            return tuple(f"cache[{c!r}]" for c in self.cache)
        return tuple(f"cache[{i}] ({c})" for i, c in enumerate(self.cache))

    @property
    def compared(self) -> tuple:
        """Every compared name: the outputs, then the cache entries."""
        return self.outputs + self.cache_names

    @property
    def check_seed(self) -> int:
        # crc32 rather than hash(): hash() of a str changes between processes.
        return self.seed if self.seed is not None else zlib.crc32(self.name.encode())

    def _identity(self):
        ref = self.reference
        return (self.name, self.lab, self.number, getattr(ref, "__module__", None),
                getattr(ref, "__qualname__", None), self.outputs, self.uses)


# --------------------------------------------------------------------------- registry

REGISTRY: dict[str, Exercise] = {}
# Lab modules under utils/exercises that failed to import: {module name: "Type: message"}.
LOAD_ERRORS: dict[str, str] = {}


def register(exercise: Exercise) -> Exercise:
    """Add an exercise to REGISTRY and return it.

    Registering a name twice is an error, except the same definition again (reloading the
    lab module in a notebook), which replaces the old entry.
    """
    if not isinstance(exercise, Exercise):
        raise TypeError(f"register expects an Exercise, got {type(exercise).__name__}")
    old = REGISTRY.get(exercise.name)
    if old is not None and old._identity() != exercise._identity():
        raise ValueError(
            f"exercise {exercise.name!r} is already registered (lab {old.lab}, exercise "
            f"{old.number}, reference {old.reference.__module__}.{old.reference.__qualname__}); "
            f"each exercise name must be registered once")
    REGISTRY[exercise.name] = exercise
    return exercise


def get_exercise(name: str) -> Exercise:
    """The registered exercise called ``name`` (clear error when there is none)."""
    if not isinstance(name, str):
        raise TypeError(f"exercise name must be a str, got {type(name).__name__}")
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY)) or "none"
        msg = f"no exercise named {name!r} is registered (registered: {known})"
        if LOAD_ERRORS:
            msg += "; these exercise modules failed to import: " + "; ".join(
                f"{m}: {e}" for m, e in sorted(LOAD_ERRORS.items()))
        raise ValueError(msg) from None


