"""The drill's modelled timelines as one self-contained HTML page of Gantt charts.

The report is opened from a CI artifact or a laptop, possibly offline, and printed for
a post-drill review: so no scripts, no fonts or styles from the network, only inline
CSS and one inline SVG per chart. Colour never carries meaning alone (print may be
grey): the critical path is outlined and its labels bold, a bar's status is written
beside it, and every bar has a tooltip (``<title>``) with its exact times and note.
The output depends on the input only, byte for byte, so a report can be diffed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

KINDS: dict[str, tuple[str, str]] = {  # kind -> (fill, legend text); Okabe-Ito colours
    "detection": ("#D55E00", "detection (probes failing, alarm)"),
    "decision": ("#CC79A7", "operator's decision"),
    "step": ("#0072B2", "failover step (ran in the emulator)"),
    "modelled": ("#56B4E9", "modelled AWS operation"),
    "wait": ("#E69F00", "waiting (polling, health checks, TTL)"),
    "background": ("#BBBBBB", "background (not on the recovery path)"),
}
BAD = frozenset({"failed", "refused"})

LABEL_W, PLOT_W, STATUS_W = 250.0, 600.0, 170.0
TOP, ROW, BAR_H, BOTTOM = 34.0, 22.0, 14.0, 8.0
MIN_BAR_W = 2.0  # an instant (a 0.1 s API call) stays visible
LABEL_CHARS = 36
TICK_STEPS_MIN = (0.5, 1, 2, 5, 10, 15, 30, 60, 120)
MAX_TICKS = 12


@dataclass(frozen=True)
class Bar:
    """One row: a step or modelled event, in seconds since the outage began."""

    label: str
    start: float
    end: float
    kind: str
    status: str
    critical: bool
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"bar {self.label!r}: kind {self.kind!r} is not one of {list(KINDS)}")
        if not 0 <= self.start <= self.end:
            raise ValueError(f"bar {self.label!r}: need 0 <= start <= end")


@dataclass(frozen=True)
class Chart:
    """One timeline (a scenario at one quantile) with its verdict.

    ``objective`` (seconds), when given, is drawn as a dashed line: the RTO to beat.
    """

    title: str
    verdict: str
    summary: str
    bars: tuple[Bar, ...]
    objective: float | None = None


def _n(value: float) -> str:
    """Fixed precision for SVG numbers: stable bytes, no float noise."""
    return f"{value:.2f}"


def _clock(seconds: float) -> str:
    """Modelled time as m:ss (tooltips), tenths kept for sub-second events."""
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:04.1f}" if rest % 1 else f"{int(minutes)}:{int(rest):02d}"


def _length(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _axis(charts: Sequence[Chart]) -> tuple[float, float]:
    """(tick step, axis end) in seconds, shared by all charts so that p50 and p95 compare
    by eye: the smallest round step that needs at most MAX_TICKS ticks."""
    ends = [b.end for c in charts for b in c.bars] + [c.objective or 0.0 for c in charts]
    end_min = max([*ends, 30.0]) / 60
    step = next((s for s in TICK_STEPS_MIN if end_min / s <= MAX_TICKS), TICK_STEPS_MIN[-1])
    return step * 60, math.ceil(end_min / step - 1e-9) * step * 60


def _svg(chart: Chart, step: float, axis_end: float) -> str:
    scale = PLOT_W / axis_end
    rows = max(len(chart.bars), 1)
    width, height = LABEL_W + PLOT_W + STATUS_W, TOP + rows * ROW + BOTTOM
    bottom = TOP + rows * ROW
    out = [
        f'<svg class="gantt" xmlns="http://www.w3.org/2000/svg" role="img" font-size="11" '
        'font-family="system-ui, sans-serif" '
        f'viewBox="0 0 {_n(width)} {_n(height)}" width="{_n(width)}" height="{_n(height)}">',
        f"<title>{escape(chart.title)}: {escape(chart.verdict)}</title>",
        f'<text class="axis-title" x="{_n(LABEL_W)}" y="11">minutes since the outage</text>',
    ]
    for i in range(round(axis_end / step) + 1):
        x = LABEL_W + i * step * scale
        out.append(
            f'<line class="grid" stroke="#ccc" x1="{_n(x)}" y1="{_n(TOP - 6)}" x2="{_n(x)}" '
            f'y2="{_n(bottom)}"/><text class="tick" text-anchor="middle" fill="#444" '
            f'x="{_n(x)}" y="{_n(TOP - 10)}">{i * step / 60:g}</text>'
        )
    if not chart.bars:
        out.append(f'<text class="empty" x="{_n(LABEL_W + 6)}" y="{_n(TOP + 15)}">no bars</text>')
    for row, bar in enumerate(chart.bars):
        out.append(_row(bar, TOP + row * ROW, scale))
    if chart.objective is not None:
        x = LABEL_W + chart.objective * scale
        out.append(
            f'<line class="objective" stroke="#a40000" stroke-dasharray="5 3" x1="{_n(x)}" '
            f'y1="{_n(TOP - 6)}" x2="{_n(x)}" y2="{_n(bottom)}">'
            f"<title>objective {_length(chart.objective)}</title></line>"
        )
    out.append("</svg>")
    return "\n".join(out)


def _row(bar: Bar, y: float, scale: float) -> str:
    fill = KINDS[bar.kind][0]
    label = bar.label if len(bar.label) <= LABEL_CHARS else bar.label[: LABEL_CHARS - 1] + "…"
    tip = f"{bar.label}: {_clock(bar.start)} to {_clock(bar.end)} ({_length(bar.end - bar.start)})"
    tip += f", {bar.kind}, {bar.status}" + (", critical path" if bar.critical else "")
    tip += f". {bar.note}" if bar.note else ""
    x, w = LABEL_W + bar.start * scale, max((bar.end - bar.start) * scale, MIN_BAR_W)
    mark = (
        ' class="bar critical" data-critical="true" stroke="#111" stroke-width="2"'
        if bar.critical
        else ' class="bar" data-critical="false"'
    )
    status_class, status_style = (
        ("status bad", ' font-weight="bold" fill="#a40000"')
        if bar.status in BAD
        else ("status", "")
    )
    label_class = "label critical" if bar.critical else "label"
    weight = ' font-weight="bold"' if bar.critical else ""
    text_y = _n(y + ROW / 2 + 4)
    return (
        f'<g class="row k-{escape(bar.kind)}"><title>{escape(tip)}</title>'
        f'<text class="{label_class}" text-anchor="end"{weight} x="{_n(LABEL_W - 8)}" '
        f'y="{text_y}">{escape(label)}</text>'
        f'<rect{mark} x="{_n(x)}" y="{_n(y + (ROW - BAR_H) / 2)}" width="{_n(w)}" '
        f'height="{_n(BAR_H)}" fill="{fill}" data-start="{_n(bar.start)}"/>'
        f'<text class="{status_class}"{status_style} x="{_n(LABEL_W + PLOT_W + 8)}" y="{text_y}">'
        f"{escape(bar.status)} · {_length(bar.end - bar.start)}</text></g>"
    )


def _legend() -> str:
    items = [
        f'<li><span class="swatch" style="background:{fill}"></span>{escape(text)}</li>'
        for fill, text in KINDS.values()
    ]
    items.append(
        '<li><span class="swatch critical-swatch"></span>outlined, bold label: critical path</li>'
    )
    items.append('<li><span class="swatch objective-swatch"></span>dashed line: objective</li>')
    return '<ul class="legend">' + "".join(items) + "</ul>"


STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; color: #111; margin: 1.5em; max-width: 1040px; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin: 1.4em 0 0.2em; }
.verdict { font-weight: bold; padding: 0 0.4em; border: 2px solid; border-radius: 3px; }
.verdict.pass { color: #1a6b1a; } .verdict.fail { color: #a40000; }
.summary { margin: 0.2em 0 0.5em; }
.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 0.4em 1.2em; }
.swatch { display: inline-block; width: 1.4em; height: 0.9em; margin-right: 0.4em;
  vertical-align: middle; border: 1px solid #777; }
.critical-swatch { border: 2px solid #111; }
.objective-swatch { border: 0; border-left: 2px dashed #a40000; width: 0; }
svg.gantt { width: 100%; height: auto; font-size: 11px; }
svg .grid { stroke: #ccc; stroke-width: 1; }
svg .tick { text-anchor: middle; fill: #444; }
svg .axis-title, svg .empty { fill: #444; }
svg .label { text-anchor: end; } svg .label.critical { font-weight: bold; }
svg .status.bad { font-weight: bold; fill: #a40000; }
svg .objective { stroke: #a40000; stroke-width: 1.5; stroke-dasharray: 5 3; }
section.chart { break-inside: avoid; page-break-inside: avoid; }
* { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
@media print { body { margin: 0; font-size: 10pt; max-width: none; } }
"""


def render(title: str, charts: Sequence[Chart], notes: Sequence[str] = ()) -> str:
    """The whole HTML document: title, legend, one section per chart, then the notes."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(title)}</h1>",
        _legend(),
    ]
    if not charts:
        parts.append("<p>No timelines to show.</p>")
    step, axis_end = _axis(charts)
    for chart in charts:
        verdict = escape(chart.verdict)
        parts += [
            '<section class="chart">',
            f'<h2>{escape(chart.title)} <span class="verdict {verdict.lower()}">{verdict}'
            "</span></h2>",
            f'<p class="summary">{escape(chart.summary)}</p>',
            _svg(chart, step, axis_end),
            "</section>",
        ]
    if notes:
        parts.append("<h2>Notes</h2>")
        parts.append("<ul>" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)
