"""Rendering of evaluation runs: report.md, a self-contained report.html, and `compare` text.

The HTML page has no external assets: charts are inline SVG, styles inline CSS, and every
piece of text from questions, answers or articles is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any, Literal

from rag.evaluation.compare import Comparison
from rag.evaluation.results import ResultRecord

FAILED_SHOWN = 200  # the HTML page lists at most this many failed questions


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def metric_rows(metrics: Mapping[str, Any]) -> list[tuple[str, str, float | None]]:
    """(group, name, value in [0, 1]) for the bar chart and tables, in reading order."""
    rows: list[tuple[str, str, float | None]] = []
    retrieval = metrics.get("retrieval", {})
    for name in ("hit@1", "hit@3", "hit@5", "hit@10", "mrr@10", "evidence_recall", "evidence_coverage"):
        rows.append(("retrieval", name, retrieval.get(name)))
    if "answer" in metrics:
        accuracy = metrics["answer"].get("accuracy", {})
        rows.append(("answer", "accuracy (strict)", accuracy.get("strict")))
        rows.append(("answer", "accuracy (judged)", accuracy.get("judged")))
        rows.append(("answer", "wrong but cited", metrics["answer"].get("wrong_but_cited")))
        rows.append(("answer", "right drafts dropped", metrics["answer"].get("right_drafts_dropped")))
        rows.append(("answer", "supported", metrics["answer"].get("supported")))
        refusal = metrics.get("refusal", {})
        rows.append(("refusal", "unanswerable refused", refusal.get("unanswerable_refused")))
        rows.append(("refusal", "answerable answered", refusal.get("answerable_answered")))
        citations = metrics.get("citations", {})
        rows.append(("citations", "valid", citations.get("valid")))
        rows.append(("citations", "precision", citations.get("precision")))
    return rows


def failure_reasons(record: ResultRecord) -> list[str]:
    """Why a question counts as failed; empty when it did not."""
    metrics = record.get("metrics", {})
    reasons = []
    if record.get("error"):
        reasons.append("error")
    if metrics.get("hit@10") == 0.0:
        reasons.append("gold article not retrieved (top 10)")
    if metrics.get("right_draft_dropped") == 1.0:
        reasons.append("right draft dropped")
    if metrics.get("strict") == 0.0 and metrics.get("judged") != 1.0:
        reasons.append("wrong answer" if not record.get("refused") else "refused an answerable question")
    elif record.get("gold", {}).get("unanswerable") and metrics.get("refusal_correct") == 0.0:
        reasons.append("answered an unanswerable question")
    if metrics.get("citations_valid") == 0.0:
        reasons.append("invalid citation")
    return reasons


def judge_verdict(record: ResultRecord) -> str:
    """The LLM judge's verdict on an answer, for a reader to check: yes, no, or not asked."""
    judged = record.get("metrics", {}).get("judged")
    return "–" if judged is None else ("yes" if judged == 1.0 else "no")


def header_lines(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    corpus = report.get("corpus", {})
    model = report.get("model", {})
    settings = report.get("settings", {})
    wall = report.get("wall_seconds")
    return [
        ("date", str(report.get("date", ""))),
        ("questions", f"{report.get('count')} from {report.get('questions_file', '')}"),
        (
            "corpus",
            f"collection {corpus.get('collection')} ({corpus.get('articles')} articles, "
            f"{corpus.get('chunks')} chunks) in {corpus.get('store')}",
        ),
        ("model", f"{model.get('llm') or model.get('backend')}; embeddings {model.get('embedding')}"),
        (
            "settings",
            ", ".join(f"{key} {value}" for key, value in settings.items() if key != "prompts_sha256"),
        ),
        ("code", " ".join(f"{key} {value}" for key, value in (report.get("code") or {}).items()) or "–"),
        ("wall time", f"{wall / 60:.1f} min ({wall:.0f} s)" if isinstance(wall, int | float) else "–"),
        ("errors", str(report.get("metrics", {}).get("errors", 0))),
    ]


# ---------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------


def md_cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render_markdown(report: Mapping[str, Any], records: Sequence[ResultRecord]) -> str:
    metrics = report.get("metrics", {})
    lines = ["# Evaluation report", ""]
    lines += [f"- **{name}**: {md_cell(value)}" for name, value in header_lines(report)]
    lines += ["", "## Metrics", "", "| group | metric | value |", "| --- | --- | --- |"]
    lines += [f"| {group} | {name} | {fmt(value)} |" for group, name, value in metric_rows(metrics)]
    latency = metrics.get("latency_ms", {})
    if latency:
        lines += ["", "## Latency (ms)", "", "| stage | p50 | p95 |", "| --- | --- | --- |"]
        lines += [
            f"| {name} | {fmt(values.get('p50'), 0)} | {fmt(values.get('p95'), 0)} |"
            for name, values in latency.items()
        ]
    problems = report.get("problems") or []
    if problems:
        lines += ["", "## Skipped input lines", ""] + [f"- {md_cell(problem)}" for problem in problems]
    confident = [record for record in records if record.get("metrics", {}).get("wrong_but_cited") == 1.0]
    lines += ["", f"## Wrong but cited ({len(confident)}): strict matching says wrong; read them", ""]
    if confident:
        lines += ["| id | question | gold | answer | judge |", "| --- | --- | --- | --- | --- |"]
    for record in confident:
        gold_text = " / ".join(record.get("gold", {}).get("answers", []))
        lines.append(
            f"| {md_cell(record['id'])} | {md_cell(record['question'])} | {md_cell(gold_text)} | "
            f"{md_cell(str(record.get('answer', ''))[:300])} | {judge_verdict(record)} |"
        )
    failed = [record for record in records if failure_reasons(record)]
    lines += ["", f"## Failed questions ({len(failed)} of {len(records)})", ""]
    if failed:
        lines += [
            "| id | question | gold | answer | draft | judge | why | top retrieved |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
    for record in failed:
        gold = record.get("gold", {})
        gold_text = " / ".join(gold.get("answers", [])) or "(unanswerable)"
        top = ", ".join(
            ("**" if item["doc_id"] in gold.get("doc_ids", []) else "")
            + item["doc_id"]
            + ("**" if item["doc_id"] in gold.get("doc_ids", []) else "")
            for item in record.get("retrieved", [])[:3]
        )
        answer = record.get("error") or record.get("answer", "")
        lines.append(
            f"| {md_cell(record['id'])} | {md_cell(record['question'])} | {md_cell(gold_text)} | "
            f"{md_cell(str(answer)[:300])} | {md_cell(str(record.get('draft', ''))[:300])} | "
            f"{judge_verdict(record)} | {md_cell('; '.join(failure_reasons(record)))} | {md_cell(top)} |"
        )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:72rem;
color:#1d2329;padding:0 1rem;line-height:1.4}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d8dee4}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border:1px solid #d8dee4;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f5f7}dl{display:grid;grid-template-columns:8rem 1fr;gap:.2rem 1rem}dt{font-weight:600}
dd{margin:0}.gold{color:#1a7f37;font-weight:600}.why{color:#b42318}.muted{color:#656d76}
svg text{font-size:12px;fill:#1d2329}
"""


def bar_chart(rows: Sequence[tuple[str, str, float | None]]) -> str:
    label_w, bar_w, row_h = 210, 420, 22
    height = row_h * len(rows) + 10
    parts = [
        f'<svg role="img" aria-label="metrics" width="{label_w + bar_w + 70}" height="{height}" '
        f'viewBox="0 0 {label_w + bar_w + 70} {height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    colours = {"retrieval": "#2f6feb", "answer": "#8250df", "refusal": "#bf8700", "citations": "#1a7f37"}
    for index, (group, name, value) in enumerate(rows):
        y = 5 + index * row_h
        parts.append(f'<text x="0" y="{y + 15}">{escape(group)} · {escape(name)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{bar_w}" height="{row_h - 6}" fill="#eef1f4"/>')
        if value is not None:
            width = max(0.0, min(1.0, float(value))) * bar_w
            parts.append(
                f'<rect x="{label_w}" y="{y + 3}" width="{width:.1f}" height="{row_h - 6}" '
                f'fill="{colours.get(group, "#57606a")}"/>'
            )
        parts.append(f'<text x="{label_w + bar_w + 8}" y="{y + 15}">{escape(fmt(value))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(values: Sequence[float], title: str, marks: Mapping[str, float | None]) -> str:
    """Distribution of one latency (seconds on the axis), with p50/p95 lines. The axis ends at
    twice the p95, so one slow outlier (a cold start) does not squash the rest: slower
    questions go in the last bar."""
    if not values:
        return '<p class="muted">no timings</p>'
    width, height, pad = 640, 180, 30
    p95 = marks.get("p95")
    top = min(max(values), 2 * p95) if p95 else max(values)
    top = top or 1.0
    clipped = max(values) > top
    bins = max(5, min(30, int(math.sqrt(len(values))) * 2))
    counts = [0] * bins
    for value in values:
        counts[min(bins - 1, int(value / top * bins))] += 1
    tallest = max(counts) or 1
    step = (width - 2 * pad) / bins
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for index, count in enumerate(counts):
        bar_h = (height - 2 * pad) * count / tallest
        x = pad + index * step
        parts.append(
            f'<rect x="{x:.1f}" y="{height - pad - bar_h:.1f}" width="{step - 2:.1f}" '
            f'height="{bar_h:.1f}" fill="#8c959f"><title>{count} question(s)</title></rect>'
        )
    for row, (name, mark) in enumerate(marks.items()):
        if mark is None:
            continue
        x = pad + (width - 2 * pad) * min(1.0, mark / top)
        label_y = 12 + 13 * (row % 2)  # p50 and p95 labels on two lines: they may be close
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{label_y + 2}" y2="{height - pad}" stroke="#cf222e" '
            'stroke-dasharray="4 3"/>'
        )
        anchor, shift = ("end", -3) if x > width / 2 else ("start", 3)
        parts.append(
            f'<text x="{x + shift:.1f}" y="{label_y}" text-anchor="{anchor}">'
            f"{escape(name)} {mark / 1000:.2f} s</text>"
        )
    parts.append(
        f'<line x1="{pad}" x2="{width - pad}" y1="{height - pad}" y2="{height - pad}" stroke="#57606a"/>'
    )
    parts.append(f'<text x="{pad}" y="{height - 8}">0 s</text>')
    parts.append(
        f'<text x="{width - pad}" y="{height - 8}" text-anchor="end">'
        f"{'≥ ' if clipped else ''}{top / 1000:.2f} s</text>"
    )
    parts.append(f'<text x="{width / 2 - 60:.0f}" y="{height - 8}">{escape(title)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: Mapping[str, Any], records: Sequence[ResultRecord]) -> str:
    metrics = report.get("metrics", {})
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Evaluation report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Evaluation report</h1><dl>",
    ]
    out += [f"<dt>{escape(name)}</dt><dd>{escape(value)}</dd>" for name, value in header_lines(report)]
    out.append("</dl><h2>Metrics</h2>")
    out.append(bar_chart(metric_rows(metrics)))
    latency = metrics.get("latency_ms", {})
    if latency:
        out.append("<h2>Latency</h2><table><tr><th>stage</th><th>p50 (ms)</th><th>p95 (ms)</th></tr>")
        out += [
            f"<tr><td>{escape(name)}</td><td>{escape(fmt(values.get('p50'), 0))}</td>"
            f"<td>{escape(fmt(values.get('p95'), 0))}</td></tr>"
            for name, values in latency.items()
        ]
        out.append("</table>")
        stage: Literal["total", "retrieve"] = "total" if "total" in latency else "retrieve"
        values = [
            float(timing)
            for record in records
            if (timing := record.get("latency_ms", {}).get(stage)) is not None and not record.get("error")
        ]
        out.append(histogram(values, f"{stage} latency per question", latency.get(stage, {})))
    problems = report.get("problems") or []
    if problems:
        out.append("<h2>Skipped input lines</h2><ul>")
        out += [f"<li>{escape(str(problem))}</li>" for problem in problems]
        out.append("</ul>")
    failed = [record for record in records if failure_reasons(record)]
    out.append(f"<h2>Failed questions ({len(failed)} of {len(records)})</h2>")
    if failed:
        out.append(
            "<table><tr><th>question</th><th>gold</th><th>answer (and the model's draft)</th>"
            "<th>judge</th><th>why</th>"
            "<th>retrieved (top 5; gold in green)</th></tr>"
        )
        for record in failed[:FAILED_SHOWN]:
            out.append(failed_row(record))
        out.append("</table>")
        if len(failed) > FAILED_SHOWN:
            out.append(f'<p class="muted">… and {len(failed) - FAILED_SHOWN} more in results.jsonl</p>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def failed_row(record: ResultRecord) -> str:
    gold = record.get("gold", {})
    gold_ids = set(gold.get("doc_ids", []))
    answers = " / ".join(gold.get("answers", [])) or "(unanswerable)"
    retrieved = "".join(
        f'<li class="{"gold" if item["doc_id"] in gold_ids else ""}">'
        f"{escape(str(item.get('title') or item['doc_id']))} "
        f'<span class="muted">{escape(str(item["doc_id"]))} · {escape(fmt(item.get("score")))}</span></li>'
        for item in record.get("retrieved", [])[:5]
    )
    answer = record.get("error") or record.get("answer", "")
    return (
        f"<tr><td><b>{escape(str(record['id']))}</b><br>{escape(str(record['question']))}</td>"
        f"<td>{escape(answers)}<br><span class='muted'>{escape(', '.join(sorted(gold_ids)))}</span></td>"
        f"<td>{escape(str(answer))}<br><span class='muted'>draft: {escape(str(record.get('draft', '')))}"
        f"</span></td><td>{judge_verdict(record)}</td>"
        f"<td class='why'>{escape('; '.join(failure_reasons(record)))}</td>"
        f"<td><ol>{retrieved}</ol></td></tr>"
    )


def write_reports(out: Path, report: Mapping[str, Any], records: Sequence[ResultRecord]) -> None:
    for name, text in (
        ("report.md", render_markdown(report, records)),
        ("report.html", render_html(report, records)),
    ):
        partial = out / f"{name}.tmp"
        partial.write_text(text, encoding="utf-8")
        partial.replace(out / name)


# ---------------------------------------------------------------------------------------------
# Console
# ---------------------------------------------------------------------------------------------


def format_summary(report: Mapping[str, Any]) -> str:
    metrics = report.get("metrics", {})
    lines = [f"{group:<10} {name:<22} {fmt(value)}" for group, name, value in metric_rows(metrics)]
    for stage, values in metrics.get("latency_ms", {}).items():
        lines.append(
            f"{'latency':<10} {stage + ' p50/p95 ms':<22} "
            f"{fmt(values.get('p50'), 0)} / {fmt(values.get('p95'), 0)}"
        )
    return "\n".join(lines)


def format_comparison(comparison: Comparison) -> str:
    lines = [f"A: {comparison.a}", f"B: {comparison.b}", ""]
    for key, (before, after) in comparison.settings_changed.items():
        lines.append(f"changed {key}: {before} -> {after}")
    if comparison.settings_changed:
        lines.append("")
    lines.append(f"{'metric':<36} {'A':>9} {'B':>9} {'delta':>9}")
    for name, before, after in comparison.rows:
        delta = after - before if before is not None and after is not None else None
        digits = 1 if name.startswith("latency_ms") else 3
        shown = (
            "–" if delta is None else f"{delta:+.{digits}f}" if isinstance(delta, float) else f"{delta:+d}"
        )
        lines.append(f"{name:<36} {fmt(before, digits):>9} {fmt(after, digits):>9} {shown:>9}")
    lines.append("")
    lines.append(
        f"{comparison.common} questions in both runs"
        + (f"; {comparison.only_a} only in A" if comparison.only_a else "")
        + (f"; {comparison.only_b} only in B" if comparison.only_b else "")
    )
    if not comparison.flips:
        lines.append("No question flipped.")
    for measure in dict.fromkeys(flip.measure for flip in comparison.flips):
        flips = [flip for flip in comparison.flips if flip.measure == measure]
        gained = sum(1 for flip in flips if flip.after > flip.before)
        lines.append(f"\n{measure}: {gained} now right, {len(flips) - gained} now wrong")
        for flip in flips:
            sign = "+" if flip.after > flip.before else "-"
            lines.append(f"  {sign} {flip.id}: {' '.join(flip.question.split())[:100]}")
            if measure != "hit@5":
                lines.append(f"      A: {' '.join(flip.answer_a.split())[:120]}")
                lines.append(f"      B: {' '.join(flip.answer_b.split())[:120]}")
    return "\n".join(lines)
