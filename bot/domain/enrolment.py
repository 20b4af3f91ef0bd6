"""The enrolment questionnaire: which answer comes next, and what counts as a valid one."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from bot.domain.model import MentorProfileDTO, Role, UnitType, UserDTO

NAME_MAX = 32
UNIT_NAME_MAX = 60
POSITION_MAX = 40
DISTRICT_MAX = 40  # 区县 / 街道 (users.district is String(40))
MENTOR_CAPACITY_MIN = 1
MENTOR_CAPACITY_MAX = 30
MENTOR_AREAS_MAX = 5
MENTOR_STRENGTHS_MAX = 3  # fewer than all: a strength should mean "coaches this well"
BIO_MAX = 200
BIO_SKIPPED = ""  # mentor_profiles.bio when the mentor chose not to write one (None: not asked)


class EnrolStep(StrEnum):
    NAME = "name"
    UNIT_TYPE = "unit_type"
    UNIT_NAME = "unit_name"
    DISTRICT = "district"
    POSITION = "position"
    MENTOR_AREAS = "mentor_areas"
    MENTOR_CAPACITY = "mentor_capacity"
    MENTOR_STRENGTHS = "mentor_strengths"
    MENTOR_BIO = "mentor_bio"  # optional: skipping answers it
    DONE = "done"


class InputProblem(StrEnum):
    EMPTY = "empty"
    TOO_LONG = "too_long"
    NOT_TEXT = "not_text"  # control characters, only symbols, a link...
    NOT_A_NUMBER = "not_a_number"
    OUT_OF_RANGE = "out_of_range"
    UNKNOWN_CHOICE = "unknown_choice"


@dataclass(frozen=True, slots=True)
class Checked:
    """A validated answer, or the reason it was refused."""

    value: str | int | None = None
    problem: InputProblem | None = None
    limit: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def next_step(role: Role, user: UserDTO, mentor: MentorProfileDTO | None) -> EnrolStep:
    """The first question this person has not answered yet."""
    if not user.full_name:
        return EnrolStep.NAME
    if user.unit_type is None:
        return EnrolStep.UNIT_TYPE
    if not user.unit_name:
        return EnrolStep.UNIT_NAME
    if not user.district:
        return EnrolStep.DISTRICT
    if not user.position:
        return EnrolStep.POSITION
    if role is Role.MENTOR:
        if mentor is None or not mentor.areas:
            return EnrolStep.MENTOR_AREAS
        if mentor.capacity is None:
            return EnrolStep.MENTOR_CAPACITY
        if not mentor.strengths:
            return EnrolStep.MENTOR_STRENGTHS
        if mentor.bio is None:
            return EnrolStep.MENTOR_BIO
    return EnrolStep.DONE


def _clean(text: str, form: Literal["NFC", "NFKC"] = "NFKC") -> str:
    text = unicodedata.normalize(form, text)
    # Zero-width and bidi controls are invisible and only cause trouble in a name.
    text = "".join(ch for ch in text if unicodedata.category(ch) not in {"Cf", "Cc"})
    return re.sub(r"\s+", " ", text).strip()


def _has_letters(text: str) -> bool:
    return any(unicodedata.category(ch).startswith("L") for ch in text)


def check_free_text(
    raw: str | None, max_len: int, form: Literal["NFC", "NFKC"] = "NFKC"
) -> Checked:
    if raw is None:
        return Checked(problem=InputProblem.NOT_TEXT)
    text = _clean(raw, form)
    if not text:
        return Checked(problem=InputProblem.EMPTY)
    if len(text) > max_len:
        return Checked(problem=InputProblem.TOO_LONG, limit=max_len)
    if not _has_letters(text) or text.startswith("/") or "://" in text:
        return Checked(problem=InputProblem.NOT_TEXT)
    return Checked(value=text)


def check_name(raw: str | None) -> Checked:
    return check_free_text(raw, NAME_MAX)


def check_unit_name(raw: str | None) -> Checked:
    return check_free_text(raw, UNIT_NAME_MAX)


def check_position(raw: str | None) -> Checked:
    return check_free_text(raw, POSITION_MAX)


def check_district(raw: str | None) -> Checked:
    return check_free_text(raw, DISTRICT_MAX)


def check_bio(raw: str | None) -> Checked:
    """A few sentences about the mentor; links are refused like everywhere else. Line
    breaks become spaces (a name would drop them; sentences must not run together), and
    full-width punctuation stays as typed (NFC, not NFKC: "，" must not become ",")."""
    text = re.sub(r"\s+", " ", raw) if raw is not None else None
    return check_free_text(text, BIO_MAX, form="NFC")


def check_unit_type(raw: str) -> Checked:
    try:
        return Checked(value=UnitType(raw).value)
    except ValueError:
        return Checked(problem=InputProblem.UNKNOWN_CHOICE)


def check_capacity(raw: str | None) -> Checked:
    if raw is None:
        return Checked(problem=InputProblem.NOT_A_NUMBER)
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text.isdigit():
        return Checked(problem=InputProblem.NOT_A_NUMBER)
    number = int(text)
    if not MENTOR_CAPACITY_MIN <= number <= MENTOR_CAPACITY_MAX:
        return Checked(problem=InputProblem.OUT_OF_RANGE, limit=MENTOR_CAPACITY_MAX)
    return Checked(value=number)


def toggle_area(selected: tuple[str, ...], area: str, known: tuple[str, ...]) -> tuple[str, ...]:
    """Add or remove one expertise area, keeping the content's order and the maximum."""
    return _toggle(selected, area, known, MENTOR_AREAS_MAX)


def toggle_strength(
    selected: tuple[str, ...], strength: str, known: tuple[str, ...], *, keep_one: bool = False
) -> tuple[str, ...]:
    """Add or remove one strength, keeping the content's order and the maximum.

    With `keep_one` (editing a finished profile) the last strength is not removed: a mentor
    always has at least one."""
    if keep_one and tuple(selected) == (strength,):
        return tuple(selected)
    return _toggle(selected, strength, known, MENTOR_STRENGTHS_MAX)


def _toggle(
    selected: tuple[str, ...], item: str, known: tuple[str, ...], most: int
) -> tuple[str, ...]:
    if item not in known:
        return tuple(selected)
    chosen = set(selected) & set(known)
    if item in chosen:
        chosen.remove(item)
    elif len(chosen) < most:
        chosen.add(item)
    return tuple(a for a in known if a in chosen)
