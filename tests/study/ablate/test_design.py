"""The designs: the claimed resolution, measured on the rows themselves; balance, orthogonality;
the full factorial; aliases; the factors between a baseline and a target."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from study.ablate.design import Factor, factorial_design, factors_between


def design(k: int):
    return factorial_design([Factor(f"p{i}", 0, 1) for i in range(k)])


def measured_resolution(rows: np.ndarray) -> int | None:
    """The fewest columns whose product is constant over the rows (None: no such set)."""
    k = rows.shape[1]
    for r in range(1, k + 1):
        for cols in itertools.combinations(range(k), r):
            if abs(np.prod(rows[:, list(cols)], axis=1).sum()) == len(rows):
                return r
    return None


@pytest.mark.parametrize(
    "k, runs, resolution",
    [(1, 2, None), (2, 4, None), (3, 8, None), (4, 16, None), (5, 16, 5), (6, 16, 4)]
    + [(7, 16, 4), (8, 16, 4), (9, 32, 4), (10, 32, 4), (11, 32, 4)],
)
def test_each_design_has_the_resolution_it_claims(k, runs, resolution):
    d = design(k)
    rows = np.array(d.rows)
    assert rows.shape == (runs, k)
    assert d.resolution == resolution
    assert measured_resolution(rows) == resolution  # from the rows, not from the generators
    assert d.kind == ("full" if resolution is None else "fractional")


@pytest.mark.parametrize("k", range(1, 12))
def test_columns_are_balanced_and_orthogonal(k):
    rows = np.array(design(k).rows)
    assert set(np.unique(rows)) == {-1, 1}
    assert (rows.sum(axis=0) == 0).all()  # every level as often as the other
    gram = rows.T @ rows
    assert (gram == len(rows) * np.eye(k)).all()  # main effects mutually orthogonal
    for a, b in itertools.combinations(range(k), 2):  # ... and orthogonal to every 2FI
        pair = rows[:, a] * rows[:, b]
        assert (rows.T @ pair == 0).all()
    assert len(set(map(tuple, rows))) == len(rows)  # no point twice


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_up_to_four_factors_is_the_full_factorial(k):
    d = design(k)
    assert set(d.rows) == set(itertools.product((-1, 1), repeat=k)) and not d.generators
    assert d.interactions() == tuple(itertools.combinations(range(k), 2))


def test_the_six_factor_fraction_aliases_by_hand():
    d = design(6)  # E = ABC, F = BCD: I = ABCE = BCDF = ADEF
    assert d.generators == ("E=ABC", "F=BCD")
    assert d.words() == ("ABCE", "ADEF", "BCDF")
    a, e = 0, 4
    assert d.aliases((a,)) == ((1, 2, 4), (3, 4, 5))  # A = BCE = DEF
    assert d.aliases((0, 1)) == ((2, 4),)  # AB = CE
    assert d.aliases((0, 4)) == ((1, 2), (3, 5))  # AE = BC = DF
    assert (a, e) in d.interactions() and (1, 2) not in d.interactions()
    assert len(d.interactions()) == 7  # 15 pairs in 7 alias chains
    assert d.label((0, 1)) == "p0 × p1"


def test_params_put_each_factor_at_its_level():
    d = factorial_design([Factor("wd", 0.01, 0.05), Factor("model", "big", "small")])
    base = {"wd": 0.05, "model": "small", "lr": 1e-3}
    assert d.params((-1, 1), base) == {"wd": 0.01, "model": "small", "lr": 1e-3}


@pytest.mark.parametrize(
    "baseline, target, roles, expected",
    [
        ({"a": 0.01, "b": 1}, {"a": 0.05, "b": 1}, {}, [("a", 0.01, 0.05)]),
        ({"a": 0.05}, {"a": 0.05000000000000001}, {}, []),  # a float read back is the same
        ({"a": 0.01, "lr": 1e-3}, {"a": 0.01, "lr": 2e-3}, {"lr": "nuisance"}, []),
        ({"m": "x", "p": True}, {"m": "y", "p": False}, {}, [("m", "x", "y"), ("p", True, False)]),
        ({"n": 1}, {"n": 1.0}, {}, []),
        ({"n": 1}, {"n": True}, {}, [("n", 1, True)]),
    ],
)
def test_factors_between(baseline, target, roles, expected):
    found = factors_between(baseline, target, roles)
    assert [(f.name, f.low, f.high) for f in found] == expected


def test_factors_between_needs_every_parameter():
    with pytest.raises(ValueError, match="'b'"):
        factors_between({"a": 1, "b": 2}, {"a": 1}, {})


@pytest.mark.parametrize("k", [0, 12])
def test_no_design_for_none_or_too_many_factors(k):
    with pytest.raises(ValueError, match=f"{k}|at least one"):
        design(k)
