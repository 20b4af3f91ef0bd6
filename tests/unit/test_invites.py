from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.invites import (
    CODE_ALPHABET,
    CODE_LENGTH,
    InviteProblem,
    generate_code,
    invite_problem,
    normalise_code,
)
from bot.domain.model import InviteDTO, Role

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def invite(**changes: object) -> InviteDTO:
    fields: dict[str, object] = {
        "id": 1,
        "code": "ABCDEFGH23",
        "cohort_id": 1,
        "role": Role.TRAINEE,
        "expires_at": NOW + timedelta(days=1),
        "max_uses": 2,
        "uses": 0,
        "revoked": False,
    }
    fields.update(changes)
    return InviteDTO(**fields)  # type: ignore[arg-type]


def test_generated_codes_use_only_unambiguous_characters() -> None:
    codes = {generate_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert len(code) == CODE_LENGTH
        assert set(code) <= set(CODE_ALPHABET)
        assert not set(code) & set("01OIL")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("ABCDEFGH23", "ABCDEFGH23"),
        ("abcd-efgh 23", "ABCDEFGH23"),
        (" abcdefgh23\n", "ABCDEFGH23"),
        ("ABCDEFGH2", None),  # too short
        ("ABCDEFGH230", None),  # too long
        ("ABCDEFGH0O", None),  # ambiguous characters are never issued
        ("邀请码ABCDEFG", None),
        ("", None),
    ],
)
def test_normalise_code(typed: str, expected: str | None) -> None:
    assert normalise_code(typed) == expected


def test_usable_invite_has_no_problem() -> None:
    assert invite_problem(invite(), NOW) is None
    assert invite_problem(invite(max_uses=None, uses=1000, expires_at=None), NOW) is None


def test_invite_problems_in_order_of_what_the_person_can_do_about_it() -> None:
    assert invite_problem(None, NOW) is InviteProblem.NOT_FOUND
    assert invite_problem(invite(revoked=True), NOW) is InviteProblem.REVOKED
    assert invite_problem(invite(expires_at=NOW), NOW) is InviteProblem.EXPIRED
    assert invite_problem(invite(uses=2), NOW) is InviteProblem.USED_UP
    assert invite_problem(invite(uses=1), NOW) is None
