"""The Bot API emulator driven by a real aiogram Bot over HTTP, plus the phone client."""

from __future__ import annotations

import asyncio
import base64
import struct
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.sandbox.client import EmulatorClient, EmulatorControlError
from bot.sandbox.emulator import BotAPIEmulator

pytestmark = pytest.mark.e2e

TOKEN = "7000000001:AAEmulatorTestTokenForXueyong_bot-1"
ALICE = 1001
BOB = 1002


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def emulator(clock: FakeClock) -> AsyncIterator[BotAPIEmulator]:
    emu = BotAPIEmulator(TOKEN, clock=clock)
    await emu.start()
    emu.add_user(ALICE, "丽丽", username="lili")
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


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=text, callback_data=data) for text, data in row]
            for row in rows
        ]
    )


async def test_get_me(bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == 7000000001
    assert me.is_bot
    assert me.username == "xueyong_bot"


async def test_send_message_with_keyboard_press_and_long_poll(
    bot: Bot, emulator: BotAPIEmulator, phone: EmulatorClient, clock: FakeClock
) -> None:
    sent = await bot.send_message(
        ALICE,
        "<b>欢迎</b> to <i>学用</i>",
        parse_mode="HTML",
        reply_markup=keyboard([("开始 Start", "start:1"), ("帮助", "help")]),
    )
    assert sent.message_id == 1
    assert sent.text == "欢迎 to 学用"
    assert [(e.type, e.offset, e.length) for e in sent.entities or []] == [
        ("bold", 0, 2),
        ("italic", 6, 2),
    ]
    assert sent.from_user is not None and sent.from_user.is_bot
    assert sent.date == clock.now
    assert sent.reply_markup is not None
    assert sent.reply_markup.inline_keyboard[0][0].callback_data == "start:1"

    seen = await phone.last_bot_message(ALICE)
    assert seen is not None
    assert seen.html == "<b>欢迎</b> to <i>学用</i>"
    assert seen.button("Start").callback_data == "start:1"

    # The long poll must return as soon as the press happens, not at its timeout.
    poll = asyncio.create_task(bot.get_updates(timeout=10, allowed_updates=["callback_query"]))
    assert await emulator.wait_for_poller(timeout=5)
    started = time.monotonic()
    pressed = await phone.press(ALICE, sent.message_id, text="帮助")
    updates = await asyncio.wait_for(poll, timeout=5)
    assert time.monotonic() - started < 1.0
    assert len(updates) == 1
    query = updates[0].callback_query
    assert query is not None
    assert query.id == pressed.callback_query_id
    assert query.data == "help"
    assert query.from_user.id == ALICE
    assert query.message is not None and query.message.message_id == sent.message_id
    assert query.chat_instance

    assert await bot.answer_callback_query(query.id, text="好的", show_alert=True)
    answers = await phone.callback_answers(ALICE)
    assert [(a.text, a.show_alert, a.data) for a in answers] == [("好的", True, "help")]
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)

    # The offset confirms the update: it is not delivered again.
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == []

    clock.now += timedelta(minutes=5)
    edited = await bot.edit_message_text(
        "已更新",
        chat_id=ALICE,
        message_id=sent.message_id,
        reply_markup=keyboard([("再来", "again")]),
    )
    assert isinstance(edited, Message)
    assert edited.edit_date is not None
    assert edited.edit_date == int(clock.now.timestamp())
    reply = await phone.next_reply(ALICE)
    assert (reply.event, reply.message_id, reply.text, reply.edited) == (
        "edit",
        sent.message_id,
        "已更新",
        True,
    )
    assert reply.button_texts == ["再来"]
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "已更新",
            chat_id=ALICE,
            message_id=sent.message_id,
            reply_markup=keyboard([("再来", "again")]),
        )
    # The old button is gone: a phone can't press it any more, but a forger can.
    with pytest.raises(EmulatorControlError, match="no callback button"):
        await phone.press(ALICE, sent.message_id, data="help")
    forged = await phone.press(ALICE, sent.message_id, data="help", forge=True)
    assert forged.callback_query_id

    assert [call.description for call in emulator.errors()] == [
        "Bad Request: query is too old and response timeout expired or query ID is invalid",
        "Bad Request: message is not modified: specified new message content and reply markup "
        "are exactly the same as a current content and reply markup of the message",
    ]


async def test_refusals_like_telegram(
    bot: Bot, emulator: BotAPIEmulator, phone: EmulatorClient
) -> None:
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(ALICE, "字" * 4097)
    # 2049 emoji are 4098 UTF-16 code units
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(ALICE, "😀" * 2049)
    assert (await bot.send_message(ALICE, "字" * 4096)).text == "字" * 4096
    # counted after HTML parsing
    assert await bot.send_message(ALICE, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")

    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(ALICE, "hi", reply_markup=keyboard([("x", "数" * 22)]))  # 66 bytes
    assert await bot.send_message(ALICE, "hi", reply_markup=keyboard([("x", "数" * 21)]))
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(ALICE, "hi", reply_markup=keyboard([("x", "")]))

    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(424242, "hello?")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(ALICE, "1 < 2", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(ALICE, "<b>bold</i>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(ALICE, "<b> </b>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=ALICE, message_id=999)
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(ALICE, BufferedInputFile(b"\x89PNG fake", "a.png"), caption="c" * 1025)

    await phone.block(ALICE)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(ALICE, "are you there?")
    await phone.unblock(ALICE)
    assert await bot.send_message(ALICE, "welcome back")

    rejected = [call.method for call in emulator.errors()]
    assert rejected == ["sendMessage"] * 8 + ["editMessageText", "sendPhoto", "sendMessage"]


async def test_documents_round_trip(bot: Bot, emulator: BotAPIEmulator) -> None:
    content = "学用 — 课程笔记\n".encode() * 100
    sent = await bot.send_document(
        ALICE,
        BufferedInputFile(content, filename="课程笔记.txt"),
        caption="<b>笔记</b>",
        parse_mode="HTML",
    )
    assert sent.document is not None
    assert sent.document.file_name == "课程笔记.txt"
    assert sent.document.mime_type == "text/plain"
    assert sent.document.file_size == len(content)
    assert sent.caption == "笔记"

    file = await bot.get_file(sent.document.file_id)
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None
    assert downloaded.read() == content

    # the file_id can be sent again, and a photo is a photo
    again = await bot.send_document(ALICE, sent.document.file_id)
    assert again.document is not None and again.document.file_id == sent.document.file_id
    with pytest.raises(TelegramBadRequest):
        await bot.send_photo(ALICE, sent.document.file_id)
    assert [call.method for call in emulator.errors()] == ["sendPhoto"]


async def test_commands_and_webhook_settings(bot: Bot, emulator: BotAPIEmulator) -> None:
    commands = [
        BotCommand(command="start", description="开始"),
        BotCommand(command="help", description="帮助"),
    ]
    assert await bot.set_my_commands(commands)
    assert await bot.set_my_commands(commands[:1], scope=BotCommandScopeChat(chat_id=ALICE))
    assert await bot.set_my_commands(commands[1:], language_code="zh")
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert [c.command for c in await bot.get_my_commands(language_code="zh")] == ["help"]
    scoped = await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=ALICE))
    assert [c.command for c in scoped] == ["start"]
    with pytest.raises(TelegramBadRequest, match="LANG_CODE_INVALID"):
        await bot.set_my_commands(commands, language_code="zh-hans")
    assert await bot.delete_my_commands(language_code="zh")
    assert await bot.get_my_commands(language_code="zh") == []
    assert await bot.set_my_description("学用机器人")
    assert await bot.set_my_short_description("学以致用")
    assert emulator.bot_text("description") == "学用机器人"

    assert await bot.set_webhook("https://example.com/hook", secret_token="s3cret")
    info = await bot.get_webhook_info()
    assert info.url == "https://example.com/hook"
    assert emulator.webhook.secret_token == "s3cret"
    with pytest.raises(TelegramConflictError):
        await bot.get_updates()
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates(timeout=0) == []


async def test_dispatcher_conversation(
    bot: Bot, emulator: BotAPIEmulator, phone: EmulatorClient
) -> None:
    """A real aiogram polling loop talking to a phone, with no sleeps anywhere."""
    dp = Dispatcher()

    @dp.message(CommandStart())
    async def on_start(message: Message) -> None:
        payload = (message.text or "").partition(" ")[2]
        await message.answer(
            f"你好，<b>{message.from_user.first_name if message.from_user else '?'}</b>！"
            f"邀请码 {payload}",
            parse_mode="HTML",
            reply_markup=keyboard([("继续", "next")]),
        )

    @dp.callback_query(F.data == "next")
    async def on_next(query: CallbackQuery) -> None:
        await query.answer("👍")
        if isinstance(query.message, Message):
            await query.message.edit_text("第二步")

    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False)
    )
    try:
        await phone.add_user(BOB, "Bob", username="bob")
        sent = await phone.send_text(BOB, "/start ABC123")
        greeting = await phone.next_reply(BOB)
        assert greeting.text == "你好，Bob！邀请码 ABC123"
        assert greeting.html == "你好，<b>Bob</b>！邀请码 ABC123"
        assert greeting.message_id == sent.message_id + 1

        await phone.press(BOB, greeting, text="继续")
        step2 = await phone.next_reply(BOB)
        assert (step2.event, step2.text, step2.buttons) == ("edit", "第二步", [])
        assert [a.text for a in await phone.callback_answers(BOB)] == ["👍"]
        assert await phone.settle(BOB, quiet=0.1) == []

        history = await phone.messages(BOB)
        assert [(m.direction, m.text) for m in history] == [
            ("in", "/start ABC123"),
            ("out", "第二步"),
        ]
        assert history[0].entities == [{"offset": 0, "length": 6, "type": "bot_command"}]
    finally:
        await dp.stop_polling()
        await polling
    assert await phone.errors() == []


async def test_control_api_and_raw_http(emulator: BotAPIEmulator, phone: EmulatorClient) -> None:
    base = emulator.base_url
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/bot{TOKEN}/sendMessage", json={"chat_id": ALICE, "txt": "x"}
        ) as r:
            body = await r.json()
            assert r.status == 400
            assert body["ok"] is False
            assert 'unknown parameter "txt"' in body["description"]
        async with http.get(f"{base}/botWRONG:token/getMe") as r:
            assert r.status == 401
            assert await r.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        async with http.get(f"{base}/bot{TOKEN}/noSuchMethod") as r:
            assert r.status == 404
        async with http.get(f"{base}/bot{TOKEN}/sendPoll?chat_id={ALICE}&question=q") as r:
            assert (
                "method not supported by the emulator: sendPoll" in (await r.json())["description"]
            )
        # case-insensitive method names, query-string parameters
        async with http.get(f"{base}/bot{TOKEN}/SENDMESSAGE?chat_id={ALICE}&text=hi") as r:
            assert (await r.json())["result"]["text"] == "hi"

    # waiting for a reply that never comes times out quickly (408 on the wire)
    await phone.send_text(ALICE, "hello?")
    with pytest.raises(TimeoutError):
        await phone.next_reply(ALICE, timeout=0.05)
    with pytest.raises(EmulatorControlError, match="does not exist"):
        await phone.press(ALICE, 77, data="x")
    messages = await phone.messages(ALICE)
    assert [m.text for m in messages] == ["hi", "hello?"]
    calls = await phone.calls(errors_only=True)
    assert [c.error_code for c in calls] == [400, 401, 404, 400]


async def test_rate_limiter_hook(bot: Bot, emulator: BotAPIEmulator) -> None:
    class AlwaysBusy:
        def check(self, method: str, chat_id: int, now: datetime) -> float | None:
            return 3.0

    emulator.limiter = AlwaysBusy()
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(ALICE, "spam")
    assert caught.value.retry_after == 3


def tiny_png(width: int, height: int) -> bytes:
    """Just enough of a PNG for the emulator to read its size."""
    ihdr = struct.pack(">II", width, height) + b"\x08\x02\x00\x00\x00"
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\x00" * 4


async def test_phone_sends_media_replies_and_blocks(
    bot: Bot, emulator: BotAPIEmulator, phone: EmulatorClient
) -> None:
    png = tiny_png(300, 200)
    await phone.send(ALICE, photo={"data_base64": base64.b64encode(png).decode()}, caption="看")
    homework = "答案：学以致用".encode()
    await phone.send(
        ALICE,
        document={
            "file_name": "作业.txt",
            "mime_type": "text/plain",
            "data_base64": base64.b64encode(homework).decode(),
        },
    )
    await phone.send(ALICE, voice={"duration": 3})
    await phone.send(ALICE, sticker={"emoji": "👍"})
    await phone.send(ALICE, location={"latitude": 39.9, "longitude": 116.4})
    await phone.send(ALICE, contact={"phone_number": "+86 10 1234 5678"})
    await phone.send(ALICE, text="这是回复", reply_to_message_id=1)
    with pytest.raises(EmulatorControlError, match="exactly one of"):
        await phone.send(ALICE, text="a", photo={})
    with pytest.raises(EmulatorControlError, match="bad location payload"):
        await phone.send(ALICE, location={"latitude": 1})
    await phone.block(ALICE)

    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == sorted(u.update_id for u in updates)
    messages = [u.message for u in updates if u.message is not None]
    assert [m.message_id for m in messages] == [1, 2, 3, 4, 5, 6, 7]
    photo, document, voice, sticker, location, contact, reply = messages
    assert photo.photo is not None and (photo.photo[-1].width, photo.photo[-1].height) == (300, 200)
    assert photo.caption == "看"
    assert document.document is not None and document.document.file_name == "作业.txt"
    file = await bot.get_file(document.document.file_id)
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == homework
    assert voice.voice is not None and voice.voice.duration == 3
    assert sticker.sticker is not None and sticker.sticker.emoji == "👍"
    assert location.location is not None and location.location.latitude == 39.9
    assert contact.contact is not None and contact.contact.first_name == "丽丽"
    assert reply.reply_to_message is not None and reply.reply_to_message.message_id == 1
    member = updates[-1].my_chat_member
    assert member is not None and member.new_chat_member.status == "kicked"

    # the bot may re-send a user's photo by file_id; and a real upload gets its size read
    assert photo.photo is not None
    await phone.unblock(ALICE)
    echoed = await bot.send_photo(
        ALICE, photo.photo[-1].file_id, caption="<i>收到</i>", parse_mode="HTML"
    )
    assert echoed.caption == "收到"
    seen = await phone.last_bot_message(ALICE)
    assert seen is not None and seen.kind == "photo" and seen.html == "<i>收到</i>"
    assert seen.photo is not None and seen.photo["width"] == 300
    assert emulator.errors() == []


async def test_reply_keyboards_groups_and_deletes(
    bot: Bot, emulator: BotAPIEmulator, phone: EmulatorClient
) -> None:
    sent = await bot.send_message(
        ALICE,
        "选一个",
        reply_markup=ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text="是"), KeyboardButton(text="否")]],
            resize_keyboard=True,
        ),
    )
    assert sent.reply_markup is None  # Telegram only echoes inline keyboards
    assert (await phone.chat(ALICE))["reply_keyboard"] == [["是", "否"]]
    await bot.send_message(ALICE, "好", reply_markup=ReplyKeyboardRemove())
    assert (await phone.chat(ALICE))["reply_keyboard"] is None

    assert await bot.delete_message(ALICE, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(ALICE, sent.message_id)
    history = await phone.messages(ALICE)
    assert [(m.message_id, m.deleted) for m in history] == [(1, True), (2, False)]

    await phone.add_group(-100500, "学习小组")
    await phone.send(BOB, text="/start@xueyong_bot", chat_id=-100500)
    updates = await bot.get_updates(timeout=0)
    message = updates[-1].message
    assert message is not None
    assert (message.chat.type, message.chat.title) == ("group", "学习小组")
    assert message.from_user is not None and message.from_user.id == BOB
    reply = await bot.send_message(-100500, "大家好")
    assert reply.chat.id == -100500
    assert [m.text for m in await phone.messages(-100500)] == ["/start@xueyong_bot", "大家好"]
    assert [c.method for c in emulator.errors()] == ["deleteMessage"]
