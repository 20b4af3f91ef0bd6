from datetime import UTC, datetime

import pytest

from bot.domain.enrolment import (
    MENTOR_AREAS_MAX,
    NAME_MAX,
    EnrolStep,
    InputProblem,
    check_capacity,
    check_name,
    check_unit_type,
    next_step,
    toggle_area,
)
from bot.domain.model import MentorProfileDTO, Role, UnitType, UserDTO


def user(**changes: object) -> UserDTO:
    fields: dict[str, object] = {
        "id": 1,
        "telegram_id": 100,
        "locale": "zh-CN",
        "full_name": None,
        "unit_type": None,
        "unit_name": None,
        "position": None,
        "consent_at": datetime(2026, 1, 1, tzinfo=UTC),
        "is_active": True,
    }
    fields.update(changes)
    return UserDTO(**fields)  # type: ignore[arg-type]


def test_questions_come_in_order_and_stop_when_answered() -> None:
    u = user()
    assert next_step(Role.TRAINEE, u, None) is EnrolStep.NAME
    u = user(full_name="张三")
    assert next_step(Role.TRAINEE, u, None) is EnrolStep.UNIT_TYPE
    u = user(full_name="张三", unit_type=UnitType.VILLAGE)
    assert next_step(Role.TRAINEE, u, None) is EnrolStep.UNIT_NAME
    u = user(full_name="张三", unit_type=UnitType.VILLAGE, unit_name="李家村")
    assert next_step(Role.TRAINEE, u, None) is EnrolStep.POSITION
    done = user(full_name="张三", unit_type=UnitType.VILLAGE, unit_name="李家村", position="主任")
    assert next_step(Role.TRAINEE, done, None) is EnrolStep.DONE


def test_mentors_are_also_asked_for_areas_and_capacity() -> None:
    done = user(full_name="王五", unit_type=UnitType.STREET, unit_name="东城街道", position="书记")
    assert next_step(Role.MENTOR, done, None) is EnrolStep.MENTOR_AREAS
    areas_only = MentorProfileDTO(areas=("elevator",), capacity=None)
    assert next_step(Role.MENTOR, done, areas_only) is EnrolStep.MENTOR_CAPACITY
    complete = MentorProfileDTO(areas=("elevator",), capacity=3)
    assert next_step(Role.MENTOR, done, complete) is EnrolStep.DONE


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", InputProblem.EMPTY),
        ("   \n", InputProblem.EMPTY),
        ("\u200b\u200b", InputProblem.EMPTY),  # zero-width only
        ("名" * (NAME_MAX + 1), InputProblem.TOO_LONG),
        ("12345", InputProblem.NOT_TEXT),
        ("/start", InputProblem.NOT_TEXT),
        ("https://example.com", InputProblem.NOT_TEXT),
        (None, InputProblem.NOT_TEXT),
    ],
)
def test_bad_names_are_refused_with_a_reason(raw: str | None, problem: InputProblem) -> None:
    checked = check_name(raw)
    assert not checked.ok
    assert checked.problem is problem


def test_names_are_cleaned_not_mangled() -> None:
    assert check_name("  张\u200b三  ").value == "张三"
    assert check_name("Li  Wei").value == "Li Wei"
    assert check_name("名" * NAME_MAX).value == "名" * NAME_MAX


@pytest.mark.parametrize(
    ("raw", "value", "problem"),
    [
        ("5", 5, None),
        ("５", 5, None),  # full-width digit from a Chinese keyboard
        (" 30 ", 30, None),
        ("0", None, InputProblem.OUT_OF_RANGE),
        ("31", None, InputProblem.OUT_OF_RANGE),
        ("五", None, InputProblem.NOT_A_NUMBER),
        ("-1", None, InputProblem.NOT_A_NUMBER),
    ],
)
def test_capacity(raw: str, value: int | None, problem: InputProblem | None) -> None:
    checked = check_capacity(raw)
    assert checked.value == value
    assert checked.problem is problem


def test_unit_type_only_accepts_known_values() -> None:
    assert check_unit_type("village").value == "village"
    assert check_unit_type("palace").problem is InputProblem.UNKNOWN_CHOICE


def test_toggle_area_keeps_content_order_and_maximum() -> None:
    known = ("a", "b", "c", "d", "e", "f", "g")
    selected: tuple[str, ...] = ()
    for area in ("c", "a"):
        selected = toggle_area(selected, area, known)
    assert selected == ("a", "c")
    assert toggle_area(selected, "a", known) == ("c",)
    assert toggle_area(selected, "zzz", known) == selected
    for area in known:
        selected = toggle_area(selected, area, known)
    assert len(selected) <= MENTOR_AREAS_MAX
