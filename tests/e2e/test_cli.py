"""The command line as an operator uses it: create a cohort, run the bot, enrol by the link."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import load_settings
from bot.core import build_core
from bot.db.models import Enrolment, User, UserRole
from bot.sandbox.client import EmulatorClient
from bot.sandbox.emulator import BotAPIEmulator
from tests.conftest import Backend
from tests.e2e.harness import ROOT, Phone, process_env, spawn_bot

pytestmark = pytest.mark.e2e


async def xueyong(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, out.decode(), err.decode()


async def test_cohort_create_run_and_enrol(
    backend: Backend, emulator: BotAPIEmulator, client: EmulatorClient, tmp_path: Path
) -> None:
    env = process_env(backend, emulator, ORGANISER_IDS="777")
    code, out, err = await xueyong(
        env,
        "cohort",
        "create",
        "--name",
        "2026秋季社区书记班",
        "--course",
        "基层治理",
        "--ends",
        "2026-12-01",
        "--trainee-limit",
        "30",
        "--organiser",
        "778",
        "--ltsi-offsets",
        "0,21,45",
        "--reflections",
        "14,4",
    )
    assert code == 0, err
    assert "reflection prompts: 4, every 14 days, 2026-12-15 to 2027-01-26 at 10:00" in out, out
    # The self-checks' dates, in the cohort's time: course end, then days 21 and 45.
    assert "self-check course_end: 2026-12-01 16:00 CST" in out, out
    assert "self-check day30: 2026-12-22 10:00 CST" in out, out
    assert "self-check day60: 2027-01-15 10:00 CST" in out, out
    trainee_code = re.search(r"trainee invite code: (\w+)", out)
    link = re.search(r"trainee link: (\S+)", out)
    assert trainee_code and link, out
    # The bot's username comes from getMe, so the printed link is the real deep link.
    assert link.group(1) == f"https://t.me/xueyong_bot?start={trainee_code.group(1)}"

    code, out, err = await xueyong(env, "cohort", "list")
    assert code == 0 and "2026秋季社区书记班" in out and "used 0/30" in out, out + err
    code, out, _ = await xueyong(env, "organiser", "add", "779")
    assert code == 0 and "now an organiser" in out
    code, out, _ = await xueyong(env, "cohort", "add-organiser", "1", "779")
    assert code == 0 and "now organises cohort #1" in out
    code, out, _ = await xueyong(env, "cohort", "add-organiser", "1", "779")
    assert code == 0 and "already organises" in out
    code, _, err = await xueyong(env, "cohort", "add-organiser", "99", "779")
    assert code == 2 and "no cohort #99" in err

    log = tmp_path / "bot.log"
    bot = await spawn_bot(env, log=log)
    try:
        assert await emulator.wait_for_poller(timeout=30), "the bot never started polling"
        phone = Phone(client, 4242)
        notice = await phone.say(f"/start {trainee_code.group(1)}", timeout=15)
        await phone.tap("同意并继续", on=notice)
        await phone.next_message()
        await phone.say("周九")
        await phone.tap_then_read("村")
        await phone.say("李家村")
        await phone.say("东城区")
        welcome = await phone.say("村委会主任")
        assert welcome.text is not None and "报名完成" in welcome.text
        organiser = Phone(client, 777)
        greeting = await organiser.say("/start")
        assert greeting.text is not None and "组织方" in greeting.text
    finally:
        bot.send_signal(signal.SIGTERM)
        await asyncio.wait_for(bot.communicate(), timeout=30)
    assert bot.returncode == 0, log.read_text()[-2000:]
    assert emulator.errors() == []

    core = build_core(load_settings(DATABASE_URL=backend.database_url))
    try:
        async with core.uow() as uow:
            user = await uow.users.by_telegram_id(4242)
            assert user is not None and user.full_name == "周九"
            statuses = (await uow.session.scalars(select(Enrolment.status))).all()
            # the trainee, and organisers 778 and 779
            assert sorted(statuses) == ["active", "active", "active"]
            organisers = (
                await uow.session.scalars(
                    select(User.telegram_id).join(UserRole).where(UserRole.role == "organiser")
                )
            ).all()
            assert sorted(organisers) == [778, 779]
    finally:
        await core.close()


async def test_bad_arguments_are_explained(backend: Backend, emulator: BotAPIEmulator) -> None:
    env = process_env(backend, emulator)
    code, _, err = await xueyong(
        env, "cohort", "create", "--name", "x", "--course", "y", "--ends", "2026-13-01"
    )
    assert code == 2 and "not a date" in err
    code, _, err = await xueyong(
        env,
        "cohort",
        "create",
        "--name",
        "x",
        "--course",
        "y",
        "--ends",
        "2026-12-01",
        "--timezone",
        "Mars/Olympus",
    )
    assert code == 2 and "unknown timezone" in err
    for offsets, why in (("0,60,30", "must grow"), ("0,30", "three day counts")):
        code, _, err = await xueyong(
            env,
            "cohort",
            "create",
            "--name",
            "x",
            "--course",
            "y",
            "--ends",
            "2026-12-01",
            "--ltsi-offsets",
            offsets,
        )
        assert code == 2 and why in err, err


async def test_run_without_a_token_starts_the_sandbox(
    backend: Backend, emulator: BotAPIEmulator, tmp_path: Path
) -> None:
    import socket

    import aiohttp

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = process_env(backend, emulator)
    env["BOT_TOKEN"] = ""
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'sandbox.sqlite3'}"
    log = tmp_path / "sandbox.log"
    process = await spawn_bot(env, "--port", str(port), log=log)
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
        assert f"http://127.0.0.1:{port}" in line.decode(), line
        url = f"http://127.0.0.1:{port}/_sandbox/state"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            state = await response.json()
        assert "不连接 Telegram" in state["sandbox_notice"]
        assert {p["role"] for p in state["personas"]} == {
            "organiser",
            "mentor",
            "trainee",
            "visitor",
        }
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, log.read_text()[-2000:]
    assert "starting the offline sandbox" in log.read_text()
