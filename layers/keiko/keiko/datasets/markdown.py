"""The validation report as Markdown, for a person reading it in the S3 console or a terminal."""

from __future__ import annotations

from keiko.datasets.report import Example, Report


def render_markdown(report: Report) -> str:
    verdict = "valid" if report.valid else "invalid"
    lines = [
        f"# Dataset validation: {report.source}",
        "",
        f"**{verdict.upper()}**: {report.valid_records} of {report.records} records are valid "
        f"(method `{report.method}`, file format `{report.file_format}`, "
        f"record format `{report.format or 'unknown'}`).",
        "",
    ]
    if report.errors_by_kind:
        lines += ["## Errors", "", "| kind | count |", "|---|---|"]
        lines += [f"| {kind} | {count} |" for kind, count in report.errors_by_kind.items()]
        lines += ["", "First examples:", "", *_examples(report.errors), ""]
    if report.warnings_by_kind:
        lines += ["## Warnings", "", "| kind | count |", "|---|---|"]
        lines += [f"| {kind} | {count} |" for kind, count in report.warnings_by_kind.items()]
        lines += ["", *_examples(report.warnings), ""]
    stats = report.stats
    lines += [
        "## Statistics",
        "",
        "| statistic | value |",
        "|---|---|",
        f"| records | {stats.records} |",
        f"| blank lines | {stats.blank_lines} |",
        f"| characters | {stats.characters} |",
        f"| estimated tokens | {stats.estimated_tokens} ({stats.token_estimate}, "
        f"{stats.tokens_per_character} per character) |",
        f"| duplicates dropped | {stats.duplicates} |",
        f"| bytes read | {stats.bytes_read} |",
    ]
    for name, tokens in stats.length_percentiles.items():
        lines.append(f"| tokens per record, {name} (approximate) | {tokens} |")
    if report.valid:
        lines += [
            f"| train records | {report.train_records} |",
            f"| evaluation records | {report.eval_records} |",
        ]
        lines += [f"| content hash | `{report.content_hash}` |"]
    return "\n".join(lines) + "\n"


def _examples(examples: list[Example]) -> list[str]:
    rows = ["| line | field | kind | message |", "|---|---|---|---|"]
    for example in examples:
        line = "" if example.line is None else str(example.line)
        message = example.message.replace("|", "\\|").replace("\n", " ")
        rows.append(f"| {line} | {example.field or ''} | {example.kind} | {message} |")
    return rows
