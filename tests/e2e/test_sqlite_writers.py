"""Fifty people writing at the same moment, through the real bot: fifty newcomers enrol step
by step in lockstep (every step a write: consent, name, unit, district, position, the
invite's use counter that all of them share), then each picks the area of a plan. With
SQLite (WAL, busy timeout; bot/db/engine.py) nobody sees "database is locked" or the
error message, and every write is there afterwards. Runs on PostgreSQL too when it is
configured."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import date

import pytest
from sqlalchemy import func, select

from bot.db.models import Enrolment, Invite, Plan, User
from bot.sandbox.client import ChatMessage, EmulatorClient
from tests.e2e.harness import Phone, RunningBot

pytestmark = pytest.mark.e2e

WRITERS = 50
FIRST_ID = 970_001
TIMEOUT = 60.0  # one step of fifty, on a loaded machine


@pytest.fixture(autouse=True)
def _fifty_handlers_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """All fifty updates of a step are handled at once (by default sixteen are), each with
    a database connection of its own; the flood control never trips on these scripts."""
    monkeypatch.setenv("HANDLER_CONCURRENCY", str(WRITERS + 14))
    monkeypatch.setenv("DB_POOL_SIZE", str(WRITERS + 14))
    monkeypatch.setenv("THROTTLE_RATE", "0")


async def count(running: RunningBot, model: type, *where: object) -> int:
    async with running.core.uow() as uow:
        query = select(func.count()).select_from(model).where(*where)  # type: ignore[arg-type]
        return int(await uow.session.scalar(query) or 0)


async def test_fifty_people_write_at_once_without_database_is_locked(
    running: RunningBot, client: EmulatorClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    created = await running.core.services.cohorts.create(
        name="2026秋季社区书记班",
        course_title="基层治理能力提升专题培训",
        ends_on=date(2026, 12, 20),
        timezone="Asia/Shanghai",
    )
    code = created.trainee_invite.code
    phones = [Phone(client, FIRST_ID + n) for n in range(WRITERS)]
    for phone in phones:
        await client.add_user(phone.user_id, f"学员{phone.user_id}")
    texts = running.core.texts

    async def everyone(step: Callable[[int, Phone], Awaitable[ChatMessage]]) -> list[ChatMessage]:
        return list(await asyncio.gather(*(step(n, p) for n, p in enumerate(phones))))

    def expect(replies: list[ChatMessage], key: str, **params: object) -> None:
        wanted = texts.plain("zh-CN", key, **params).split("<", 1)[0][:12]  # its first words
        wrong = [(r.chat_id, r.text) for r in replies if wanted not in (r.text or "")]
        assert wrong == [], (key, wrong[:3])

    notices = await everyone(lambda n, p: p.say(f"/start {code}", TIMEOUT))
    asked = await everyone(lambda n, p: p.tap_then_read("同意并继续", notices[n], TIMEOUT))
    expect(asked, "ask.name", limit=32)
    asked = await everyone(lambda n, p: p.say(f"学员{n:02d}", TIMEOUT))
    expect(asked, "ask.unit_type")
    asked = await everyone(lambda n, p: p.tap_then_read("社区（居委会）", asked[n], TIMEOUT))
    expect(asked, "ask.unit_name", unit_type="社区（居委会）", example="")
    asked = await everyone(lambda n, p: p.say(f"第{n}社区", TIMEOUT))
    expect(asked, "ask.district", limit=40)
    asked = await everyone(lambda n, p: p.say("东城区", TIMEOUT))
    expect(asked, "ask.position")
    welcomes = await everyone(lambda n, p: p.say("网格员", TIMEOUT))
    assert all("报名完成" in (w.text or "") for w in welcomes), welcomes[0].text

    await everyone(lambda n, p: p.say("/plan", TIMEOUT))
    areas = [await client.last_bot_message(p.user_id) for p in phones]
    asked = await everyone(lambda n, p: p.tap_then_read("加装电梯", areas[n], TIMEOUT))
    expect(asked, "plan.ask.goal", limit=0)

    problems = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR or "locked" in r.getMessage()
    ]
    assert problems == []
    error_text = texts.plain("zh-CN", "error")
    for phone in phones:
        assert error_text not in "\n".join(await phone.transcript())
    assert await count(running, User, User.consent_at.is_not(None)) == WRITERS
    assert await count(running, Enrolment, Enrolment.status == "active") == WRITERS
    assert await count(running, Plan) == WRITERS
    async with running.core.uow() as uow:
        invite = await uow.session.scalar(select(Invite).where(Invite.code == code))
        assert invite is not None and invite.uses == WRITERS  # one counter, fifty writers
