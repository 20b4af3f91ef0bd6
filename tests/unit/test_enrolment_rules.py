from datetime import UTC, datetime

import pytest

from bot.domain.enrolment import (
    BIO_MAX,
    BIO_SKIPPED,
    DISTRICT_MAX,
    MENTOR_AREAS_MAX,
    MENTOR_STRENGTHS_MAX,
    NAME_MAX,
    EnrolStep,
    InputProblem,
    check_bio,
    check_capacity,
    check_district,
    check_name,
    check_unit_type,
    next_step,
    toggle_area,
    toggle_strength,
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
    assert next_step(Role.TRAINEE, u, None) is EnrolStep.DISTRICT
    u = user(full_name="张三", unit_type=UnitType.VILLAGE, unit_name="李家村", district="东城区")
    assert next_step(Role.TRAINEE, u, None) is EnrolStep.POSITION
    done = user(
        full_name="张三",
        unit_type=UnitType.VILLAGE,
        unit_name="李家村",
        district="东城区",
        position="主任",
    )
    assert next_step(Role.TRAINEE, done, None) is EnrolStep.DONE


def test_a_position_without_a_district_still_asks_the_district() -> None:
    # Someone who enrolled before districts were asked, joining a second cohort.
    old = user(full_name="张三", unit_type=UnitType.VILLAGE, unit_name="李家村", position="主任")
    assert next_step(Role.TRAINEE, old, None) is EnrolStep.DISTRICT


def test_mentors_are_also_asked_for_areas_capacity_strengths_and_bio() -> None:
    done = user(
        full_name="王五",
        unit_type=UnitType.STREET,
        unit_name="东城街道",
        district="东城区",
        position="书记",
    )
    assert next_step(Role.MENTOR, done, None) is EnrolStep.MENTOR_AREAS
    areas_only = MentorProfileDTO(areas=("elevator",), capacity=None)
    assert next_step(Role.MENTOR, done, areas_only) is EnrolStep.MENTOR_CAPACITY
    with_capacity = MentorProfileDTO(areas=("elevator",), capacity=3)
    assert next_step(Role.MENTOR, done, with_capacity) is EnrolStep.MENTOR_STRENGTHS
    with_strengths = MentorProfileDTO(areas=("elevator",), capacity=3, strengths=("coaching",))
    assert next_step(Role.MENTOR, done, with_strengths) is EnrolStep.MENTOR_BIO
    skipped = MentorProfileDTO(
        areas=("elevator",), capacity=3, strengths=("coaching",), bio=BIO_SKIPPED
    )
    assert next_step(Role.MENTOR, done, skipped) is EnrolStep.DONE
    written = MentorProfileDTO(areas=("elevator",), capacity=3, strengths=("coaching",), bio="我")
    assert next_step(Role.MENTOR, done, written) is EnrolStep.DONE
    # A trainee is never asked a mentor's questions.
    assert next_step(Role.TRAINEE, done, None) is EnrolStep.DONE


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


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", InputProblem.EMPTY),
        ("  ", InputProblem.EMPTY),
        ("区" * (DISTRICT_MAX + 1), InputProblem.TOO_LONG),
        ("100010", InputProblem.NOT_TEXT),
        ("http://map.example/东城区", InputProblem.NOT_TEXT),
        (None, InputProblem.NOT_TEXT),
    ],
)
def test_bad_districts_are_refused(raw: str | None, problem: InputProblem) -> None:
    assert check_district(raw).problem is problem


def test_districts_are_cleaned() -> None:
    assert check_district("  北京市 东城区 ").value == "北京市 东城区"
    assert check_district("区" * DISTRICT_MAX).value == "区" * DISTRICT_MAX


def test_bio_limit_and_links() -> None:
    assert check_bio("做了十年社区书记。\n擅长加装电梯协调。").value == (
        "做了十年社区书记。 擅长加装电梯协调。"
    )
    assert check_bio("字" * BIO_MAX).ok
    assert check_bio("十年书记，擅长协调（电梯）").value == "十年书记，擅长协调（电梯）"
    too_long = check_bio("字" * (BIO_MAX + 1))
    assert too_long.problem is InputProblem.TOO_LONG and too_long.limit == BIO_MAX
    assert check_bio("见 https://example.com").problem is InputProblem.NOT_TEXT


def test_toggle_strength_keeps_order_maximum_and_optionally_the_last_one() -> None:
    known = ("a", "b", "c", "d", "e")
    selected: tuple[str, ...] = ()
    for strength in ("c", "a"):
        selected = toggle_strength(selected, strength, known)
    assert selected == ("a", "c")
    assert toggle_strength(selected, "zzz", known) == selected
    for strength in known:
        selected = toggle_strength(selected, strength, known)
    assert len(selected) == MENTOR_STRENGTHS_MAX
    assert toggle_strength(("b",), "b", known) == ()
    assert toggle_strength(("b",), "b", known, keep_one=True) == ("b",)
    assert toggle_strength(("a", "b"), "b", known, keep_one=True) == ("a",)


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
