"""Course notices: what a valid one is, and when an organiser means to send it."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024


class Audience(StrEnum):
    ALL = "all"
    TRAINEES = "trainees"
    MENTORS = "mentors"

    @property
    def roles(self) -> tuple[str, ...]:
        if self is Audience.TRAINEES:
            return ("trainee",)
        if self is Audience.MENTORS:
            return ("mentor",)
        return ("trainee", "mentor")


class NoticeProblem(StrEnum):
    EMPTY = "empty"
    TOO_LONG = "too_long"
    CAPTION_TOO_LONG = "caption_too_long"


@dataclass(frozen=True, slots=True)
class NoticeCheck:
    problem: NoticeProblem | None
    length: int = 0
    limit: int = 0


def telegram_length(text: str) -> int:
    """Telegram counts message length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def check_notice(text: str | None, *, has_media: bool) -> NoticeCheck:
    """A notice is text (≤ 4096) or a photo/document with an optional caption (≤ 1024)."""
    body = (text or "").strip()
    if not body and not has_media:
        return NoticeCheck(NoticeProblem.EMPTY)
    limit = CAPTION_LIMIT if has_media else TEXT_LIMIT
    length = telegram_length(body)
    if length > limit:
        problem = NoticeProblem.CAPTION_TOO_LONG if has_media else NoticeProblem.TOO_LONG
        return NoticeCheck(problem, length, limit)
    return NoticeCheck(None, length, limit)


def excerpt(text: str | None, limit: int = 40) -> str:
    flat = re.sub(r"\s+", " ", text or "").strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


_DAY_WORDS = {"今天": 0, "today": 0, "明天": 1, "tomorrow": 1, "后天": 2}
_TIME = r"(\d{1,2})(?:[:：.](\d{2})|点(?:(\d{1,2})分?|半)?)"


def parse_send_time(raw: str, now_local: datetime) -> datetime | None:
    """The moment an organiser means by '2026-11-25 09:00', '11-25 9:00', '明天 9点', '14:30'.

    Returns an aware datetime in `now_local`'s zone, or None when it can't be read.
    Whether it lies in the future is for the caller to say.
    """
    text = unicodedata.normalize("NFKC", raw).strip().lower()
    zone = now_local.tzinfo
    day: date | None = None
    for word, offset in _DAY_WORDS.items():
        if text.startswith(word):
            day = now_local.date() + timedelta(days=offset)
            text = text[len(word) :].strip()
            break
    if day is None:
        m = re.match(r"^(?:(\d{4})[-/年.])?(\d{1,2})[-/月.](\d{1,2})日?\s*", text)
        if m:
            year = int(m.group(1)) if m.group(1) else now_local.year
            try:
                day = date(year, int(m.group(2)), int(m.group(3)))
            except ValueError:
                return None
            text = text[m.end() :]
    m = re.fullmatch(_TIME, text.replace("上午", "").strip())
    afternoon = False
    if m is None and text.startswith(("下午", "晚上")):
        afternoon = True
        m = re.fullmatch(_TIME, text[2:].strip())
    if m is None:
        return None
    hour = int(m.group(1))
    minute = int(m.group(2) or m.group(3) or 0)
    if text.endswith("半"):
        minute = 30
    if afternoon and hour < 12:
        hour += 12
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    if day is None:
        day = now_local.date()
        if time(hour, minute) <= now_local.time().replace(tzinfo=None):
            day += timedelta(days=1)
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


def progress_bar(done: int, total: int, width: int = 10) -> tuple[str, int]:
    """('▓▓▓░░░░░░░', 30) for 3 of 10."""
    percent = 100 if total == 0 else int(done * 100 / total)
    filled = min(width, round(width * percent / 100))
    return "▓" * filled + "░" * (width - filled), percent
