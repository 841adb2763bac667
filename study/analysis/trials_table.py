"""Section 7, all trials: one row each, sortable by any column and filterable by state.

The table sorts in the page, with a few lines of vanilla JS: a cell whose text is not its value
(42.3 % for 0.4231) carries the raw value in ``data-sort``; numeric columns compare as numbers,
text columns by locale with numbers inside them in order; missing cells stay last either way.
No per-row styles or scripts, so 10,000 trials stay a compact page.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from numbers import Integral, Number
from typing import Any

import pandas as pd

from study import records
from study.analysis.inputs import ReportInputs, best_row, noise_floor
from study.analysis.markup import MISSING, Html, esc, paragraph, pct

TABLE_ID = "trials-table"
STATE_ID = "trials-state"
PARAM_PREFIX = "params_"
TOP5 = "val_top5"


@dataclass(frozen=True)
class Column:
    name: str
    numeric: bool  # sorts as numbers (else as text)


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: str
    cells: tuple[tuple[str, float | None], ...]  # (text shown, raw value; None: missing/text)


@dataclass(frozen=True)
class TrialsTableInfo:
    columns: tuple[Column, ...]
    rows: tuple[TrialRow, ...]  # by trial number
    states: tuple[tuple[str, int], ...]  # each state with its trials, most first
    val_images: int
    noise: float | None  # one standard error of the best's val top-1 (None: unknown)


def get_trials_table_info(inputs: ReportInputs) -> TrialsTableInfo:
    """Every trial of the frame as a row of display texts and raw sort values."""
    frame = inputs.frame
    params = [c for c in frame.columns if c.startswith(PARAM_PREFIX)]
    columns = [Column("#", True), Column("state", False)]
    columns += [Column(p.removeprefix(PARAM_PREFIX), _numeric(frame[p])) for p in params]
    columns += [Column(n, True) for n in ("val top-1", "top-5", "gap", "best epoch")]
    columns += [Column(n, True) for n in ("epochs run / planned", "seconds", "parameters")]
    columns.append(Column("stop / prune reason", False))
    numbers = frame["number"], frame[records.BASELINE]
    best, epochs = (
        frame[records.BEST_EPOCH],
        (frame[records.EPOCHS_RUN], frame[records.EPOCHS_PLANNED]),
    )
    cells = [
        [(f"{n} (baseline)" if b else str(n), float(n)) for n, b in zip(*numbers, strict=True)],
        [(str(s), None) for s in frame["state"]],
        *(
            [_param(v, c.numeric) for v in frame[p]]
            for p, c in zip(params, columns[2 : 2 + len(params)], strict=True)
        ),
        [_fraction(v) for v in frame[records.best_key(records.VAL_TOP1)]],
        [_fraction(_at_best(c, e)) for c, e in zip(frame[records.CURVES], best, strict=True)],
        [_fraction(v) for v in frame[records.best_key(records.GAP)]],
        [_integer(v) for v in best],
        [_epochs(r, p) for r, p in zip(*epochs, strict=True)],
        [_number(v, "{:.0f}") for v in frame[records.SECONDS]],
        [_size(v) for v in frame[records.NUM_PARAMS]],
        [(_reason(row), None) for row in frame[_REASONS].itertuples(index=False)],
    ]
    rows = tuple(
        TrialRow(int(n), str(s), tuple(row))
        for n, s, row in zip(frame["number"], frame["state"], zip(*cells, strict=True), strict=True)
    )
    top, images = best_row(frame), inputs.val_images
    noise = None if top is None or not images else noise_floor(float(top["value"]), images)
    states = Counter(str(s) for s in frame["state"])
    return TrialsTableInfo(
        columns=tuple(columns),
        rows=rows,
        states=tuple(sorted(states.items(), key=lambda kv: (-kv[1], kv[0]))),
        val_images=images,
        noise=noise,
    )


_REASONS = [records.STOP_KIND, records.PRUNE_REASON, records.ERROR, records.ENDED]


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _numeric(column: pd.Series) -> bool:
    values = [v for v in column if not _missing(v)]
    return all(isinstance(v, Number) and not isinstance(v, bool) for v in values)


def _param(value: Any, numeric: bool) -> tuple[str, float | None]:
    if _missing(value):
        return MISSING, None
    if not numeric:
        return str(value), None
    return (str(value) if isinstance(value, Integral) else f"{value:.4g}"), float(value)


def _fraction(value: Any) -> tuple[str, float | None]:
    return (MISSING, None) if _missing(value) else (pct(float(value)), float(value))


def _integer(value: Any) -> tuple[str, float | None]:
    return (MISSING, None) if _missing(value) else (str(int(value)), float(value))


def _number(value: Any, form: str) -> tuple[str, float | None]:
    return (MISSING, None) if _missing(value) else (form.format(value), float(value))


def _size(value: Any) -> tuple[str, float | None]:
    if _missing(value):
        return MISSING, None
    return (f"{value / 1e6:.2f} M" if value >= 1e5 else f"{int(value):,}"), float(value)


def _epochs(run: Any, planned: Any) -> tuple[str, float | None]:
    if _missing(run):
        return (MISSING if _missing(planned) else f"{MISSING} / {planned}"), None
    return f"{run} / {MISSING if _missing(planned) else planned}", float(run)


def _at_best(curves: dict, best_epoch: Any) -> float | None:
    """curves["val_top5"] at the best epoch (None when either is unknown)."""
    values, epochs = curves.get(TOP5) or [], curves.get(records.EPOCH) or []
    if _missing(best_epoch) or int(best_epoch) not in epochs:
        return None
    i = epochs.index(int(best_epoch))
    return float(values[i]) if i < len(values) else None


def _reason(row: tuple) -> str:
    """The stop decision (kind: text), else the error, else how it ended."""
    kind, reason, error, ended = (None if _missing(v) else str(v) for v in row)
    if reason:
        return f"{kind}: {reason}" if kind else reason
    return error or ended or kind or ""


STYLE = (
    f"#{TABLE_ID} th button{{all:unset;cursor:pointer;font-weight:600}}"
    f"#{TABLE_ID} td:not(:last-child){{white-space:nowrap}}"
    f"#{TABLE_ID} th[aria-sort=ascending] button::after{{content:' ▲'}}"
    f"#{TABLE_ID} th[aria-sort=descending] button::after{{content:' ▼'}}"
    ".trials-scroll{max-height:640px;overflow:auto}"
)
# Sorting and the state filter. A numeric column sorts high to low on its first click, text
# A to Z; a click again reverses. Missing cells ("–") stay last either way.
SCRIPT = """(function(){
var t=document.getElementById("TABLE_ID"),b=t.tBodies[0],h=t.tHead.rows[0].cells,col=-1,dir=1;
var text=new Intl.Collator(undefined,{numeric:true,sensitivity:"base"});
function key(td,num){var s=td.getAttribute("data-sort"),v=s===null?td.textContent:s;
if(v==="MISSING"||v==="")return null;if(!num)return v;var x=parseFloat(v);return isNaN(x)?null:x;}
function sort(i){var num=h[i].getAttribute("data-type")==="num";
dir=col===i?-dir:(num?-1:1);col=i;
var rows=Array.prototype.map.call(b.rows,function(r){return [key(r.cells[i],num),r];});
rows.sort(function(p,q){var x=p[0],y=q[0];if(x===null||y===null)return (x===null)-(y===null);
return dir*(num?x-y:text.compare(x,y));});
t.removeChild(b);rows.forEach(function(r){b.appendChild(r[1]);});t.appendChild(b);
for(var j=0;j<h.length;j++)h[j].removeAttribute("aria-sort");
h[i].setAttribute("aria-sort",dir>0?"ascending":"descending");}
Array.prototype.forEach.call(h,function(th,i){
th.querySelector("button").addEventListener("click",function(){sort(i);});});
var s=document.getElementById("STATE_ID");s.addEventListener("change",function(){
Array.prototype.forEach.call(b.rows,function(r){
r.hidden=s.value!==""&&r.getAttribute("data-state")!==s.value;});});
})();"""
SCRIPT = SCRIPT.replace("TABLE_ID", TABLE_ID).replace("MISSING", MISSING)
SCRIPT = SCRIPT.replace("STATE_ID", STATE_ID)


def draw_trials_table(info: TrialsTableInfo) -> Html:
    """The table, its state filter and its sorting script."""
    if not info.rows:
        return paragraph("The study has no trials yet.")
    noise = (
        f"Each val top-1 is measured on {info.val_images:,} val images: one standard error is "
        f"about ±{100 * info.noise:.1f} points, so rows that close are not distinguishable "
        "from noise in this study."
        if info.noise is not None and math.isfinite(info.noise)
        else "The val split's size is not recorded: the noise of each val top-1 is unknown."
    )
    options = "".join(f'<option value="{esc(s)}">{esc(s)} ({n})</option>' for s, n in info.states)
    head = "".join(
        ('<th data-type="num">' if c.numeric else "<th>")
        + f'<button type="button">{esc(c.name)}</button></th>'
        for c in info.columns
    )
    body = "".join(
        f'<tr data-state="{esc(r.state)}">'
        + "".join(_cell(text, raw) for text, raw in r.cells)
        + "</tr>"
        for r in info.rows
    )
    return Html(
        f"<style>{STYLE}</style>"
        + paragraph(
            f"All {len(info.rows):,} trials. Click a column header to sort by it (again: "
            "reversed).",
            noise,
        )
        + f'<p><label for="{STATE_ID}">State: </label><select id="{STATE_ID}">'
        f'<option value="">all ({len(info.rows)})</option>{options}</select></p>'
        f'<div class="trials-scroll"><table id="{TABLE_ID}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div><script>{SCRIPT}</script>"
    )


def _cell(text: str, raw: float | None) -> str:
    """A cell; its raw value in data-sort only where the text does not read as it."""
    if raw is None:
        return f"<td>{esc(text)}</td>"
    # six digits order any two trials the page can tell apart, and keep 10,000 rows small
    value = str(int(raw)) if raw.is_integer() and abs(raw) < 1e15 else f"{raw:.6g}"
    if text == value:
        return f"<td>{esc(text)}</td>"
    return f'<td data-sort="{value}">{esc(text)}</td>'
