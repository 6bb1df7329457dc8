"""The drill's HTML Gantt report and the table of modelled durations it is drawn from."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from crm_platform.drill import durations, gantt
from crm_platform.drill.durations import DURATIONS, detection, explain
from crm_platform.drill.gantt import Bar, Chart, render

VOID = frozenset({"meta", "br", "hr", "img", "input", "link"})


class _Structure(HTMLParser):
    """Records every element; fails on a closing tag that does not match the open one."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.doctype = False
        self.text: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.doctype = self.doctype or decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(document: str) -> _Structure:
    parsed = _Structure()
    parsed.feed(document)
    parsed.close()
    assert parsed.doctype, "no <!DOCTYPE html>"
    assert parsed.stack == [], f"unclosed elements: {parsed.stack}"
    return parsed


def bars_of(parsed: _Structure) -> list[dict[str, str | None]]:
    return [a for tag, a in parsed.elements if tag == "rect" and "bar" in (a["class"] or "")]


def chart(title: str = "regional-outage (p50)", *bars: Bar) -> Chart:
    bars = bars or (
        Bar("detection", 0, 240, "detection", "modelled", critical=True),
        Bar("operator.decision", 240, 540, "decision", "modelled", critical=True),
        Bar("promote_replica", 540, 840, "step", "done", critical=True),
        Bar("rds.multi_az", 900, 2100, "background", "modelled", critical=False),
    )
    return Chart(title, "PASS", "RTO 14.2 min (objective 15 min)", bars, objective=900)


# --- gantt ---------------------------------------------------------------------------------
def test_labels_notes_and_titles_are_escaped() -> None:
    hostile = "<script>alert(1)</script>"
    document = render(
        f"drill {hostile}",
        [Chart(hostile, "FAIL", hostile, (Bar(hostile, 0, 60, "step", hostile, True, hostile),))],
        notes=[hostile],
    )
    assert "<script" not in document
    assert "&lt;script&gt;" in document
    parse(document)


def test_one_svg_per_chart() -> None:
    charts = [chart("regional-outage (p50)"), chart("regional-outage (p95)"), chart("full")]
    document = render("drill", charts)
    parsed = parse(document)
    assert [tag for tag, _ in parsed.elements].count("svg") == len(charts)
    assert document.count("<svg") == len(charts)


def test_critical_bars_are_marked_and_in_the_legend() -> None:
    parsed = parse(render("drill", [chart()]))
    marked = [a["data-critical"] for a in bars_of(parsed)]
    assert marked == ["true", "true", "true", "false"]
    for attrs in bars_of(parsed):
        critical = attrs["data-critical"] == "true"
        assert ("critical" in (attrs["class"] or "").split()) is critical
        assert (attrs.get("stroke") is not None) is critical  # outlined, not only coloured
    assert "critical path" in "".join(parsed.text)


def test_status_is_written_and_in_the_tooltip() -> None:
    parsed = parse(render("drill", [chart()]))
    text = "".join(parsed.text)
    assert "done · 5.0 min" in text  # beside the bar, readable on paper
    assert "promote_replica: 9:00 to 14:00 (5.0 min), step, done, critical path" in text


def test_output_is_deterministic() -> None:
    charts = [chart("a"), chart("b")]
    first = render("drill", charts, notes=["n"])
    assert first == render("drill", list(charts), notes=("n",))
    assert first.encode() == render("drill", charts, notes=["n"]).encode()


def test_bar_positions_are_proportional_to_start_times() -> None:
    starts = [0.0, 30.0, 90.0, 300.0, 720.0, 1500.0]
    bars = tuple(
        Bar(f"b{i}", s, s + 10, "modelled", "modelled", False) for i, s in enumerate(starts)
    )
    parsed = parse(render("drill", [Chart("c", "PASS", "", bars)]))
    xs = [float(a["x"] or "nan") for a in bars_of(parsed)]
    assert [float(a["data-start"] or "nan") for a in bars_of(parsed)] == starts
    origin = xs[0]
    scale = (xs[-1] - origin) / starts[-1]
    assert scale > 0
    for start, x in zip(starts, xs, strict=True):
        assert x == pytest.approx(origin + start * scale, abs=0.02)


def test_charts_share_one_time_axis() -> None:
    """p50 and p95 side by side compare by eye only on the same scale."""
    short = Chart("p50", "PASS", "", (Bar("s", 60, 120, "step", "done", True),))
    long = Chart("p95", "FAIL", "", (Bar("s", 60, 1800, "step", "done", True),))
    parsed = parse(render("drill", [short, long]))
    xs = [a["x"] for a in bars_of(parsed)]
    assert xs[0] == xs[1]
    ticks = [d for d in parsed.text if re.fullmatch(r"\d+(\.\d+)?", d)]
    assert ticks.count("30") == 2  # both axes reach 30 minutes


def test_empty_report_and_empty_chart_still_render() -> None:
    parsed = parse(render("drill", []))
    assert "No timelines" in "".join(parsed.text)
    assert not any(tag == "svg" for tag, _ in parsed.elements)
    parsed = parse(render("drill", [Chart("nothing ran", "FAIL", "", ())]))
    assert [tag for tag, _ in parsed.elements].count("svg") == 1


def test_bars_must_have_a_known_kind_and_forward_time() -> None:
    with pytest.raises(ValueError, match="kind"):
        Bar("x", 0, 1, "mystery", "done", False)
    with pytest.raises(ValueError, match="start <= end"):
        Bar("x", 10, 5, "step", "done", False)


def test_no_scripts_or_network() -> None:
    document = render("drill", [chart()], notes=["see https://example.invalid/"])
    assert "<script" not in document
    assert not re.search(r"""(src|href)\s*=|@import|url\(""", document)


# --- durations ------------------------------------------------------------------------------
@pytest.mark.parametrize("entry", [*DURATIONS.values(), detection(3)], ids=lambda d: d.name)
def test_every_duration_is_ordered_and_sourced(entry: durations.Duration) -> None:
    assert 0 <= entry.p50 <= entry.p95
    assert entry.at("p50") == entry.p50 and entry.at("p95") == entry.p95
    assert entry.source.startswith(("https://docs.aws.amazon.com/", "assumed: "))
    assert len(entry.source) > len("assumed: ") + 10, "say why"
    assert entry.what


def test_the_table_is_keyed_by_name_and_has_the_entries_the_drill_needs() -> None:
    assert all(name == d.name for name, d in DURATIONS.items())
    assert set(DURATIONS) >= {
        "operator.decision", "rds.promotion", "rds.first_backup", "rds.multi_az",
        "fargate.cold_start", "fargate.warm", "alb.first_health_check", "route53.switch",
        "cloudwatch.alarm_evaluation", "dns.ttl", "secrets.stop_replication", "api.call",
    }  # fmt: skip
    assert DURATIONS["rds.promotion"].assumed  # a figure inside AWS's "several minutes"
    assert not DURATIONS["alb.first_health_check"].assumed


def test_detection_follows_the_configured_minutes() -> None:
    three = detection(3)
    assert (three.name, three.p50, three.p95) == ("detection", 240, 300)
    assert "evaluated every minute" in three.source
    assert detection(10).p50 == 660
    with pytest.raises(ValueError):
        detection(0)


def test_a_bad_entry_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="p50 <= p95"):
        durations.Duration("x", "y", 10, 5, "assumed: test")
    with pytest.raises(ValueError, match="source"):
        durations.Duration("x", "y", 1, 5, "a blog said so")


def test_explain_rows() -> None:
    rows = explain()
    assert len(rows) == len(DURATIONS)
    assert all(len(row) == 5 for row in rows)
    with_detection = explain(3)
    assert len(with_detection) == len(DURATIONS) + 1
    assert with_detection[0][:4] == ("detection", detection(3).what, "4 min", "5 min")
    by_name = {row[0]: row for row in rows}
    assert by_name["api.call"][2:4] == ("0.1 s", "0.5 s")
    assert by_name["rds.promotion"][2:4] == ("5 min", "15 min")
    assert by_name["alb.first_health_check"][2:4] == ("15 s", "30 s")


def test_gantt_kinds_cover_the_report() -> None:
    assert set(gantt.KINDS) == {"step", "modelled", "wait", "background", "detection", "decision"}
