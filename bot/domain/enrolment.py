"""The enrolment questionnaire: which answer comes next, and what counts as a valid one."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from bot.domain.model import MentorProfileDTO, Role, UnitType, UserDTO

NAME_MAX = 32
UNIT_NAME_MAX = 60
POSITION_MAX = 40
MENTOR_CAPACITY_MIN = 1
MENTOR_CAPACITY_MAX = 30
MENTOR_AREAS_MAX = 5


class EnrolStep(StrEnum):
    NAME = "name"
    UNIT_TYPE = "unit_type"
    UNIT_NAME = "unit_name"
    POSITION = "position"
    MENTOR_AREAS = "mentor_areas"
    MENTOR_CAPACITY = "mentor_capacity"
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
    if not user.position:
        return EnrolStep.POSITION
    if role is Role.MENTOR:
        if mentor is None or not mentor.areas:
            return EnrolStep.MENTOR_AREAS
        if mentor.capacity is None:
            return EnrolStep.MENTOR_CAPACITY
    return EnrolStep.DONE


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    # Zero-width and bidi controls are invisible and only cause trouble in a name.
    text = "".join(ch for ch in text if unicodedata.category(ch) not in {"Cf", "Cc"})
    return re.sub(r"\s+", " ", text).strip()


def _has_letters(text: str) -> bool:
    return any(unicodedata.category(ch).startswith("L") for ch in text)


def check_free_text(raw: str | None, max_len: int) -> Checked:
    if raw is None:
        return Checked(problem=InputProblem.NOT_TEXT)
    text = _clean(raw)
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
    if area not in known:
        return selected
    chosen = set(selected)
    if area in chosen:
        chosen.remove(area)
    elif len(chosen) < MENTOR_AREAS_MAX:
        chosen.add(area)
    return tuple(a for a in known if a in chosen)
