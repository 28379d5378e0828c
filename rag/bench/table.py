"""The tables the speed benchmarks return: a header and rows of already formatted cells.

`rag bench embed|latency|llm|memory|load` each return a `Table` and notes, which the CLI prints
as Markdown; `fmt` writes one figure the same way in all of them, a dash where there is none.
"""

from __future__ import annotations

Table = tuple[list[str], list[list[str]]]


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"
