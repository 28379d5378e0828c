"""Text normalisation shared by the answer, evidence and citation metrics.

Strict answer matching compares words after `answer_tokens` (case, accents, quotes, number words
and thousands separators normalised); verbatim look-ups of evidence and quotes compare text
after `normalise_passage`.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence

from rag.answering.attribution import MARKER

UNITS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
]  # fmt: skip
TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
NUMBER_WORDS = {word: value for value, word in enumerate(UNITS)} | {
    word: 20 + 10 * index for index, word in enumerate(TENS)
}
ORDINALS = {
    "first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th", "fifth": "5th", "sixth": "6th",
    "seventh": "7th", "eighth": "8th", "ninth": "9th", "tenth": "10th", "eleventh": "11th",
    "twelfth": "12th",
}  # fmt: skip
ARTICLES = frozenset({"a", "an", "the"})
TAG = re.compile(r"<[^>]*>")
THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
ACRONYM = re.compile(r"\b(?:[^\W\d_]\.){2,}")
TOKEN = re.compile(r"\d+(?:\.\d+)*[^\W\d_]*|[^\W\d_]+")


def plain_text(text: str) -> str:
    """HTML tags dropped and entities decoded (RealTime QA's evidence carries links)."""
    return html.unescape(TAG.sub("", text))


def answer_tokens(text: str) -> list[str]:
    """Words for strict matching: case, accents, quotes, punctuation, thousands separators and
    number words normalised ("Ten" -> "10", "twenty-five" -> "25", "1,200" -> "1200", "&" ->
    "and", "%" -> "percent"); the articles a/an/the and `[n]` markers dropped."""
    text = MARKER.sub(" ", plain_text(text))
    text = unicodedata.normalize("NFKD", text)
    text = "".join(char for char in text if not unicodedata.combining(char)).casefold()
    text = THOUSANDS.sub("", text)
    text = ACRONYM.sub(lambda match: match.group().replace(".", ""), text)  # U.S. -> us
    text = text.replace("%", " percent ").replace("&", " and ")
    tokens: list[str] = []
    for word in TOKEN.findall(text):
        if word in ARTICLES:
            continue
        if word in ORDINALS:
            tokens.append(ORDINALS[word])
        elif word in NUMBER_WORDS:
            value = NUMBER_WORDS[word]
            # "twenty five" / "twenty-five" -> 25
            if tokens and 1 <= value <= 9 and tokens[-1].isdigit() and _is_round_tens(tokens[-1]):
                tokens[-1] = str(int(tokens[-1]) + value)
            else:
                tokens.append(str(value))
        else:
            tokens.append(word)
    return tokens


def _is_round_tens(token: str) -> bool:
    return token in {str(20 + 10 * index) for index in range(len(TENS))}


def contains_words(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    """Whether `needle` occurs in `haystack` as whole, consecutive words."""
    if not needle:
        return False
    size = len(needle)
    first = needle[0]
    return any(
        haystack[start] == first and list(haystack[start : start + size]) == list(needle)
        for start in range(len(haystack) - size + 1)
    )


def normalise_passage(text: str) -> str:
    """For verbatim look-ups: tags, quotes, case and whitespace normalised."""
    text = plain_text(text)
    text = re.sub(r"[“”„\"‘’‚'`´]", "", text)
    text = re.sub(r"[–—‐-]", "-", text)
    return " ".join(text.casefold().split())
