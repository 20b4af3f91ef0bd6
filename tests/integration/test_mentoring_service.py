"""The mentor's side on a real database: the digest's content for a prepared cohort (LTSI
deltas, milestones due and overdue, reflections new since the last digest, at-risk mentees
first, the no-news note), the weekly and monthly due items, the guidance log with its
next step for the mentee, and who may see and touch what (ended matches, other mentors'
mentees, organisers of other cohorts)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, select

from bot.config import load_settings
from bot.core import Core, build_core
from bot.db.models import (
    DueItem,
    Enrolment,
    GuidanceSession,
    LtsiResponse,
    LtsiWave,
    MentorMatch,
    OutboxMessage,
    Plan,
    PlanMilestone,
    Reflection,
    User,
)
from bot.domain.ports import MovableClock
from bot.services.cases import ReflectionView as CaseReflectionView
from bot.services.mentoring import (
    DIGEST_KIND,
    REMIND_KIND,
    DigestView,
    MenteeChoice,
    Refusal,
    SessionSaved,
)
from bot.services.reflections import CommentDTO, CommentRefusal
from tests.conftest import Backend

START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
ENDS = date(2026, 11, 30)
NOW = datetime(2026, 12, 16, 2, 0, tzinfo=UTC)  # Wednesday 10:00 in Shanghai
TODAY = date(2026, 12, 16)
LAST_DIGEST = datetime(2026, 12, 14, 1, 0, tzinfo=UTC)  # Monday 09:00
ORGANISER, OTHER_ORGANISER = 7300, 7301
MENTOR, OTHER_MENTOR = 7310, 7311
ANNA, BO, CHEN, DING = 7321, 7322, 7323, 7324


@pytest.fixture
async def core(backend: Backend) -> AsyncIterator[Core]:
    core = build_core(load_settings(DATABASE_URL=backend.database_url), clock=MovableClock(START))
    await core.migrate()
    try:
        yield core
    finally:
        await core.close()


def move_to(core: Core, moment: datetime) -> None:
    assert isinstance(core.clock, MovableClock)
    core.clock.set(moment)


async def new_cohort(core: Core, organiser: int = ORGANISER, name: str = "社区书记班") -> int:
    created = await core.services.cohorts.create(
        name=name,
        course_title="基层治理",
        ends_on=ENDS,
        timezone="Asia/Shanghai",
        organiser_telegram_ids=(organiser,),
    )
    return created.cohort.id


async def person(
    core: Core, cohort_id: int, telegram_id: int, name: str, role: str, joined: datetime = START
) -> int:
    """A consenting member of the cohort, straight through the ORM."""
    async with core.uow() as uow:
        user = await uow.users.by_telegram_id(telegram_id)
        if user is None:
            user = User(
                telegram_id=telegram_id,
                locale="zh-CN",
                full_name=name,
                consent_at=joined,
                is_active=True,
                created_at=joined,
                updated_at=joined,
            )
            uow.session.add(user)
            await uow.session.flush()
        uow.session.add(
            Enrolment(
                user_id=user.id,
                cohort_id=cohort_id,
                role=role,
                status="active",
                created_at=joined,
                completed_at=joined,
            )
        )
        await uow.commit()
        return user.id


async def pair(
    core: Core, cohort_id: int, mentor_id: int, trainee_id: int, status: str = "active"
) -> int:
    async with core.uow() as uow:
        row = MentorMatch(
            cohort_id=cohort_id,
            trainee_user_id=trainee_id,
            mentor_user_id=mentor_id,
            status=status,
            score=10,
            reasons=[],
            created_at=START,
            confirmed_at=START,
        )
        uow.session.add(row)
        await uow.commit()
        return row.id


async def end_match(core: Core, match_id: int) -> None:
    async with core.uow() as uow:
        row = await uow.session.get(MentorMatch, match_id)
        assert row is not None
        row.status, row.ended_at, row.end_reason = "ended", NOW, "organiser"
        await uow.commit()


async def checks(core: Core, cohort_id: int, user_id: int, *groups: dict[str, float]) -> None:
    """Finished self-checks, one per wave in order, with these group scores."""
    async with core.uow() as uow:
        waves = list(
            await uow.session.scalars(
                select(LtsiWave).where(LtsiWave.cohort_id == cohort_id).order_by(LtsiWave.opens_at)
            )
        )
        for wave, scores in zip(waves, groups, strict=False):
            done = wave.opens_at + timedelta(hours=2)
            uow.session.add(
                LtsiResponse(
                    wave_id=wave.id,
                    user_id=user_id,
                    status="done",
                    position=0,
                    scores={"factors": {}, "groups": scores},
                    invited_at=wave.opens_at,
                    updated_at=done,
                    completed_at=done,
                )
            )
        await uow.commit()


async def plan(
    core: Core, cohort_id: int, user_id: int, *milestones: tuple[str, date, str]
) -> None:
    async with core.uow() as uow:
        uow.session.add(
            Plan(
                user_id=user_id,
                cohort_id=cohort_id,
                area="elevator",
                goal="加装电梯",
                status="active",
                created_at=START,
                updated_at=START,
                milestones=[
                    PlanMilestone(
                        position=n,
                        title=title,
                        due_on=due_on,
                        status=status,
                        created_at=START,
                        checked_at=None if status == "open" else LAST_DIGEST - timedelta(days=3),
                    )
                    for n, (title, due_on, status) in enumerate(milestones, 1)
                ],
            )
        )
        await uow.commit()


async def reflection(
    core: Core, cohort_id: int, user_id: int, text: str, completed: datetime
) -> int:
    async with core.uow() as uow:
        row = Reflection(
            user_id=user_id,
            cohort_id=cohort_id,
            answers={"did": {"kind": "text", "text": text, "file_id": None}},
            status="done",
            created_at=completed - timedelta(minutes=10),
            completed_at=completed,
        )
        uow.session.add(row)
        await uow.commit()
        return row.id


async def last_digest_at(core: Core, cohort_id: int, moment: datetime) -> None:
    """As if the cohort's digest had gone out at `moment`."""
    async with core.uow() as uow:
        uow.session.add(
            DueItem(
                kind=DIGEST_KIND,
                dedupe_key=f"test:{cohort_id}:{moment.isoformat()}",
                due_at=moment,
                status="done",
                attempts=0,
                payload={},
                cohort_id=cohort_id,
                created_at=moment,
                done_at=moment,
            )
        )
        await uow.commit()


async def outbox(core: Core) -> list[OutboxMessage]:
    async with core.uow() as uow:
        rows = await uow.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.purpose == "mentoring")
            .order_by(OutboxMessage.id)
        )
        return list(rows)


async def due_items(core: Core, kind: str) -> list[DueItem]:
    async with core.uow() as uow:
        rows = await uow.session.scalars(
            select(DueItem).where(DueItem.kind == kind).order_by(DueItem.due_at)
        )
        return list(rows)


async def prepared(core: Core) -> tuple[int, dict[str, int], dict[str, int]]:
    """A cohort where MENTOR has Anna, Bo and Chen and OTHER_MENTOR has Ding."""
    cohort_id = await new_cohort(core)
    ids = {
        "mentor": await person(core, cohort_id, MENTOR, "王书记", "mentor"),
        "other": await person(core, cohort_id, OTHER_MENTOR, "李主任", "mentor"),
        "anna": await person(core, cohort_id, ANNA, "张安娜", "trainee"),
        "bo": await person(core, cohort_id, BO, "刘波", "trainee"),
        "chen": await person(core, cohort_id, CHEN, "陈晨", "trainee"),
        "ding": await person(core, cohort_id, DING, "丁丁", "trainee"),
    }
    matches = {
        name: await pair(core, cohort_id, ids["mentor"], ids[name])
        for name in ("anna", "bo", "chen")
    }
    matches["ding"] = await pair(core, cohort_id, ids["other"], ids["ding"])
    return cohort_id, ids, matches


def text_of(view: DigestView) -> str:
    return "\n".join(m.text for m in view.messages)


def buttons_of(view: DigestView) -> list[tuple[str, str]]:
    return [b for m in view.messages for b in m.buttons]


async def test_digest_lists_changes_milestones_new_reflections_and_risks_first(
    core: Core,
) -> None:
    cohort_id, ids, _ = await prepared(core)
    # Anna: two self-checks (motivation falls, ability rises), a milestone due in three
    # days, one overdue, one done; and activity (the plan) long ago.
    await checks(
        core,
        cohort_id,
        ids["anna"],
        {"ability": 3.0, "motivation": 3.8, "work_environment": 3.5},
        {"ability": 3.6, "motivation": 3.0, "work_environment": 3.52},
    )
    await plan(
        core,
        cohort_id,
        ids["anna"],
        ("召开楼栋协商会", TODAY - timedelta(days=2), "open"),
        ("完成意见征询", TODAY + timedelta(days=3), "open"),
        ("成立加梯小组", TODAY - timedelta(days=20), "done"),
        ("年底签约", TODAY + timedelta(days=30), "open"),
    )
    # Bo: one reflection before the last digest, one after it (new).
    await reflection(core, cohort_id, ids["bo"], "旧的反思", LAST_DIGEST - timedelta(days=2))
    new_id = await reflection(
        core, cohort_id, ids["bo"], "组织了一次楼栋议事会\n第二行不显示", NOW - timedelta(days=1)
    )
    # Chen: nothing since joining (three weeks ago). Ding is the other mentor's.
    await reflection(core, cohort_id, ids["ding"], "丁丁的反思", NOW - timedelta(days=1))
    await last_digest_at(core, cohort_id, LAST_DIGEST)
    move_to(core, NOW)

    views = await core.services.mentoring.digest(MENTOR)
    assert isinstance(views, list) and len(views) == 1
    [view] = views
    assert view.news
    text = text_of(view)
    # At risk first (Anna: overdue + motivation; Chen: inactive), then Bo.
    assert text.index("张安娜") < text.index("陈晨") < text.index("刘波")
    assert "2 位需要关注" in text
    assert "1 个里程碑已过期" in text and "动力分数下降" in text
    assert "23 天没有动态" in text  # Chen joined on 23 November
    # LTSI change per group, from the last two checks: up, down, same.
    assert "能力与条件 ↑ 3.0 → 3.6" in text
    assert "动力 ↓ 3.8 → 3.0" in text
    assert "工作环境 → 3.5 → 3.5" in text
    # Milestones: 1/4 done, one due within 7 days, one overdue; not the one a month off.
    assert "已完成 1/4" in text
    assert "即将到期：完成意见征询（2026年12月19日）" in text
    assert "已过期：召开楼栋协商会（2026年12月14日）" in text
    assert "年底签约" not in text
    # Only Bo's new reflection, by its first line; nothing of Ding (not my mentee).
    assert "「组织了一次楼栋议事会」" in text and "第二行" not in text
    assert "旧的反思" not in text and "丁丁" not in text
    assert "新反思 1 篇" in text
    buttons = buttons_of(view)
    assert ("📖 阅读并点评：刘波", f"gd:rd:{cohort_id}:{new_id}:") in buttons
    assert ("📝 记录指导：陈晨", f"gd:lg:{cohort_id}:{ids['chen']}:") in buttons
    assert len([b for b in buttons if b[1].startswith("gd:lg:")]) == 3

    # The other mentor sees only Ding.
    [other] = await core.services.mentoring.digest(OTHER_MENTOR)  # type: ignore[misc]
    assert "丁丁的反思" in text_of(other) and "刘波" not in text_of(other)


async def test_a_mentor_with_no_news_gets_a_short_note(core: Core) -> None:
    cohort_id = await new_cohort(core)
    mentor = await person(core, cohort_id, MENTOR, "王书记", "mentor")
    anna = await person(core, cohort_id, ANNA, "张安娜", "trainee", joined=NOW - timedelta(days=3))
    await pair(core, cohort_id, mentor, anna)
    await reflection(core, cohort_id, anna, "上周的反思", NOW - timedelta(days=5))
    await last_digest_at(core, cohort_id, NOW - timedelta(days=2))
    move_to(core, NOW)
    [view] = await core.services.mentoring.digest(MENTOR)  # type: ignore[misc]
    assert not view.news and len(view.messages) == 1
    assert "张安娜 都没有新动态" in view.messages[0].text
    assert view.messages[0].buttons == (("📝 记录指导：张安娜", f"gd:lg:{cohort_id}:{anna}:"),)


async def test_the_weekly_digest_goes_out_and_schedules_the_next(core: Core) -> None:
    cohort_id, ids, _ = await prepared(core)
    [first] = await due_items(core, DIGEST_KIND)
    assert first.due_at == datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # Monday 09:00
    await reflection(core, cohort_id, ids["bo"], "第一次反思", START + timedelta(days=2))
    # A mentor without mentees gets nothing.
    await person(core, cohort_id, 7399, "没有学员", "mentor")

    move_to(core, first.due_at + timedelta(minutes=1))
    await core.sweeper.sweep()
    sent = [m for m in await outbox(core) if ":digest:" in m.dedupe_key]
    assert {m.chat_id for m in sent} == {MENTOR, OTHER_MENTOR}
    mine = [m for m in sent if m.chat_id == MENTOR]
    assert "第一次反思" in mine[0].payload["text"]
    keyboard = [
        b for m in mine for row in m.payload["reply_markup"]["inline_keyboard"] for b in row
    ]
    assert any(b["text"] == "📖 阅读并点评：刘波" for b in keyboard)
    digests = await due_items(core, DIGEST_KIND)
    assert [d.status for d in digests] == ["done", "pending"]
    assert digests[1].due_at == datetime(2026, 12, 7, 1, 0, tzinfo=UTC)

    # /digest right after: news since this digest only, so the reflection is not new.
    [view] = await core.services.mentoring.digest(MENTOR)  # type: ignore[misc]
    assert "第一次反思" not in text_of(view)

    # Another weekday and time, from the cohort's settings.
    async with core.uow() as uow:
        cohort = await uow.cohorts.get(cohort_id)
        assert cohort is not None
        cohort.settings = {"mentoring": {"digest_weekday": 5, "digest_time": "18:30"}}
        await uow.commit()
    move_to(core, digests[1].due_at)
    await core.sweeper.sweep()
    latest = (await due_items(core, DIGEST_KIND))[-1]
    assert latest.due_at == datetime(2026, 12, 11, 10, 30, tzinfo=UTC)  # Friday 18:30


async def test_the_monthly_reminder_names_only_mentees_without_a_session(core: Core) -> None:
    cohort_id, ids, _ = await prepared(core)
    [reminder] = await due_items(core, REMIND_KIND)
    assert reminder.due_at == datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 24 Nov, 10:00
    move_to(core, datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    mentoring = core.services.mentoring
    # Anna's session this month counts; Ding's too (the other mentor).
    saved = await mentoring.log_session(
        MENTOR,
        cohort_id,
        ids["anna"],
        held_on=date(2026, 11, 20),
        topic="计划",
        notes="谈了计划",
        next_step=None,
    )
    assert isinstance(saved, SessionSaved) and not saved.sent_to_trainee
    await mentoring.log_session(
        OTHER_MENTOR,
        cohort_id,
        ids["ding"],
        held_on=date(2026, 11, 2),
        topic="x",
        notes="y",
        next_step=None,
    )
    # Bo's session was last month: it does not count for November.
    await mentoring.log_session(
        MENTOR,
        cohort_id,
        ids["bo"],
        held_on=date(2026, 10, 28),
        topic="x",
        notes="y",
        next_step=None,
    )
    move_to(core, reminder.due_at)
    await core.sweeper.sweep()
    reminders = [m for m in await outbox(core) if ":remind:" in m.dedupe_key]
    assert [m.chat_id for m in reminders] == [MENTOR]
    text = reminders[0].payload["text"]
    assert "刘波" in text and "陈晨" in text and "张安娜" not in text
    labels = [
        b["text"] for row in reminders[0].payload["reply_markup"]["inline_keyboard"] for b in row
    ]
    assert labels == ["📝 记录指导：刘波", "📝 记录指导：陈晨"]
    # One reminder a month: next month's is planned, 7 days before December ends.
    pending = [d for d in await due_items(core, REMIND_KIND) if d.status == "pending"]
    assert [d.due_at for d in pending] == [datetime(2026, 12, 25, 2, 0, tzinfo=UTC)]
    await core.sweeper.sweep()
    assert len([m for m in await outbox(core) if ":remind:" in m.dedupe_key]) == 1


async def test_logging_a_session_sends_the_next_step_and_checks_its_input(core: Core) -> None:
    cohort_id, ids, _ = await prepared(core)
    move_to(core, NOW)
    mentoring = core.services.mentoring
    kwargs = {"topic": "争取领导支持", "notes": "谈了怎样向街道汇报"}
    future = await mentoring.log_session(
        MENTOR, cohort_id, ids["anna"], held_on=TODAY + timedelta(days=1), next_step=None, **kwargs
    )
    assert future is Refusal.BAD_DATE
    old = await mentoring.log_session(
        MENTOR,
        cohort_id,
        ids["anna"],
        held_on=TODAY - timedelta(days=400),
        next_step=None,
        **kwargs,
    )
    assert old is Refusal.BAD_DATE
    long_step = await mentoring.log_session(
        MENTOR, cohort_id, ids["anna"], held_on=TODAY, next_step="长" * 301, **kwargs
    )
    assert long_step is Refusal.BAD_TEXT
    saved = await mentoring.log_session(
        MENTOR,
        cohort_id,
        ids["anna"],
        held_on=TODAY - timedelta(days=1),
        next_step="下周约社区民警一起走访",
        **kwargs,
    )
    assert isinstance(saved, SessionSaved) and saved.sent_to_trainee
    [push] = [m for m in await outbox(core) if ":next:" in m.dedupe_key]
    assert push.chat_id == ANNA
    assert "导师 王书记 和您约定的下一步" in push.payload["text"]
    assert "下周约社区民警一起走访" in push.payload["text"]
    async with core.uow() as uow:
        rows = list(await uow.session.scalars(select(GuidanceSession)))
    assert len(rows) == 1 and rows[0].held_on == TODAY - timedelta(days=1)
    # The digest shows it as the last session.
    [view] = await mentoring.digest(MENTOR)  # type: ignore[misc]
    assert "上次指导：2026年12月15日 · 争取领导支持" in text_of(view)
    assert "约定的下一步：下周约社区民警一起走访" in text_of(view)


async def test_only_active_matches_give_access(core: Core) -> None:
    cohort_id, ids, matches = await prepared(core)
    bo_reflection = await reflection(core, cohort_id, ids["bo"], "刘波的反思", NOW)
    ding_reflection = await reflection(core, cohort_id, ids["ding"], "丁丁的反思", NOW)
    move_to(core, NOW + timedelta(hours=1))
    mentoring, reflections = core.services.mentoring, core.services.reflections

    # While the match is active: read, comment (the trainee receives it), log, propose.
    assert isinstance(await mentoring.mentee(MENTOR, cohort_id, ids["bo"]), MenteeChoice)
    read = await mentoring.reflection(MENTOR, bo_reflection)
    assert not isinstance(read, Refusal) and read.trainee_name == "刘波"
    comment = await reflections.add_comment(MENTOR, bo_reflection, "写得很具体，继续！")
    assert isinstance(comment, CommentDTO) and comment.author_role == "mentor"
    async with core.uow() as uow:
        pushed = list(
            await uow.session.scalars(
                select(OutboxMessage).where(OutboxMessage.dedupe_key.like("reflect:comment:%"))
            )
        )
    assert [m.chat_id for m in pushed] == [BO]
    assert "写得很具体，继续！" in pushed[0].payload["text"]
    assert isinstance(
        await core.services.cases.reflection(MENTOR, bo_reflection), CaseReflectionView
    )

    # Someone else's mentee: refused everywhere.
    assert await mentoring.mentee(MENTOR, cohort_id, ids["ding"]) is Refusal.NOT_YOURS
    assert await mentoring.reflection(MENTOR, ding_reflection) is Refusal.NOT_YOURS
    refused = await reflections.add_comment(MENTOR, ding_reflection, "越权点评")
    assert refused is CommentRefusal.NOT_ALLOWED
    assert not isinstance(
        await core.services.cases.reflection(MENTOR, ding_reflection), CaseReflectionView
    )
    assert (
        await mentoring.log_session(
            MENTOR, cohort_id, ids["ding"], held_on=TODAY, topic="x", notes="y", next_step=None
        )
        is Refusal.NOT_YOURS
    )

    # The match ends: Bo disappears from the digest, and every door closes.
    await end_match(core, matches["bo"])
    [view] = await mentoring.digest(MENTOR)  # type: ignore[misc]
    assert "刘波" not in text_of(view)
    assert await mentoring.mentee(MENTOR, cohort_id, ids["bo"]) is Refusal.NOT_YOURS
    assert await mentoring.reflection(MENTOR, bo_reflection) is Refusal.NOT_YOURS
    assert (
        await reflections.add_comment(MENTOR, bo_reflection, "再评") is CommentRefusal.NOT_ALLOWED
    )
    assert not isinstance(
        await core.services.cases.reflection(MENTOR, bo_reflection), CaseReflectionView
    )
    for name in ("anna", "chen"):
        await end_match(core, matches[name])
    assert await mentoring.digest(MENTOR) is Refusal.NO_MENTEES
    assert await mentoring.mentees(MENTOR) is Refusal.NO_MENTEES
    assert await mentoring.digest(ANNA) is Refusal.NOT_MENTOR


async def test_an_organiser_sees_the_digest_of_mentors_of_their_cohorts_only(core: Core) -> None:
    cohort_id, ids, _ = await prepared(core)
    other_cohort = await new_cohort(core, OTHER_ORGANISER, "另一个班")
    move_to(core, NOW)
    mentoring = core.services.mentoring
    choices = await mentoring.mentors_to_view(ORGANISER)
    assert choices is not None
    assert {(c.cohort_id, c.mentor_user_id) for c in choices} == {
        (cohort_id, ids["mentor"]),
        (cohort_id, ids["other"]),
    }
    view = await mentoring.digest_of(ORGANISER, cohort_id, ids["mentor"], "zh-CN")
    assert isinstance(view, DigestView)
    assert "组织方查看" in text_of(view) and "刘波" in text_of(view)
    assert buttons_of(view) == []  # the buttons are the mentor's
    # Not their cohort, not a mentor of that cohort, not an organiser: refused.
    assert await mentoring.digest_of(OTHER_ORGANISER, cohort_id, ids["mentor"], None) is (
        Refusal.NOT_YOURS
    )
    assert await mentoring.digest_of(ORGANISER, other_cohort, ids["mentor"], None) is (
        Refusal.NOT_YOURS
    )
    assert await mentoring.digest_of(ORGANISER, cohort_id, ids["anna"], None) is Refusal.NOT_YOURS
    assert await mentoring.digest_of(MENTOR, cohort_id, ids["other"], None) is Refusal.NOT_YOURS
    assert await mentoring.mentors_to_view(MENTOR) is None


async def test_legacy_cohorts_get_their_digest_and_reminder_once(core: Core) -> None:
    cohort_id = await new_cohort(core)
    async with core.uow() as uow:
        await uow.session.execute(
            delete(DueItem).where(DueItem.kind.in_((DIGEST_KIND, REMIND_KIND)))
        )
        await uow.commit()
    await core.services.mentoring.plan_legacy_cohorts()
    assert [d.cohort_id for d in await due_items(core, DIGEST_KIND)] == [cohort_id]
    assert [d.cohort_id for d in await due_items(core, REMIND_KIND)] == [cohort_id]
    async with core.uow() as uow:
        await uow.session.execute(delete(DueItem).where(DueItem.kind == DIGEST_KIND))
        await uow.commit()
    await core.services.mentoring.plan_legacy_cohorts()  # once per process
    assert await due_items(core, DIGEST_KIND) == []


async def test_a_long_digest_is_split_between_entries(core: Core) -> None:
    cohort_id = await new_cohort(core)
    mentor = await person(core, cohort_id, MENTOR, "王书记", "mentor")
    names = [f"学员{n:02d}" for n in range(24)]
    for n, name in enumerate(names):
        trainee = await person(core, cohort_id, 7400 + n, name, "trainee")
        await pair(core, cohort_id, mentor, trainee)
        for k in range(6):
            await reflection(
                core,
                cohort_id,
                trainee,
                f"{name}第{k}篇" + "很长的第一行" * 20,
                NOW - timedelta(hours=k + 1),
            )
    move_to(core, NOW)
    [view] = await core.services.mentoring.digest(MENTOR)  # type: ignore[misc]
    assert len(view.messages) > 1
    for message in view.messages:
        assert len(message.text) <= 4096
        # Every entry that starts in this message ends in it, with its buttons.
        shown = [name for name in names if f"<b>{name}</b>" in message.text]
        assert shown
        reads = [b for b in message.buttons if b[1].startswith("gd:rd:")]
        assert len(reads) == 5 * len(shown)  # at most five reflections with a button each
        assert all(any(name in b[0] for name in shown) for b in message.buttons)
        assert message.text.count("……另有 1 篇") == len(shown)
    assert sum(len([n for n in names if f"<b>{n}</b>" in m.text]) for m in view.messages) == 24


async def test_the_digest_timetable_is_a_cohort_setting(core: Core) -> None:
    created = await core.services.cohorts.create(
        name="周五班",
        course_title="课",
        ends_on=date(2026, 11, 30),
        timezone="Asia/Shanghai",
        mentoring={"digest_weekday": 5, "digest_time": "18:30"},
    )
    async with core.uow() as uow:
        cohort = await uow.cohorts.get(created.cohort.id)
        assert cohort is not None
        assert cohort.settings["mentoring"] == {"digest_weekday": 5, "digest_time": "18:30"}
    with pytest.raises(ValueError, match="digest_weekday"):
        await core.services.cohorts.create(
            name="错",
            course_title="课",
            ends_on=date(2026, 11, 30),
            timezone="Asia/Shanghai",
            mentoring={"digest_weekday": 9},
        )
