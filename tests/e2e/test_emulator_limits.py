"""Flood limits, 403s and injected failures as a real aiogram Bot meets them over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.sandbox.client import EmulatorClient, EmulatorControlError
from bot.sandbox.emulator import BotAPIEmulator
from bot.sandbox.limits import TelegramLimits

pytestmark = pytest.mark.e2e

TOKEN = "7000000001:AAEmulatorTestTokenForXueyong_bot-1"
USERS = range(2001, 2011)
GROUP = -1001234567890


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def tick() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
async def emulator() -> AsyncIterator[BotAPIEmulator]:
    emu = BotAPIEmulator(TOKEN, clock=lambda: datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    await emu.start()
    for user_id in USERS:
        emu.add_user(user_id, f"学员{user_id}")
    emu.add_group(GROUP, "学用一班", chat_type="supergroup")
    yield emu
    await emu.stop()


@pytest.fixture
async def bot(emulator: BotAPIEmulator) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url))
    async with Bot(TOKEN, session=session) as tg_bot:
        yield tg_bot


@pytest.fixture
async def phone(emulator: BotAPIEmulator) -> AsyncIterator[EmulatorClient]:
    async with EmulatorClient(emulator.base_url) as client:
        yield client


async def test_the_global_limit_answers_retry_after(
    bot: Bot, emulator: BotAPIEmulator, phone: EmulatorClient, tick: FakeMonotonic
) -> None:
    emulator.limiter = TelegramLimits(global_per_second=4, clock=tick)
    users = list(USERS)
    for user_id in users[:4]:
        await bot.send_message(user_id, "第一课")
    tick.now += 0.3
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(users[4], "第一课")
    assert caught.value.retry_after == 1
    assert "Too Many Requests: retry after 1" in caught.value.message
    assert await phone.messages(users[4]) == []  # the refused call sent nothing

    tick.now += 0.7  # the window has slid past the first four
    for user_id in users[4:8]:
        await bot.send_message(user_id, "第一课")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(users[8], "第一课")

    stats = await phone.stats()
    assert stats.delivered == {"sendMessage": 8}
    assert stats.too_many_requests == 2
    assert stats.errors == {429: 2}
    assert (stats.chats, stats.messages, stats.max_per_chat) == (8, 8, 1)
    assert stats.histogram == {1: 8}
    assert await phone.delivered_count(users[0]) == 1
    assert await phone.delivered_count(users[8]) == 0


async def test_per_chat_and_group_limits(
    bot: Bot, emulator: BotAPIEmulator, phone: EmulatorClient, tick: FakeMonotonic
) -> None:
    emulator.limiter = TelegramLimits(per_group_per_minute=3, clock=tick)
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="好", callback_data="ok")]]
    )
    sent = await bot.send_message(2001, "你好", reply_markup=markup)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.edit_message_text("你好！", chat_id=2001, message_id=sent.message_id)
    assert caught.value.retry_after == 1
    # Answering a button press is not a message: the full chat window doesn't matter.
    pressed = await phone.press(2001, sent.message_id, data="ok")
    assert await bot.answer_callback_query(pressed.callback_query_id, text="收到")
    tick.now += 1.0
    await bot.edit_message_text("你好！", chat_id=2001, message_id=sent.message_id)

    for _ in range(3):
        tick.now += 1.0
        await bot.send_message(GROUP, "通知")
    tick.now += 1.0
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(GROUP, "通知")
    assert caught.value.retry_after == 57  # the first group message leaves at +60 s
    tick.now += 57.0
    await bot.send_message(GROUP, "通知")
    stats = await phone.stats()
    assert stats.too_many_requests == 2
    assert stats.delivered == {"editMessageText": 1, "sendMessage": 5}


async def test_limits_over_the_control_api(
    bot: Bot, emulator: BotAPIEmulator, phone: EmulatorClient
) -> None:
    # Real monotonic time here: a window of 100 s can't free up during the test.
    config = await phone.set_limits(global_per_second=0.01, per_chat_per_second=5)
    assert config == {
        "enabled": True,
        "global_per_second": 0.01,
        "per_chat_per_second": 5,
        "per_group_per_minute": 20,
    }
    assert isinstance(emulator.limiter, TelegramLimits)
    await bot.send_message(2001, "一")
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(2002, "二")
    assert 99 <= caught.value.retry_after <= 100
    assert await phone.set_limits(enabled=False) == {"enabled": False}
    await bot.send_message(2002, "二")
    with pytest.raises(EmulatorControlError, match="must be a positive number"):
        await phone.set_limits(global_per_second=0)


async def test_a_blocked_user_gives_forbidden(
    bot: Bot, emulator: BotAPIEmulator, phone: EmulatorClient
) -> None:
    sent = await bot.send_message(2001, "欢迎")
    await phone.block(2001)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(2001, "还在吗")
    with pytest.raises(TelegramForbiddenError):
        await bot.copy_message(2001, from_chat_id=2001, message_id=sent.message_id)
    with pytest.raises(TelegramForbiddenError):
        await bot.edit_message_text("改", chat_id=2001, message_id=sent.message_id)
    stats = await phone.stats()
    assert (stats.forbidden, stats.delivered_total, stats.errors) == (3, 1, {403: 3})


async def test_injected_failures(bot: Bot, emulator: BotAPIEmulator, phone: EmulatorClient) -> None:
    emulator.inject_failures("sendMessage", 2001, 500, count=2)
    for _ in range(2):
        with pytest.raises(TelegramServerError, match="Internal Server Error"):
            await bot.send_message(2001, "重试")
    await bot.send_message(2001, "重试")  # the third attempt goes through

    await phone.inject_failure("sendMessage", 2002, 400, description="Bad Request: chat not found")
    await phone.inject_failure("sendMessage", 2003, 502)
    await phone.inject_failure("sendMessage", 2004, 429, retry_after=9)
    await phone.inject_failure("sendMessage", 2005, 0)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(2002, "x")
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await bot.send_message(2003, "x")
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(2004, "x")
    assert caught.value.retry_after == 9
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(2005, "x")
    for user_id in (2002, 2003, 2004, 2005):
        await bot.send_message(user_id, "x")  # each rule was used up

    stats = await phone.stats()
    assert stats.injected_failures == 6
    assert stats.raw["injected"] == {"0": 1, "400": 1, "429": 1, "500": 2, "502": 1}
    assert stats.errors == {}
    assert stats.too_many_requests == 0
    assert stats.delivered == {"sendMessage": 5}
    assert stats.messages == 5
    assert [m.text for m in await phone.messages(2001)] == ["重试"]
    calls = await phone.calls(errors_only=True)
    assert [(c.error_code, c.injected) for c in calls] == [
        (500, True),
        (500, True),
        (400, True),
        (502, True),
        (429, True),
        (0, True),
    ]

    with pytest.raises(EmulatorControlError, match="unknown method"):
        await phone.inject_failure("sendMesage", None, 500)
    await phone.inject_failure("*", None, 503, count=5)
    await phone.clear_failures()
    await bot.send_message(2001, "好了")


async def test_duplicates_over_the_control_api(bot: Bot, phone: EmulatorClient) -> None:
    await bot.send_message(2001, "<b>第二课</b>", parse_mode="HTML")
    await bot.send_message(2001, "第二课")
    await bot.send_message(2002, "第二课")
    assert await phone.duplicates() == {2001: ["第二课"]}
    assert await phone.duplicates(by="source") == {}
    stats = await phone.stats()
    assert stats.histogram == {1: 1, 2: 1}
