"""The reflection service on a real database: prompts on the cohort's local days and times
(quiet hours respected), answers saved one by one, drafts resumed, milestone ties checked,
comments allowed only to the cohort's organisers and pushed to the trainee."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select

from bot.config import load_settings
from bot.core import Core, build_core
from bot.db.models import (
    AuditEntry,
    DueItem,
    OutboxMessage,
    Plan,
    PlanMilestone,
    Reflection,
    ReflectionComment,
    User,
)
from bot.domain.enrolment import (
    EnrolStep,
    check_district,
    check_name,
    check_position,
    check_unit_name,
    check_unit_type,
)
from bot.domain.ports import MovableClock
from bot.domain.practice import COMMENT_LIMIT
from bot.services.reflections import (
    PROMPT_KIND,
    Answer,
    AnswerKind,
    ChooseCohort,
    ChooseMilestone,
    CommentDTO,
    CommentRefusal,
    OpenDraft,
    QuestionView,
    Refusal,
    Summary,
)
from handlers.callbacks import ReflectStartCB
from tests.conftest import Backend

START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
ENDS = date(2026, 11, 30)
ORGANISER = 8100
OTHER_ORGANISER = 8101
TRAINEE = 8201
OTHER = 8202


@pytest.fixture
async def core(backend: Backend) -> AsyncIterator[Core]:
    core = build_core(load_settings(DATABASE_URL=backend.database_url), clock=MovableClock(START))
    await core.migrate()
    try:
        yield core
    finally:
        await core.close()


def clock(core: Core) -> MovableClock:
    assert isinstance(core.clock, MovableClock)
    return core.clock


async def enrol(core: Core, telegram_id: int, code: str) -> None:
    svc = core.services.enrolment
    await svc.consent(telegram_id, code, "zh-CN")
    await svc.answer(telegram_id, EnrolStep.NAME, check_name(f"学员{telegram_id}"))
    await svc.answer(telegram_id, EnrolStep.UNIT_TYPE, check_unit_type("community"))
    await svc.answer(telegram_id, EnrolStep.UNIT_NAME, check_unit_name("和平里社区"))
    await svc.answer(telegram_id, EnrolStep.DISTRICT, check_district("东城区"))
    await svc.answer(telegram_id, EnrolStep.POSITION, check_position("网格员"))


async def cohort(
    core: Core,
    trainees: tuple[int, ...] = (TRAINEE, OTHER),
    *,
    organiser: int = ORGANISER,
    timezone: str = "Asia/Shanghai",
    practice: dict[str, object] | None = None,
    name: str = "2026秋季社区书记班",
) -> int:
    created = await core.services.cohorts.create(
        name=name,
        course_title="基层治理能力提升专题培训",
        ends_on=ENDS,
        timezone=timezone,
        organiser_telegram_ids=(organiser,),
        practice=practice,
    )
    for telegram_id in trainees:
        await enrol(core, telegram_id, created.trainee_invite.code)
    return created.cohort.id


async def rows(core: Core, model: type, *where: Any) -> list[Any]:
    async with core.uow() as uow:
        return list((await uow.session.scalars(select(model).where(*where))).all())


async def prompts(core: Core, cohort_id: int) -> list[DueItem]:
    found = await rows(core, DueItem, DueItem.kind == PROMPT_KIND, DueItem.cohort_id == cohort_id)
    return sorted(found, key=lambda d: d.due_at)


async def test_prompts_come_on_the_cohort_local_days_and_time(core: Core) -> None:
    weekly = await cohort(core, trainees=())
    due = await prompts(core, weekly)
    # Default: weekly for 8 weeks after the end, at 10:00 Shanghai (02:00 UTC).
    assert [d.due_at for d in due] == [
        datetime(2026, 11, 30, 2, 0, tzinfo=UTC) + timedelta(days=7 * n) for n in range(1, 9)
    ]
    assert [d.payload["number"] for d in due] == list(range(1, 9))
    assert len({d.dedupe_key for d in due}) == 8

    # Configured: every 5 days, 4 times, 19:30 in Urumqi (UTC+6) — and a cohort created
    # after its second prompt (20:00 local on Dec 10) gets only the prompts still to come.
    clock(core).set(datetime(2026, 12, 10, 14, 0, tzinfo=UTC))
    late = await cohort(
        core,
        trainees=(),
        timezone="Asia/Urumqi",
        practice={"reflection_every_days": 5, "reflection_count": 4, "reflection_time": "19:30"},
        name="乌鲁木齐班",
    )
    assert [(d.due_at, d.payload["number"]) for d in await prompts(core, late)] == [
        (datetime(2026, 12, 15, 13, 30, tzinfo=UTC), 3),
        (datetime(2026, 12, 20, 13, 30, tzinfo=UTC), 4),
    ]


async def test_a_prompt_reaches_each_trainee_with_a_start_button(core: Core) -> None:
    cohort_id = await cohort(core)
    first = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    clock(core).set(first - timedelta(minutes=1))
    await core.sweeper.sweep()
    assert await rows(core, OutboxMessage, OutboxMessage.purpose == "reflection") == []
    clock(core).set(first)
    await core.sweeper.sweep()
    sent = await rows(core, OutboxMessage, OutboxMessage.purpose == "reflection")
    assert sorted(m.chat_id for m in sent) == [TRAINEE, OTHER]
    for message in sent:
        text = message.payload["text"]
        assert "第 1/8 次实践反思" in text and "2026秋季社区书记班" in text
        for question in ("我做了什么", "发生了什么", "我学到了什么", "下一步我会尝试什么"):
            assert question in text
        [[button]] = message.payload["reply_markup"]["inline_keyboard"]
        assert button["text"] == "✍️ 开始反思"
        assert button["callback_data"] == ReflectStartCB(milestone=0, prompt=1).pack()
        # 10:00 is outside quiet hours: at once (the test clock ticks on in real time).
        assert first <= message.next_attempt_at < first + timedelta(minutes=1)
    # The prompt is done once: another sweep sends nothing more.
    await core.sweeper.sweep()
    assert len(await rows(core, OutboxMessage, OutboxMessage.purpose == "reflection")) == 2
    done = await prompts(core, cohort_id)
    assert [d.status for d in done][:2] == ["done", "pending"]


async def test_a_prompt_inside_quiet_hours_waits_for_the_morning(core: Core) -> None:
    await cohort(core, trainees=(TRAINEE,), practice={"reflection_time": "22:30"})
    moment = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    clock(core).set(moment)
    await core.sweeper.sweep()
    [message] = await rows(core, OutboxMessage, OutboxMessage.purpose == "reflection")
    assert message.next_attempt_at == datetime(2026, 12, 8, 0, 0, tzinfo=UTC)  # 08:00 local


async def test_a_prompt_found_a_whole_interval_late_is_dropped(core: Core) -> None:
    await cohort(core, trainees=(TRAINEE,))
    clock(core).set(datetime(2026, 12, 14, 2, 0, tzinfo=UTC))  # prompt 1 is a week late
    await core.sweeper.sweep()
    sent = await rows(core, OutboxMessage, OutboxMessage.purpose == "reflection")
    assert ["第 2/8 次" in m.payload["text"] for m in sent] == [True]


async def test_legacy_cohorts_get_their_prompts_once(core: Core) -> None:
    cohort_id = await cohort(core, trainees=())
    async with core.uow() as uow:  # as if the cohort predated reflections
        await uow.session.execute(delete(DueItem).where(DueItem.kind == PROMPT_KIND))
        await uow.commit()
    await core.sweeper.sweep()
    assert len(await prompts(core, cohort_id)) == 8
    async with core.uow() as uow:
        await uow.session.execute(delete(DueItem).where(DueItem.kind == PROMPT_KIND))
        await uow.commit()
    await core.sweeper.sweep()  # once per process
    assert await prompts(core, cohort_id) == []


async def stored(core: Core, reflection_id: int) -> Reflection:
    [reflection] = await rows(core, Reflection, Reflection.id == reflection_id)
    return reflection


async def test_answers_are_saved_one_by_one_and_a_draft_resumes(core: Core) -> None:
    await cohort(core)
    svc = core.services.reflections
    first = await svc.begin(TRAINEE, prompt=3)
    assert isinstance(first, QuestionView)
    assert (first.qid, first.number, first.total, first.can_skip) == ("did", 1, 4, True)
    rid = first.reflection_id
    assert (await stored(core, rid)).status == "draft"

    second = await svc.answer(TRAINEE, rid, "did", Answer(AnswerKind.TEXT, "组织了楼栋议事会"))
    assert isinstance(second, QuestionView) and second.qid == "happened"
    assert (await stored(core, rid)).answers == {
        "did": {"kind": "text", "text": "组织了楼栋议事会", "file_id": None}
    }
    third = await svc.answer(TRAINEE, rid, "happened", Answer(AnswerKind.VOICE, None, "VOICE-1"))
    assert isinstance(third, QuestionView) and third.qid == "learned"
    assert (await stored(core, rid)).answers["happened"] == {
        "kind": "voice",
        "text": None,
        "file_id": "VOICE-1",
    }

    # Someone else cannot answer or resume it.
    assert await svc.answer(OTHER, rid, "learned", Answer(AnswerKind.TEXT, "x")) is (
        Refusal.NOT_YOURS
    )
    assert await svc.resume(OTHER, rid) is Refusal.NOT_YOURS

    # /reflect again (after a restart, say): the draft is offered, and resumes after the
    # last answer.
    offer = await svc.begin(TRAINEE)
    assert isinstance(offer, OpenDraft)
    assert (offer.reflection_id, offer.answered, offer.total) == (rid, 2, 4)
    resumed = await svc.resume(TRAINEE, rid)
    assert isinstance(resumed, QuestionView) and resumed.qid == "learned"

    # Skipping "learned", then a skip of an older question is stale.
    skipped = await svc.skip(TRAINEE, rid, "learned")
    assert isinstance(skipped, QuestionView) and skipped.qid == "next"
    assert await svc.skip(TRAINEE, rid, "did") is Refusal.STALE
    photo = Answer(AnswerKind.PHOTO, "议事会现场", "PHOTO-1")
    summary = await svc.answer(TRAINEE, rid, "next", photo)
    assert isinstance(summary, Summary)
    assert summary.prompt_number == 3
    assert [(q, a.kind if a else None) for q, a in summary.answers] == [
        ("did", AnswerKind.TEXT),
        ("happened", AnswerKind.VOICE),
        ("learned", None),
        ("next", AnswerKind.PHOTO),
    ]
    done = await stored(core, rid)
    assert (done.status, done.prompt_number) == ("done", 3)
    assert done.completed_at is not None and START <= done.completed_at < START + timedelta(1)
    assert done.answers["next"] == {"kind": "photo", "text": "议事会现场", "file_id": "PHOTO-1"}
    assert await svc.answer(TRAINEE, rid, "next", photo) is Refusal.DONE

    # Start over drops a draft; an empty draft is simply replaced by a new start.
    again = await svc.begin(TRAINEE)
    assert isinstance(again, QuestionView) and again.reflection_id != rid
    await svc.answer(TRAINEE, again.reflection_id, "did", Answer(AnswerKind.TEXT, "a"))
    fresh = await svc.restart(TRAINEE, again.reflection_id)
    assert isinstance(fresh, QuestionView) and fresh.qid == "did"
    gone = await stored(core, again.reflection_id)
    assert (gone.status, gone.answers) == ("discarded", {})  # nothing of it is kept
    assert await svc.resume(TRAINEE, again.reflection_id) is Refusal.NOT_YOURS
    replaced = await svc.begin(TRAINEE)
    assert isinstance(replaced, QuestionView)
    assert replaced.reflection_id not in (rid, again.reflection_id, fresh.reflection_id)
    assert (await stored(core, fresh.reflection_id)).status == "discarded"
    drafts = await rows(core, Reflection, Reflection.status == "draft")
    assert [d.id for d in drafts] == [replaced.reflection_id]


async def test_at_least_one_answer_is_needed_to_finish(core: Core) -> None:
    await cohort(core, trainees=(TRAINEE,))
    svc = core.services.reflections
    q = await svc.begin(TRAINEE)
    assert isinstance(q, QuestionView)
    for qid in ("did", "happened", "learned"):
        q = await svc.skip(TRAINEE, q.reflection_id, qid)
        assert isinstance(q, QuestionView)
    assert q.qid == "next" and q.can_skip is False
    assert await svc.skip(TRAINEE, q.reflection_id, "next") is Refusal.NEED_ONE
    assert (await stored(core, q.reflection_id)).status == "draft"
    summary = await svc.answer(TRAINEE, q.reflection_id, "next", Answer(AnswerKind.TEXT, "试试"))
    assert isinstance(summary, Summary)
    assert [a is None for _, a in summary.answers] == [True, True, True, False]


async def test_who_may_reflect_and_in_which_cohort(core: Core) -> None:
    first = await cohort(core, trainees=(TRAINEE,))
    second = await cohort(core, trainees=(TRAINEE, OTHER), name="2026冬季村书记班")
    svc = core.services.reflections
    assert await svc.begin(ORGANISER) is Refusal.NOT_TRAINEE
    assert await svc.begin(99999) is Refusal.NOT_TRAINEE
    choice = await svc.begin(TRAINEE)
    assert isinstance(choice, ChooseCohort)
    assert {c.id for c in choice.cohorts} == {first, second}
    assert await svc.begin(OTHER, cohort_id=first) is Refusal.NOT_YOURS
    chosen = await svc.begin(TRAINEE, cohort_id=first)
    assert isinstance(chosen, QuestionView) and chosen.cohort.id == first


async def add_plan(core: Core, telegram_id: int, cohort_id: int, titles: list[str]) -> list[int]:
    now = clock(core).now()
    async with core.uow() as uow:
        user = await uow.users.by_telegram_id(telegram_id)
        assert user is not None
        plan = Plan(
            user_id=user.id,
            cohort_id=cohort_id,
            area="elevator",
            goal="推动两个单元加装电梯",
            status="active",
            created_at=now,
            updated_at=now,
            milestones=[
                PlanMilestone(
                    position=i,
                    title=title,
                    due_on=date(2027, 1, 10 + i),
                    status="open",
                    created_at=now,
                )
                for i, title in enumerate(titles)
            ],
        )
        uow.session.add(plan)
        await uow.session.flush()
        ids = [m.id for m in plan.milestones]
        await uow.commit()
        return ids


async def test_a_reflection_ties_only_to_the_trainees_own_milestone(core: Core) -> None:
    cohort_id = await cohort(core)
    mine = await add_plan(core, TRAINEE, cohort_id, ["召开居民意见征询会", "完成签字同意"])
    theirs = await add_plan(core, OTHER, cohort_id, ["别人的里程碑"])
    svc = core.services.reflections

    offer = await svc.begin(TRAINEE)
    assert isinstance(offer, ChooseMilestone)
    assert [m.title for m in offer.milestones] == ["召开居民意见征询会", "完成签字同意"]
    assert offer.milestones[0].due_on == date(2027, 1, 10)

    assert await svc.begin(TRAINEE, milestone=theirs[0]) is Refusal.NOT_YOURS
    assert await svc.begin(TRAINEE, milestone=424242) is Refusal.NOT_YOURS
    assert await rows(core, Reflection) == []

    tied = await svc.begin(TRAINEE, milestone=mine[1])
    assert isinstance(tied, QuestionView)
    assert tied.milestone is not None and tied.milestone.title == "完成签字同意"
    assert (await stored(core, tied.reflection_id)).milestone_id == mine[1]

    # "No link" (0) starts without asking again.
    await svc.answer(TRAINEE, tied.reflection_id, "did", Answer(AnswerKind.TEXT, "a"))
    untied = await svc.restart(TRAINEE, tied.reflection_id, milestone=0)
    assert isinstance(untied, QuestionView) and untied.milestone is None
    assert (await stored(core, untied.reflection_id)).milestone_id is None


async def finished(core: Core, telegram_id: int, text: str) -> int:
    svc = core.services.reflections
    q = await svc.begin(telegram_id)
    assert isinstance(q, QuestionView)
    await svc.answer(telegram_id, q.reflection_id, "did", Answer(AnswerKind.TEXT, text))
    for qid in ("happened", "learned", "next"):
        await svc.skip(telegram_id, q.reflection_id, qid)
    assert (await stored(core, q.reflection_id)).status == "done"
    return q.reflection_id


async def test_comments_only_by_the_cohorts_organisers_and_pushed_to_the_trainee(
    core: Core,
) -> None:
    cohort_id = await cohort(core)
    await cohort(core, trainees=(), organiser=OTHER_ORGANISER, name="别的班")
    svc = core.services.reflections
    text = (
        "这次组织了楼栋议事会，先请楼长挨家挨户通知，到场居民二十多人，"
        "大家对加装电梯的分摊方案意见很多，一楼住户担心采光和噪音，高层住户希望尽快开工。"
    )
    rid = await finished(core, TRAINEE, text)

    assert await svc.add_comment(TRAINEE, rid, "自己点评") is CommentRefusal.NOT_ALLOWED
    assert await svc.add_comment(OTHER, rid, "同学点评") is CommentRefusal.NOT_ALLOWED
    assert await svc.add_comment(OTHER_ORGANISER, rid, "别班组织方") is (CommentRefusal.NOT_ALLOWED)
    assert await svc.add_comment(99999, rid, "陌生人") is CommentRefusal.NOT_ALLOWED
    assert await svc.add_comment(ORGANISER, rid, "   ") is CommentRefusal.EMPTY
    assert await svc.add_comment(ORGANISER, rid, "长" * (COMMENT_LIMIT + 1)) is (
        CommentRefusal.TOO_LONG
    )
    assert await svc.add_comment(ORGANISER, 424242, "没有这篇") is CommentRefusal.NOT_FOUND
    draft = await svc.begin(OTHER)
    assert isinstance(draft, QuestionView)
    assert await svc.add_comment(ORGANISER, draft.reflection_id, "草稿") is (
        CommentRefusal.NOT_FOUND
    )
    assert await rows(core, ReflectionComment) == []
    assert await rows(core, OutboxMessage, OutboxMessage.purpose == "reflection") == []

    # 22:00 in Shanghai: the push waits for the end of quiet hours.
    clock(core).set(datetime(2026, 11, 23, 14, 0, tzinfo=UTC))
    comment = await svc.add_comment(ORGANISER, rid, "  分摊方案可以先做个入户调查。  ")
    assert isinstance(comment, CommentDTO)
    assert (comment.reflection_id, comment.author_role) == (rid, "organiser")
    assert comment.text == "分摊方案可以先做个入户调查。"
    [row] = await rows(core, ReflectionComment)
    organiser = (await rows(core, User, User.telegram_id == ORGANISER))[0]
    assert (row.author_user_id, row.text) == (organiser.id, comment.text)

    [push] = await rows(core, OutboxMessage, OutboxMessage.purpose == "reflection")
    assert push.chat_id == TRAINEE
    assert push.next_attempt_at == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    body = push.payload["text"]
    assert "组织方点评了您的实践反思" in body
    assert "2026年11月23日" in body  # the reflection's day
    assert "这次组织了楼栋议事会" in body and text not in body  # an excerpt, not all
    assert "分摊方案可以先做个入户调查。" in body
    audit = await rows(core, AuditEntry, AuditEntry.action == "reflection_commented")
    assert [(a.actor_user_id, a.target_id) for a in audit] == [(organiser.id, rid)]

    # Reads: the organiser's view of the cohort, and the trainee's own.
    recent = await svc.recent_for_cohort(ORGANISER, cohort_id)
    assert recent is not None and [r.id for r in recent] == [rid]
    assert [c.text for c in recent[0].comments] == [comment.text]
    assert recent[0].answers["did"].text == text
    assert await svc.recent_for_cohort(OTHER_ORGANISER, cohort_id) is None
    assert await svc.recent_for_cohort(TRAINEE, cohort_id) is None
    mine = await svc.of_trainee(TRAINEE)
    assert [r.id for r in mine] == [rid] and mine[0].comments[0].author_role == "organiser"
    assert await svc.of_trainee(OTHER) == []
