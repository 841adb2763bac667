"""What kind of failure a run's per-epoch curves show, with the evidence in numbers.

:func:`classify` is pure: per-epoch numbers in, one :class:`Diagnosis` out. The report applies
it to every trial's curves and ``python -m study diagnose`` to another tool's log. Top-1 values
are fractions (0.035 = 3.5 %); losses are cross-entropies in nats, so a uniform guess over
``classes`` classes has loss ln(classes) and top-1 1 / classes ("chance").

The kinds, checked in this order (the first that holds wins):

- ``val_at_chance``: train learns (its top-1 reaches LEARNED_FACTOR times the chance limit; with
  no train top-1, its loss falls below LEARNED_LOSS * ln(classes)) while val top-1 never rises
  above the chance limit: CHANCE_FACTOR * chance (at most CHANCE_CAP above chance, which matters
  for a few classes only), or chance + CHANCE_SE binomial standard errors on ``val_images`` if
  that is higher. An overfit model is not at exactly chance on val images of
  classes it trained on; a val label index built apart from the train one is. A data or label
  problem, not overfitting.
- ``underfitting``: train top-1 stays below UNDERFIT_TOP1 (when known) and both losses stay above
  UNDERFIT_LOSS * ln(classes); or neither train learns nor val leaves chance.
- ``overfitting``: val loss past its minimum (reached before the last epoch) while train loss
  keeps falling after it, with val top-1 above the chance limit, and either val loss ends at
  least OVERFIT_RISE (relative) above its minimum or the train - val top-1 gap ends at
  OVERFIT_GAP or more, widened by OVERFIT_WIDENING or more since the first epoch.
- ``healthy``: none of these; the headline says whether val top-1 was still best at the last
  epoch (more epochs may help).
- ``no_epochs``: nothing to judge.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from study import records

CHANCE_FACTOR = 3.0  # val top-1 under 3x chance is "at chance" whatever the val size ...
CHANCE_CAP = 0.05  # ... up to 5 points above chance (with 10 classes, 3x chance is 30 %)
CHANCE_SE = 3.0  # ... and so is anything within 3 standard errors of chance on the val images
LEARNED_FACTOR = 2.0  # train "learns": its top-1 reaches twice the chance limit
LEARNED_LOSS = 0.75  # with no train top-1: train loss below 3/4 of the uniform-guess loss
UNDERFIT_TOP1 = 0.5  # underfitting: train top-1 never reaches 50 % ...
UNDERFIT_LOSS = 0.5  # ... and both losses stay above half the uniform-guess loss
# Overfitting: val loss ends >= 2 % above its minimum. The demo's val loss wanders by ~0.02
# (0.6 %) from epoch to epoch on 326 images, so 2 % is about three times that; the demo's
# baseline, stopped by the pruner's val-loss rule, ends 2.5 % above its minimum (3.29 -> 3.37)
# with its train - val gap grown from 0.08 to 0.29. 5 % called that run healthy.
OVERFIT_RISE = 0.02
# ... or, with val loss past its minimum and train loss still falling, a train - val top-1 gap
# of 15 points or more that widened by 10 or more since the first epoch: the demo's baseline
# on one thread stops (pruner's val-loss rule) at epoch 8 with val loss only 1 % above its
# minimum but a gap grown from 0.08 to 0.25. Memorising is under way whatever val loss does.
OVERFIT_GAP = 0.15
OVERFIT_WIDENING = 0.10

KINDS = ("val_at_chance", "overfitting", "underfitting", "healthy", "no_epochs")
CHANCE_HEADLINE = "val at chance: check that val labels map to the same class indices as train"


@dataclass(frozen=True)
class EpochLog:
    """One epoch's numbers (top-1 as fractions); train top-1 and val top-5 may be unknown."""

    epoch: int
    train_loss: float
    val_loss: float
    val_top1: float
    train_top1: float | None = None
    val_top5: float | None = None


@dataclass(frozen=True)
class Diagnosis:
    kind: str  # one of KINDS
    headline: str  # one line
    evidence: tuple[str, ...]  # short sentences with the numbers


def epochs_from_curves(curves: Mapping[str, Sequence[float]]) -> tuple[EpochLog, ...]:
    """A trial's curves (the frame's ``curves`` dict) as epochs; () without val top-1 or losses."""
    needed = (records.TRAIN_LOSS, records.VAL_LOSS, records.VAL_TOP1)
    if any(not curves.get(k) for k in needed):
        return ()
    n = min(len(curves[k]) for k in needed)
    numbers = list(curves.get(records.EPOCH) or [])
    train_top1 = list(curves.get(records.TRAIN_TOP1) or [])
    top5 = list(curves.get("val_top5") or [])
    return tuple(
        EpochLog(
            epoch=int(numbers[i]) if i < len(numbers) else i + 1,
            train_loss=float(curves[records.TRAIN_LOSS][i]),
            val_loss=float(curves[records.VAL_LOSS][i]),
            val_top1=float(curves[records.VAL_TOP1][i]),
            train_top1=float(train_top1[i]) if i < len(train_top1) else None,
            val_top5=float(top5[i]) if i < len(top5) else None,
        )
        for i in range(n)
    )


def pct(x: float) -> str:
    """A fraction as a percentage, two significant digits below 1 %: 0.0003 -> "0.03 %"."""
    if x == 0:
        return "0.00 %"
    return f"{100 * x:.1f} %" if abs(x) >= 0.01 else f"{100 * x:.2g} %"


def chance_limit(classes: int, val_images: int | None = None) -> float:
    """The highest val top-1 still called chance (see the module docstring)."""
    chance = 1 / classes
    limit = min(CHANCE_FACTOR * chance, chance + CHANCE_CAP)
    if val_images:
        limit = max(limit, chance + CHANCE_SE * math.sqrt(chance * (1 - chance) / val_images))
    return limit


def _finite(pairs: Sequence[tuple[int, float | None]]) -> list[tuple[int, float]]:
    return [(e, float(v)) for e, v in pairs if v is not None and math.isfinite(v)]


@dataclass(frozen=True)
class _Curves:
    """The finite (epoch, value) points of each curve, and the numbers every rule reads."""

    train_loss: list[tuple[int, float]]
    val_loss: list[tuple[int, float]]
    val_top1: list[tuple[int, float]]
    train_top1: list[tuple[int, float]]
    val_top5: list[tuple[int, float]]
    classes: int
    limit: float

    @classmethod
    def of(cls, epochs: Sequence[EpochLog], classes: int, val_images: int | None) -> _Curves:
        def points(name: str) -> list[tuple[int, float]]:
            return _finite([(e.epoch, getattr(e, name)) for e in epochs])

        return cls(
            *(points(n) for n in ("train_loss", "val_loss", "val_top1", "train_top1", "val_top5")),
            classes=classes,
            limit=chance_limit(classes, val_images),
        )

    @property
    def uniform_loss(self) -> float:
        return math.log(self.classes)

    def chance_words(self, k: int = 1) -> str:
        return f"chance {k}/{self.classes:,} = {pct(k / self.classes)}"


def classify(epochs: Sequence[EpochLog], classes: int, val_images: int | None = None) -> Diagnosis:
    """The failure kind of a run from its per-epoch numbers (see the module docstring).

    ``classes``: the classes a uniform guess picks from (the dataset's, or the model head's);
    ``val_images``: the val split's size, when known, widens "chance" by its binomial noise.
    """
    if classes < 2:
        raise ValueError(f"classes must be >= 2, got {classes!r}")
    c = _Curves.of(epochs, classes, val_images)
    if not c.val_top1 or not c.train_loss or not c.val_loss:
        return Diagnosis("no_epochs", "no epochs with val top-1 and losses to judge", ())
    for rule in (_at_chance, _underfitting, _overfitting):
        found = rule(c)
        if found is not None:
            return found
    return _healthy(c)


def _train_learns(c: _Curves) -> tuple[bool, str]:
    if c.train_top1:
        (e0, t0), (eb, tb) = c.train_top1[0], max(c.train_top1, key=lambda p: p[1])
        return tb >= LEARNED_FACTOR * c.limit, f"train top-1 {pct(t0)} at epoch {e0} rising to " + (
            f"{pct(tb)} at epoch {eb}"
        )
    (e0, l0), (eb, lb) = c.train_loss[0], min(c.train_loss, key=lambda p: p[1])
    learns = lb < LEARNED_LOSS * c.uniform_loss
    return learns, f"train loss {l0:.2f} at epoch {e0} falling to {lb:.2f} at epoch {eb}"


def _at_chance(c: _Curves) -> Diagnosis | None:
    learns, train = _train_learns(c)
    eb, best = max(c.val_top1, key=lambda p: p[1])
    if not learns or best > c.limit:
        return None
    evidence = [
        train,
        f"val top-1 at most {pct(best)} over {len(c.val_top1)} epochs; {c.chance_words()}",
    ]
    if c.val_top5:
        top5 = max(v for _, v in c.val_top5)
        evidence.append(f"val top-5 at most {pct(top5)}; {c.chance_words(5)}")
    e0, l0 = c.val_loss[0]
    side = "above" if l0 > c.uniform_loss else "below"
    evidence.append(
        f"val loss {l0:.2f} at epoch {e0}, {side} the uniform-guess loss "
        f"ln({c.classes:,}) = {c.uniform_loss:.2f}"
    )
    return Diagnosis("val_at_chance", CHANCE_HEADLINE, tuple(evidence))


def _underfitting(c: _Curves) -> Diagnosis | None:
    floor = UNDERFIT_LOSS * c.uniform_loss
    train_min = min(v for _, v in c.train_loss)
    val_min = min(v for _, v in c.val_loss)
    top1 = max((v for _, v in c.train_top1), default=None)
    learns, train = _train_learns(c)
    high = train_min > floor and val_min > floor and (top1 is None or top1 < UNDERFIT_TOP1)
    # Val at chance with a train that does not learn either: nothing learned, not a label issue.
    nothing = not learns and max(v for _, v in c.val_top1) <= c.limit
    if not high and not nothing:
        return None
    evidence = [train if top1 is None else f"train top-1 at most {pct(top1)}"]
    evidence.append(
        f"train loss at least {train_min:.2f} and val loss at least {val_min:.2f}; "
        f"uniform-guess loss ln({c.classes:,}) = {c.uniform_loss:.2f}"
    )
    headline = "underfitting: train top-1 low and both losses high; train longer or regularize less"
    return Diagnosis("underfitting", headline, tuple(evidence))


def _overfitting(c: _Curves) -> Diagnosis | None:
    (ek, vk), (en, vn) = min(c.val_loss, key=lambda p: p[1]), c.val_loss[-1]
    train = dict(c.train_loss)
    if ek == en or ek not in train or en not in train or train[en] >= train[ek]:
        return None  # val loss still at its lowest, or train loss no longer falling
    eb, best = max(c.val_top1, key=lambda p: p[1])
    if best <= c.limit:
        return None
    gaps = _gaps(c)
    first = min(gaps) if gaps else None
    rose = vn >= vk * (1 + OVERFIT_RISE)
    widened = en in gaps and gaps[en] >= OVERFIT_GAP and gaps[en] - gaps[first] >= OVERFIT_WIDENING
    if not (rose or widened):
        return None
    evidence = [
        f"val loss lowest {vk:.2f} at epoch {ek}, {vn:.2f} at epoch {en} "
        f"(+{100 * (vn / vk - 1):.0f} %)",
        f"train loss fell from {train[ek]:.2f} to {train[en]:.2f} over the same epochs",
        f"val top-1 best {pct(best)} at epoch {eb}, {best * c.classes:.0f}x {c.chance_words()}",
    ]
    if first is not None and en in gaps:
        evidence.append(
            f"train - val top-1 gap {100 * gaps[first]:.1f} points at epoch {first}, "
            f"{100 * gaps[ek]:.1f} at epoch {ek}, {100 * gaps[en]:.1f} at epoch {en}"
            if ek in gaps
            else f"train - val top-1 gap {100 * gaps[first]:.1f} points at epoch {first}, "
            f"{100 * gaps[en]:.1f} at epoch {en}"
        )
    turned = "turned up" if rose else "stopped falling"
    headline = (
        f"overfitting: val loss {turned} after epoch {ek} while train loss kept falling; "
        "stop earlier or regularize more"
    )
    return Diagnosis("overfitting", headline, tuple(evidence))


def _gaps(c: _Curves) -> dict[int, float]:
    val = dict(c.val_top1)
    return {e: t - val[e] for e, t in c.train_top1 if e in val}


def _healthy(c: _Curves) -> Diagnosis:
    (ek, vk), n = min(c.val_loss, key=lambda p: p[1]), len(c.val_loss)
    eb, best = max(c.val_top1, key=lambda p: p[1])
    last = c.val_top1[-1][0]
    evidence = (
        f"val loss lowest {vk:.2f} at epoch {ek} of {n}",
        f"val top-1 best {pct(best)} at epoch {eb}, {best * c.classes:.0f}x {c.chance_words()}",
    )
    if eb == last and n > 1:
        headline = f"healthy: val top-1 still best at the last epoch ({last}); more epochs may help"
    else:
        headline = f"healthy: no sign of over- or underfitting; val top-1 best at epoch {eb}"
    return Diagnosis("healthy", headline, evidence)
