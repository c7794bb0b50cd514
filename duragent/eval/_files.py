"""Writing an evaluation's report files: JSON, Markdown, JUnit XML and a PNG chart.

An edge (file I/O, and matplotlib when it is installed), kept out of the pure modules that the
evaluation workflow imports. ``report.json`` is the ``EvalReport`` itself, so ``--baseline``
reads it back with ``EvalReport.model_validate_json``. ``junit.xml`` follows the shape CI servers
read (Jenkins' and Ant's ``junit-10.xsd``): one ``<testcase>`` per case attempt, the category as
its class name, so a CI page groups cases the way the report does.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import structlog

from duragent.eval._report import CaseOutcome, EvalReport, GroupStats, table_columns, table_rows

log = structlog.get_logger(__name__)

FILES = {"json": "report.json", "markdown": "report.md", "junit": "junit.xml", "png": "report.png"}


def write_reports(report: EvalReport, folder: str | Path) -> dict[str, Path]:
    """Write the report files into ``folder`` (made if missing); return them by kind (``json``,
    ``markdown``, ``junit``, and ``png`` unless matplotlib is missing, which is logged)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = {
        "json": _write(out / FILES["json"], report.model_dump_json(indent=2)),
        "markdown": _write(out / FILES["markdown"], render_markdown(report)),
        "junit": _write(out / FILES["junit"], render_junit(report)),
    }
    png = write_chart(report, out / FILES["png"])
    if png is not None:
        written["png"] = png
    return written


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- Markdown ----------------------------------------------------------------------------------


def render_markdown(report: EvalReport) -> str:
    """The report as Markdown: the summary table, failing cases with reasons, error types."""
    o = report.overall
    model = f" on `{report.model}`" if report.model else ""
    lines = [
        f"# Evaluation: {report.dataset}",
        "",
        f"Agent `{report.agent}`{model}: **{o.accuracy:.1%}** correct over {o.attempts} "
        f"run(s) of {o.cases} case(s) ({o.correct} correct, {o.partial} partial, "
        f"{o.incorrect} incorrect); cost ${o.cost_usd:.4f}, judge ${o.judge_cost_usd:.4f}.",
    ]
    if report.started_at and report.finished_at:
        seconds = (report.finished_at - report.started_at).total_seconds()
        lines.append(f"Ran {report.started_at:%Y-%m-%d %H:%M:%S %Z} for {seconds:.1f} s.")
    columns = table_columns(report)
    lines += ["", "## By category", "", _md_row(columns), _md_row(["---"] * len(columns))]
    lines += [_md_row(row) for row in table_rows(report)]
    failing = [x for x in report.outcomes if x.verdict != "correct"]
    if failing:
        lines += ["", "## Not correct", "", "| case | category | attempt | verdict | why |"]
        lines.append("| --- | --- | --- | --- | --- |")
        for x in failing:
            lines.append(_md_row([x.case_id, x.category, str(x.attempt), x.verdict, _why(x)]))
    if o.errors:
        lines += ["", "## Error types", ""]
        lines += [f"- `{kind}`: {count}" for kind, count in o.errors.items()]
    return "\n".join(lines) + "\n"


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def _why(outcome: CaseOutcome) -> str:
    return "; ".join(f"{s.scorer}: {s.reason}" for s in outcome.scores if s.verdict != "correct")


# -- JUnit XML ---------------------------------------------------------------------------------


def render_junit(report: EvalReport) -> str:
    """The report as JUnit XML: a ``<testsuite>`` for the dataset, a ``<testcase>`` per case
    attempt; incorrect is a ``<failure type="incorrect">``, partial a ``<failure
    type="partial">``, both with the scorers' reasons."""
    o = report.overall
    failures = o.partial + o.incorrect
    seconds = f"{sum(x.latency_ms for x in report.outcomes) / 1000:.3f}"
    counts = {"tests": str(o.attempts), "failures": str(failures), "errors": "0"}
    root = ET.Element("testsuites", {"name": report.dataset, **counts, "time": seconds})
    suite_attrs = {"name": report.dataset, **counts, "skipped": "0", "time": seconds}
    if report.finished_at:
        suite_attrs["timestamp"] = report.finished_at.strftime("%Y-%m-%dT%H:%M:%S")
    suite = ET.SubElement(root, "testsuite", suite_attrs)
    properties = ET.SubElement(suite, "properties")
    for name, value in (("agent", report.agent), ("model", report.model or "")):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    for x in report.outcomes:
        name = f"{x.case_id} [attempt {x.attempt}]" if report.k > 1 else x.case_id
        case = ET.SubElement(
            suite,
            "testcase",
            {"name": name, "classname": x.category, "time": f"{x.latency_ms / 1000:.3f}"},
        )
        if x.verdict != "correct":
            why = _why(x) or x.verdict
            failure = ET.SubElement(
                case, "failure", {"message": f"{x.verdict} ({x.score:.2f}): {why}"[:1000]}
            )
            failure.set("type", x.verdict)
            failure.text = why
        if x.output:
            ET.SubElement(case, "system-out").text = x.output
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# -- PNG ---------------------------------------------------------------------------------------


def write_chart(report: EvalReport, path: Path) -> Path | None:
    """Accuracy per category, and the latency and cost per case distributions, as a PNG;
    ``None`` (logged) when matplotlib is not installed (``pip install 'duragent[plot]'``)."""
    try:
        # Imported here: matplotlib is an optional extra, and slow to import. The object API
        # (Figure + Agg canvas) leaves pyplot's global state and backend alone.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        log.warning(
            "eval.chart_skipped",
            reason="matplotlib is not installed; pip install 'duragent[plot]' for report.png",
        )
        return None
    figure = Figure(figsize=(12, 4), layout="constrained")
    FigureCanvasAgg(figure)
    bars, latency, cost = figure.subplots(1, 3)
    names = list(report.categories)
    stats: list[GroupStats] = [report.categories[n] for n in names]
    bars.barh(names, [s.accuracy * 100 for s in stats], color="#3b7dd8")
    bars.set_xlim(0, 100)
    bars.set_xlabel("accuracy %")
    bars.set_title(f"{report.dataset}: {report.overall.accuracy:.0%} correct")
    bars.invert_yaxis()
    latencies = [x.latency_ms for x in report.outcomes]
    costs = [x.cost_usd for x in report.outcomes]
    latency.hist(latencies or [0.0], bins=20, color="#6a9f3a")
    latency.set_xlabel("latency per case (ms)")
    latency.set_title(
        f"P50 {report.overall.latency_p50_ms:.0f} ms, P99 {report.overall.latency_p99_ms:.0f} ms"
    )
    cost.hist(costs or [0.0], bins=20, color="#d8833b")
    cost.set_xlabel("cost per case (USD)")
    cost.set_title(f"total ${report.overall.cost_usd:.4f}")
    figure.savefig(path, dpi=100)
    return path
