"""Two-level designs from the baseline to a target: the factors, a full 2^k factorial for k <= 4,
and a regular fractional 2^(k-p) of resolution IV or more above that.

Each factor has two levels: the baseline's value (coded -1) and the target's (+1). A fraction is
built by pyDOE3 from a standard minimum-aberration generator table (Montgomery, *Design and
Analysis of Experiments*, table 8.14); its defining relation says what is aliased with what. At
resolution IV no main effect is aliased with another main effect or with a two-factor
interaction; two-factor interactions are aliased in chains, of which the fit estimates one each.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyDOE3 import fracfact

__all__ = ["GENERATORS", "Design", "Factor", "factorial_design", "factors_between"]

LETTERS = "ABCDEFGHJKLMNOP"  # factor letters; I is the identity of the defining relation
FULL_UP_TO = 4  # a full factorial up to this many factors (at most 16 points)
# k -> the added factors' generators: 2^(k-p) designs of resolution >= IV, minimum aberration.
GENERATORS: dict[int, tuple[str, ...]] = {
    5: ("E=ABCD",),  # 16 runs, resolution V
    6: ("E=ABC", "F=BCD"),  # 16 runs, IV
    7: ("E=ABC", "F=BCD", "G=ACD"),  # 16 runs, IV
    8: ("E=BCD", "F=ACD", "G=ABC", "H=ABD"),  # 16 runs, IV
    9: ("F=BCDE", "G=ACDE", "H=ABDE", "J=ABCE"),  # 32 runs, IV
    10: ("F=ABCD", "G=ABCE", "H=ABDE", "J=ACDE", "K=BCDE"),  # 32 runs, IV
    11: ("F=ABC", "G=BCD", "H=CDE", "J=ACD", "K=ADE", "L=BDE"),  # 32 runs, IV
}


@dataclass(frozen=True)
class Factor:
    """A parameter with two levels: the baseline's value (-1) and the target's (+1)."""

    name: str
    low: Any
    high: Any


def _same(a: Any, b: Any) -> bool:
    """Equal values; numbers within a relative 1e-9 (0.05 read back from YAML or storage)."""
    exact = (bool, str)
    if isinstance(a, exact) or isinstance(b, exact) or a is None or b is None:
        return a == b and type(a) is type(b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9)
    return bool(a == b)


def factors_between(
    baseline: Mapping[str, Any], target: Mapping[str, Any], roles: Mapping[str, str]
) -> tuple[Factor, ...]:
    """The scientific parameters whose values differ, in the baseline's order (a parameter
    missing from ``roles`` counts as scientific)."""
    factors = []
    for name, low in baseline.items():
        if name not in target:
            raise ValueError(f"the target has no value for parameter {name!r}")
        if roles.get(name, "scientific") != "scientific":
            continue
        if not _same(low, target[name]):
            factors.append(Factor(name, low, target[name]))
    return tuple(factors)


@dataclass(frozen=True)
class Design:
    """Design points (rows of -1/+1 levels, in factor order) and how the fraction was made."""

    factors: tuple[Factor, ...]
    rows: tuple[tuple[int, ...], ...]
    generators: tuple[str, ...] = ()  # () for a full factorial

    @property
    def kind(self) -> str:
        return "fractional" if self.generators else "full"

    def words(self) -> tuple[str, ...]:
        """The defining relation's words (every product of the generators' words)."""
        base = []
        for g in self.generators:
            new, letters = g.split("=")
            base.append(frozenset(letters) ^ {new})
        words = set()
        for r in range(1, len(base) + 1):
            for combo in itertools.combinations(base, r):
                word: frozenset[str] = frozenset()
                for w in combo:
                    word = word ^ w
                words.add("".join(sorted(word, key=LETTERS.index)))
        return tuple(sorted(words, key=lambda w: (len(w), w)))

    @property
    def resolution(self) -> int | None:
        """The length of the shortest word (None for a full factorial)."""
        words = self.words()
        return min(len(w) for w in words) if words else None

    @property
    def resolution_name(self) -> str:
        """The resolution as designs are named: IV, V ("" for a full factorial)."""
        return {3: "III", 4: "IV", 5: "V"}.get(self.resolution or 0, str(self.resolution or ""))

    def _letters(self, term: Sequence[int]) -> frozenset[str]:
        return frozenset(LETTERS[i] for i in term)

    def aliases(self, term: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
        """The other terms of up to 3 factors aliased with ``term``."""
        mine = self._letters(term)
        found = set()
        for word in self.words():
            other = mine ^ frozenset(word)
            if 0 < len(other) <= 3:
                found.add(tuple(sorted(LETTERS.index(c) for c in other)))
        return tuple(sorted(found, key=lambda t: (len(t), t)))

    def interactions(self) -> tuple[tuple[int, int], ...]:
        """The two-factor interactions the design estimates: all of them for a full factorial
        or resolution V+; at resolution IV the lowest pair of each alias chain of pairs (a main
        effect never belongs to one)."""
        pairs = list(itertools.combinations(range(len(self.factors)), 2))
        if self.resolution is None or self.resolution >= 5:
            return tuple(pairs)
        taken: list[tuple[int, int]] = []
        seen: set[tuple[int, ...]] = set()
        for pair in pairs:
            if pair in seen:
                continue
            taken.append(pair)
            seen.add(pair)
            seen.update(a for a in self.aliases(pair) if len(a) == 2)
        return tuple(taken)

    def params(self, row: Sequence[int], base: Mapping[str, Any]) -> dict[str, Any]:
        """``base`` with each factor at its level of ``row``."""
        params = dict(base)
        for factor, level in zip(self.factors, row, strict=True):
            params[factor.name] = factor.low if level < 0 else factor.high
        return params

    def label(self, term: Sequence[int]) -> str:
        return " × ".join(self.factors[i].name for i in term)


def factorial_design(factors: Sequence[Factor]) -> Design:
    """A full 2^k design for k <= 4 factors; a resolution IV+ fraction for 5 <= k <= 11."""
    k = len(factors)
    if k == 0:
        raise ValueError("a design needs at least one factor (the target equals the baseline)")
    if k <= FULL_UP_TO:
        rows = tuple(itertools.product((-1, 1), repeat=k))
        return Design(tuple(factors), rows)
    if k not in GENERATORS:
        raise ValueError(
            f"{k} factors: the largest fraction tabled here has {max(GENERATORS)}; "
            "ablate fewer at once (a nearer target)"
        )
    generators = GENERATORS[k]
    basic = k - len(generators)
    spec = [c.lower() for c in LETTERS[:basic]] + [g.split("=")[1].lower() for g in generators]
    matrix = np.asarray(fracfact(" ".join(spec)), dtype=int)
    rows = tuple(tuple(int(x) for x in row) for row in matrix)
    return Design(tuple(factors), rows, generators)
