"""Text for Markdown, shown as typed: one set of rules for the web chat and the briefings.

Backslash-escaped: the characters that change how Markdown renders (emphasis, links, code, raw
HTML, tables, strikethrough), an `&` that would start an entity, and a block marker (`#`, `>`,
`-`, `1.`) at the start of a line. An `_` inside a word (Q4_K_M) cannot start emphasis in
CommonMark and is left alone, so a pasted briefing stays readable as plain text.

>>> md_escape("1. *Q4_K_M* <b>")
'1\\\\. \\\\*Q4_K_M\\\\* \\\\<b\\\\>'
>>> md_answer("Ten were killed [1]. See [2](javascript:x).")
'Ten were killed [1]. See \\\\[2\\\\](javascript:x).'
"""

from __future__ import annotations

import re

MD_SPECIAL = re.compile(r"[\\`*\[\]<>|~]|&(?=#?\w+;)|(?<![^\W_])_|_(?![^\W_])")
MD_BLOCK_START = re.compile(r"^(\s*)(?:(\d+)([.)])(?=\s|$)|([#>+=-]))")
MD_MARKER = re.compile(r"\\\[(\d{1,3})\\\](?!\()")  # an escaped `[n]` that is not a link


def md_escape(text: str, line_start: bool = True) -> str:
    """`line_start`: the text begins a line, where `#`, `>`, `-` or `1.` would start a block."""
    escaped = MD_SPECIAL.sub(lambda m: "\\" + m.group(), text)
    if not line_start:
        return escaped
    return MD_BLOCK_START.sub(lambda m: m[1] + (f"{m[2]}\\{m[3]}" if m[2] else f"\\{m[4]}"), escaped, count=1)


def md_answer(text: str, line_start: bool = True) -> str:
    """An answer: escaped, with its `[n]` markers left readable (never as a link's text)."""
    return MD_MARKER.sub(r"[\1]", md_escape(text, line_start))
