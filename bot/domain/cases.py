"""The case library's rules: what of a reflection is published, under which pseudonym, and
how a long case is cut into messages. Pure functions, no I/O."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from enum import StrEnum
from typing import Any

TITLE_LIMIT = 60  # characters, as Telegram counts them
PAGE_SIZE = 5  # reflections a page, when an organiser looks for a case
CASES_PAGE_SIZE = 10  # cases a page, in an area of the library

# Letters that read unambiguously on a phone (no I, O).
_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


class CaseStatus(StrEnum):
    PROPOSED = "proposed"  # waiting for the trainee's answer
    PUBLISHED = "published"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"  # by its author, or erased with their data


def pseudonym_candidates(key: str, user_id: int) -> Iterator[str]:
    """Codes like "A7", "K42" for one person, in the order they are tried: an HMAC of the
    user id under the cohort's secret key, so neither the Telegram id nor the user id can
    be read back from it, and the same person gets the same code in the same cohort."""
    n = 0
    while True:
        digest = hmac.new(key.encode(), f"case:{user_id}:{n}".encode(), hashlib.sha256).digest()
        value = int.from_bytes(digest[:8], "big")
        yield f"{_LETTERS[value % len(_LETTERS)]}{(value // len(_LETTERS)) % 99 + 1}"
        n += 1


def choose_pseudonym(key: str, user_id: int, own: str | None, taken: set[str]) -> str:
    """The person's pseudonym in a cohort: the one they have (`own`) if they have one, else
    the first of their candidates no one else in the cohort uses (`taken`)."""
    if own is not None:
        return own
    for code in pseudonym_candidates(key, user_id):
        if code not in taken:
            return code
    raise AssertionError("unreachable: the candidates never end")  # pragma: no cover


def text_answers(answers: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(question id, text) of the typed answers, in the order they were given. Voice and
    photo answers are never published (a caption included: it goes with its media)."""
    out = []
    for question, answer in answers.items():
        if not isinstance(answer, Mapping) or answer.get("kind") != "text":
            continue
        text = (answer.get("text") or "").strip()
        if text:
            out.append((question, text))
    return out


def media_answers(answers: Mapping[str, Any]) -> list[tuple[str, str, str | None, str | None]]:
    """(question id, kind, caption, file id) of the voice and photo answers."""
    out = []
    for question, answer in answers.items():
        if isinstance(answer, Mapping) and answer.get("kind") in ("voice", "photo"):
            out.append((question, str(answer["kind"]), answer.get("text"), answer.get("file_id")))
    return out


def compose_body(answers: Mapping[str, Any], headings: Mapping[str, str | None]) -> str | None:
    """The text that would be published: each typed answer under its question's heading
    (when content has one), blank lines between. None when nothing typed is there."""
    parts = []
    for question, text in text_answers(answers):
        heading = headings.get(question)
        parts.append(f"【{heading}】\n{text}" if heading else text)
    return "\n\n".join(parts) or None


def paragraphs(body: str) -> list[str]:
    """The body's paragraphs (split at blank lines), for sending between them."""
    return [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]


def fit(part: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """`part` as pieces that each measure at most `limit` (`measure`: how long a piece is
    once sent, e.g. HTML-escaped): whole if it fits, else cut at line ends, then at
    sentence ends, then between characters. Nothing is dropped."""
    if measure(part) <= limit:
        return [part]
    for pattern in (r"(?<=\n)", r"(?<=[。！？!?；;])"):
        pieces = [p for p in re.split(pattern, part) if p]
        if len(pieces) > 1 and all(measure(p) <= limit for p in pieces):
            return _pack(pieces, limit, measure)
    return _pack(list(part), limit, measure)


def _pack(pieces: Sequence[str], limit: int, measure: Callable[[str], int]) -> list[str]:
    out: list[str] = []
    current = ""
    for piece in pieces:
        if not current or measure(current + piece) <= limit:
            current += piece
        else:
            out.append(current)
            current = piece
    if current:
        out.append(current)
    return out


def page_count(total: int, size: int) -> int:
    return max(1, -(-total // size))
