"""Role isolation through the real bot: a trainee cannot use organiser or mentor commands, a
mentor sees only their own mentees, an organiser only their own cohorts, and a forged button
naming somebody else's record (a plan, a milestone, a reflection, a role-play, a self-check,
a case, a match, a broadcast, ...) is refused: the presser gets a toast, their chat shows
nothing of the other person, and no record changes. The scene: tests/e2e/isolation_scene.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from bot.sandbox.client import EmulatorClient
from handlers.callbacks import (
    AckCB,
    BroadcastCB,
    CaseCB,
    LtsiCB,
    MatchCB,
    MentorCB,
    MentoringCB,
    MilestoneCB,
    PlanCB,
    PortfolioCB,
    PracticeCB,
    ReflectCB,
    ReflectStartCB,
    RematchCB,
    ReportCB,
)
from tests.e2e.harness import Phone, RunningBot
from tests.e2e.isolation_scene import (
    COHORT_A,
    COHORT_B,
    MARKS,
    MEN_A1,
    MEN_A2,
    MEN_B,
    MENTOR_OF,
    NAMES,
    ORG_A,
    ORG_B,
    ORGANISER_OF,
    OUTSIDER,
    TRA_A1,
    TRA_A2,
    TRA_B,
    World,
    build_world,
    chat_text,
    snapshot,
)

pytestmark = pytest.mark.e2e

COHORT_OF = {
    ORG_A: COHORT_A,
    MEN_A1: COHORT_A,
    MEN_A2: COHORT_A,
    TRA_A1: COHORT_A,
    TRA_A2: COHORT_A,
    ORG_B: COHORT_B,
    MEN_B: COHORT_B,
    TRA_B: COHORT_B,
}


def forbidden_for(telegram_id: int) -> list[str]:
    """What must never appear in this person's chat: the marks of trainees who are neither
    themselves, their mentee, nor in a cohort they organise; the names of other cohorts."""
    allowed = set()
    for trainee, mark in MARKS.items():
        if telegram_id in (trainee, MENTOR_OF[trainee], ORGANISER_OF[trainee]):
            allowed.add(mark)
    words = [mark for mark in MARKS.values() if mark not in allowed]
    own = COHORT_OF.get(telegram_id)
    words += [name for name in (COHORT_A, COHORT_B) if name != own]
    return words


async def assert_no_leak(client: EmulatorClient, telegram_id: int, after_seq: int = 0) -> None:
    shown = await chat_text(client, telegram_id, after_seq)
    leaked = [word for word in forbidden_for(telegram_id) if word in shown]
    assert leaked == [], (NAMES.get(telegram_id, telegram_id), leaked, shown[-2000:])


@pytest.fixture(autouse=True)
def _no_flood_control(monkeypatch: pytest.MonkeyPatch) -> None:
    """These scripted people tap far faster than anyone could; the flood control has its
    own test (test_flood.py). Autouse: set before the bot starts."""
    monkeypatch.setenv("THROTTLE_RATE", "0")


async def settled(phone: Phone) -> None:
    """Until the bot has finished with everything this person sent (their updates are
    handled one at a time, so the answer to /help comes after all of it)."""
    await phone.send("/help")
    await phone.wait_for(lambda m: "使用帮助" in (m.text or ""), timeout=15)


# -- commands of other roles -------------------------------------------------------------


def _text(running: RunningBot, key: str) -> str:
    return running.core.texts.plain("zh-CN", key)


async def test_commands_of_other_roles_are_refused_and_views_are_scoped(
    running: RunningBot, client: EmulatorClient
) -> None:
    await build_world(running, client)
    refusals = {
        "/broadcast": "broadcast.not_organiser",
        "/broadcasts": "broadcast.not_organiser",
        "/report": "report.not_organiser",
        "/match": "match.not_organiser",
        "/digest": "mentoring.not_mentor",
        "/log": "mentoring.not_mentor",
    }
    for person in (TRA_A1, TRA_B, OUTSIDER):
        phone = Phone(client, person)
        for command, key in refusals.items():
            reply = await phone.say(command)
            assert _text(running, key) in (reply.text or ""), (NAMES[person], command, reply.text)
            assert reply.all_buttons == [], (command, reply.button_texts)
        await settled(phone)
        await assert_no_leak(client, person)

    mentor = Phone(client, MEN_A1)
    for command in ("/broadcast", "/broadcasts", "/report", "/match"):
        reply = await mentor.say(command)
        assert _text(running, refusals[command]) in (reply.text or ""), (command, reply.text)
    # /digest: one digest, of their own mentee; /log goes straight to that mentee.
    digest = await mentor.say("/digest")
    assert NAMES[TRA_A1] in (digest.text or "") and "琥珀：组织了" in (digest.text or "")
    log = await mentor.say("/log")
    assert NAMES[TRA_A1] in (log.text or "")
    await mentor.say("/cancel")
    await settled(mentor)
    await assert_no_leak(client, MEN_A1)

    organiser = Phone(client, ORG_A)
    digest_menu = await organiser.say("/digest")
    assert sorted(digest_menu.button_texts) == sorted(
        b for b in digest_menu.button_texts if NAMES[MEN_B] not in b
    )
    assert any(NAMES[MEN_A1] in b for b in digest_menu.button_texts)
    assert any(NAMES[MEN_A2] in b for b in digest_menu.button_texts)
    await organiser.send("/report")
    await organiser.wait_for(lambda m: COHORT_A in (m.text or "") or COHORT_A in (m.caption or ""))
    audience = await organiser.say("/broadcast")  # one cohort: straight to the audience
    assert COHORT_A in (audience.text or "")
    await organiser.say("/cancel")
    history = await organiser.say("/broadcasts")
    assert "乙班" not in (history.text or "")
    await settled(organiser)
    await assert_no_leak(client, ORG_A)
    await assert_no_leak(client, MEN_A1)


# -- forged buttons ------------------------------------------------------------------------


@dataclass(frozen=True)
class Forgery:
    """Somebody presses a button whose data names a record that is not theirs."""

    family: str
    data: Callable[[World], str]
    by: tuple[int, ...]
    # When the refusal is a message rather than a toast: its content key.
    told: str | None = None


A = TRA_A1  # the victim: 赵琥珀, trainee of cohort 甲, mentee of 甲导师一
PEERS = (TRA_A2, TRA_B, MEN_A2)  # a trainee next to them, one elsewhere, another's mentor
MENTORS = (MEN_A2, MEN_B, TRA_A2)  # other mentors, and a trainee
ORGANISERS = (ORG_B, MEN_A1, TRA_A1)  # the other cohort's organiser, a mentor, a trainee
# Who may not propose 赵琥珀's reflection as a case (their organiser and mentor may).
CASE_PROPOSERS = (ORG_B, MEN_A2, TRA_A2)


def cohort_a(w: World) -> int:
    return w.cohorts["A"]


FORGERIES: tuple[Forgery, ...] = (
    # role-plays (PracticeCB): another person's play, by its run id
    Forgery("practice.show", lambda w: PracticeCB(a="g", n=w.trainees[A].run).pack(), PEERS),
    Forgery("practice.next", lambda w: PracticeCB(a="n", n=w.trainees[A].run).pack(), PEERS),
    Forgery("practice.choose", lambda w: PracticeCB(a="c", n=w.trainees[A].run).pack(), PEERS),
    Forgery("practice.pause", lambda w: PracticeCB(a="p", n=w.trainees[A].run).pack(), PEERS),
    Forgery(
        "practice.comment", lambda w: PracticeCB(a="m", n=w.trainees[A].answer).pack(), MENTORS
    ),
    # the self-check (LtsiCB): another person's questionnaire
    *(
        Forgery(
            f"ltsi.{a}", lambda w, a=a: LtsiCB(r=w.trainees[A].response, p=2, a=a).pack(), PEERS
        )
        for a in ("3", "b", "p", "s", "d")
    ),
    # plans and milestones
    Forgery(
        "plan.remove",
        lambda w: PlanCB(a="rm", c=cohort_a(w), v=str(w.trainees[A].milestone)).pack(),
        PEERS,
    ),
    Forgery("plan.update", lambda w: PlanCB(a="upd", c=cohort_a(w)).pack(), (TRA_B, OUTSIDER)),
    Forgery("plan.confirm", lambda w: PlanCB(a="confirm", c=cohort_a(w)).pack(), (TRA_B,)),
    *(
        Forgery(
            f"milestone.{a}",
            lambda w, a=a: MilestoneCB(m=w.trainees[A].milestone, a=a).pack(),
            PEERS,
        )
        for a in ("d", "i", "n", "a", "m", "s")
    ),
    # reflections
    Forgery("reflect.continue", lambda w: ReflectCB(a="go", r=w.trainees[A].draft).pack(), PEERS),
    Forgery("reflect.over", lambda w: ReflectCB(a="new", r=w.trainees[A].draft).pack(), PEERS),
    Forgery(
        "reflect.skip", lambda w: ReflectCB(a="s", r=w.trainees[A].draft, q="learned").pack(), PEERS
    ),
    Forgery(
        "reflect.milestone",
        lambda w: ReflectCB(a="m", c=cohort_a(w), m=w.trainees[A].milestone).pack(),
        PEERS,
    ),
    Forgery(
        "reflect.about", lambda w: ReflectStartCB(milestone=w.trainees[A].milestone).pack(), PEERS
    ),
    # the portfolio of someone else
    Forgery("portfolio.html", lambda w: PortfolioCB(a="h", u=A).pack(), PEERS),
    Forgery("portfolio.json", lambda w: PortfolioCB(a="j", u=A).pack(), PEERS),
    # cases: the author's consent, withdrawal, the organiser's reading of reflections
    Forgery("case.consent", lambda w: CaseCB(a="ok", i=w.trainees[A].case).pack(), PEERS),
    Forgery("case.decline", lambda w: CaseCB(a="no", i=w.trainees[A].case).pack(), PEERS),
    Forgery("case.withdraw", lambda w: CaseCB(a="wy", i=w.trainees[A].case).pack(), PEERS),
    Forgery("case.ask_withdraw", lambda w: CaseCB(a="wd", i=w.trainees[A].case).pack(), PEERS),
    Forgery("case.request", lambda w: CaseCB(a="req", i=w.trainees[A].case).pack(), PEERS),
    Forgery("case.open", lambda w: CaseCB(a="case", i=w.trainees[A].case).pack(), PEERS),
    Forgery("case.reflections", lambda w: CaseCB(a="refl", c=cohort_a(w)).pack(), CASE_PROPOSERS),
    Forgery(
        "case.read_reflection",
        lambda w: CaseCB(a="rv", i=w.trainees[A].reflection).pack(),
        CASE_PROPOSERS,
    ),
    Forgery(
        "case.recommend",
        lambda w: CaseCB(a="rp", c=cohort_a(w), i=w.trainees[A].reflection).pack(),
        CASE_PROPOSERS,
    ),
    Forgery(
        "case.area",
        lambda w: CaseCB(a="pa", i=w.trainees[A].reflection, v="elevator").pack(),
        CASE_PROPOSERS,
    ),
    # the mentor's side
    Forgery(
        "mentor.read", lambda w: MentoringCB(a="rd", i=w.trainees[A].reflection).pack(), MENTORS
    ),
    Forgery(
        "mentor.log",
        lambda w: MentoringCB(a="lg", c=cohort_a(w), i=w.trainees[A].user).pack(),
        MENTORS,
    ),
    Forgery(
        "mentor.rematch",
        lambda w: MentorCB(a="rq", c=cohort_a(w)).pack(),
        (TRA_B, OUTSIDER),
        told="match.mentor.refusal.not_trainee",
    ),
    # the organiser's side
    *(
        Forgery(
            f"report.{a}", lambda w, a=a: ReportCB(action=a, cohort=cohort_a(w)).pack(), ORGANISERS
        )
        for a in ("show", "csv", "csvn")
    ),
    Forgery(
        "digest.of_mentor",
        lambda w: MentoringCB(a="od", c=cohort_a(w), i=w.users[MEN_A1]).pack(),
        ORGANISERS,
    ),
    Forgery(
        "broadcast.cohort",
        lambda w: BroadcastCB(action="cohort", value=str(cohort_a(w))).pack(),
        ORGANISERS,
    ),
    Forgery(
        "broadcast.audience",
        lambda w: BroadcastCB(action="aud", value=f"{cohort_a(w)}.all").pack(),
        ORGANISERS,
    ),
    *(
        Forgery(
            f"broadcast.{a}",
            lambda w, a=a: BroadcastCB(action=a, draft=w.drafts[ORG_A]).pack(),
            ORGANISERS,
        )
        for a in ("ack", "send", "sched", "cancel")
    ),
    Forgery("broadcast.received", lambda w: AckCB(broadcast_id=w.drafts[ORG_A]).pack(), PEERS),
    Forgery("match.cohort", lambda w: MatchCB(a="co", p=cohort_a(w)).pack(), ORGANISERS),
    *(
        Forgery(
            f"match.{a}",
            lambda w, a=a: MatchCB(
                a=a, p=w.proposals[ORG_A], i=w.trainees[A].user, m=w.users[MEN_A2]
            ).pack(),
            ORGANISERS,
        )
        for a in ("pg", "sw", "as", "pk", "rm", "ok", "re")
    ),
    *(
        Forgery(
            f"rematch.{a}",
            lambda w, a=a: RematchCB(a=a, r=w.trainees[A].rematch).pack(),
            ORGANISERS,
        )
        for a in ("y", "n")
    ),
)


async def test_forged_buttons_naming_someone_elses_records_are_refused(
    running: RunningBot, client: EmulatorClient
) -> None:
    world = await build_world(running, client)
    phones = {}
    for person in NAMES:
        phones[person] = Phone(client, person)
        await settled(phones[person])  # a real message of the bot to press "on"
    before = await snapshot(running)
    problems = []
    for forgery in FORGERIES:
        data = forgery.data(world)
        assert len(data.encode()) <= 64, data
        for person in forgery.by:
            phone = phones[person]
            on = await client.last_bot_message(person)
            assert on is not None
            seq = client.cursor(person)
            toast = await phone.tap_for_toast(data=data, on=on, forge=True)
            await settled(phone)
            shown = await chat_text(client, person, seq)
            leaked = [word for word in forbidden_for(person) if word in shown]
            after = await snapshot(running)
            changed = sorted(table for table in before if before[table] != after[table])
            told = forgery.told and running.core.texts.plain("zh-CN", forgery.told) in shown
            if not (toast or told) or leaked or changed:
                problems.append((forgery.family, NAMES[person], data, toast, leaked, changed))
            before = after
    assert problems == [], "\n".join(map(repr, problems))
    for person in NAMES:
        await assert_no_leak(client, person)
