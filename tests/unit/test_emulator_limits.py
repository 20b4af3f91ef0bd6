"""Telegram's flood limits in the emulator (driven by a fake monotonic clock), failure
injection and the emulator's counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.sandbox.emulator import BotAPIEmulator, ConnectionDropped, ControlError
from bot.sandbox.emulator_faults import FailurePlan
from bot.sandbox.limits import (
    LIMITED_METHODS,
    KeyedWindows,
    SlidingWindow,
    TelegramLimits,
    retry_after_seconds,
)

DATE = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)  # the emulator's date: the limits ignore it
GROUP = -100_500


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def tick() -> FakeMonotonic:
    return FakeMonotonic()


def limits(tick: FakeMonotonic, **rates: Any) -> TelegramLimits:
    return TelegramLimits(clock=tick, **rates)


def send(limiter: TelegramLimits, chat_id: int, method: str = "sendMessage") -> float | None:
    return limiter.check(method, chat_id, DATE)


# -- the windows -------------------------------------------------------------------------------


def test_global_limit_allows_30_per_second_across_chats(tick: FakeMonotonic) -> None:
    limiter = limits(tick)
    assert [send(limiter, chat) for chat in range(1, 31)] == [None] * 30
    assert send(limiter, 31) == pytest.approx(1.0)
    tick.advance(0.25)
    assert send(limiter, 32) == pytest.approx(0.75)
    tick.advance(0.75)  # the first 30 leave the window together
    assert [send(limiter, chat) for chat in range(33, 63)] == [None] * 30
    assert send(limiter, 63) == pytest.approx(1.0)


def test_global_window_slides(tick: FakeMonotonic) -> None:
    limiter = limits(tick, global_per_second=3)
    for chat in (1, 2, 3):
        assert send(limiter, chat) is None
        tick.advance(0.3)
    # now = 0.9: the window holds 0.0, 0.3, 0.6 and frees a slot at 1.0
    assert send(limiter, 4) == pytest.approx(0.1)
    tick.advance(0.1)
    assert send(limiter, 4) is None
    assert send(limiter, 5) == pytest.approx(0.3)  # until 0.3 leaves


def test_per_chat_limit_is_one_per_second_with_a_burst_of_one(tick: FakeMonotonic) -> None:
    limiter = limits(tick)
    assert send(limiter, 7) is None
    assert send(limiter, 7) == pytest.approx(1.0)
    assert send(limiter, 8) is None  # other chats are not affected
    tick.advance(0.6)
    assert send(limiter, 7) == pytest.approx(0.4)
    tick.advance(0.4)
    assert send(limiter, 7) is None


def test_fractional_rates_space_messages_out(tick: FakeMonotonic) -> None:
    limiter = limits(tick, global_per_second=0.5, per_chat_per_second=0.25)
    assert send(limiter, 1) is None
    assert send(limiter, 2) == pytest.approx(2.0)  # global: one message per 2 s
    tick.advance(2.0)
    assert send(limiter, 1) == pytest.approx(2.0)  # chat 1: one message per 4 s
    assert send(limiter, 2) is None


def test_group_limit_is_20_per_minute(tick: FakeMonotonic) -> None:
    limiter = limits(tick)
    for _ in range(20):
        assert send(limiter, GROUP) is None
        tick.advance(1.0)  # a group is also held to one message per second
    # now = 20 s after the first message: the window frees a slot at 60 s
    assert send(limiter, GROUP) == pytest.approx(40.0)
    assert retry_after_seconds(40.0) == 40
    tick.advance(39.5)
    assert retry_after_seconds(send(limiter, GROUP) or 0) == 1
    assert send(limiter, -200) is None  # another group has its own window
    tick.advance(0.5)
    assert send(limiter, GROUP) is None
    assert send(limiter, GROUP) == pytest.approx(1.0)  # the per chat limit


def test_the_wait_covers_every_full_window(tick: FakeMonotonic) -> None:
    limiter = limits(tick, global_per_second=2, per_group_per_minute=2)
    assert send(limiter, GROUP) is None
    tick.advance(1.0)
    assert send(limiter, GROUP) is None
    assert send(limiter, 5) is None
    # the group waits 59 s (its window), not 1 s (global) nor 1 s (per chat)
    assert send(limiter, GROUP) == pytest.approx(59.0)


def test_refused_calls_take_no_capacity(tick: FakeMonotonic) -> None:
    limiter = limits(tick, global_per_second=2)
    assert send(limiter, 1) is None
    assert send(limiter, 2) is None
    for _ in range(50):
        assert send(limiter, 3) is not None
        tick.advance(0.01)
    tick.advance(0.5)  # 1.0 s after the two messages: exactly two slots again
    assert send(limiter, 3) is None
    assert send(limiter, 4) is None
    assert send(limiter, 5) == pytest.approx(1.0)
    # a refused call does not push a chat's window either
    chat_limiter = limits(tick)
    assert send(chat_limiter, 9) is None
    tick.advance(0.9)
    assert send(chat_limiter, 9) is not None
    tick.advance(0.1)
    assert send(chat_limiter, 9) is None


@pytest.mark.parametrize("method", ["answerCallbackQuery", "getUpdates", "sendChatAction", "getMe"])
def test_methods_that_do_not_write_a_message_never_count(tick: FakeMonotonic, method: str) -> None:
    limiter = limits(tick, global_per_second=1)
    assert send(limiter, 1) is None
    for _ in range(5):
        assert send(limiter, 1, method) is None
    tick.advance(1.0)
    assert send(limiter, 2) is None  # they took no slot either


def test_every_sending_and_editing_method_counts(tick: FakeMonotonic) -> None:
    limiter = limits(tick, global_per_second=1000)
    for method in sorted(LIMITED_METHODS):
        assert send(limiter, 1, method) is None
        assert send(limiter, 1, method) is not None, method
        assert send(limiter, 1, method.lower()) is not None, "names are case-insensitive"
        tick.advance(1.0)
    assert "answerCallbackQuery" not in LIMITED_METHODS


def test_the_emulator_date_does_not_free_a_window(tick: FakeMonotonic) -> None:
    limiter = limits(tick)
    assert limiter.check("sendMessage", 1, DATE) is None
    assert limiter.check("sendMessage", 1, DATE + timedelta(days=7)) == pytest.approx(1.0)


def test_state_of_idle_chats_is_dropped(tick: FakeMonotonic) -> None:
    limiter = limits(tick, global_per_second=100_000)
    step = 2**-14  # exact in binary: 10,000 chats in 0.61 s
    for chat in range(1, 10_001):
        assert send(limiter, chat) is None
        tick.advance(step)
    assert send(limiter, GROUP) is None
    assert limiter.tracked_chats() == 10_002  # the group is in both windows
    tick.advance(1.0 - 5_000 * step)  # 1 s after chat 5,001 wrote
    assert limiter.tracked_chats() == 4_999 + 2
    tick.advance(5_000 * step)
    assert limiter.tracked_chats() == 1  # only the group's 60 s window
    tick.advance(60.0)
    assert limiter.tracked_chats() == 0


def test_keyed_windows_hold_only_recent_events() -> None:
    windows = KeyedWindows(capacity=3, period=1.0)
    for step in range(1000):
        now = step * 0.1  # each of 3 keys writes every 0.3 s: 3 or 4 times a second
        key = step % 3
        if windows.wait(key, now) == 0.0:
            windows.add(key, now)
        # at most 9 events (3 per key) are remembered, over at most 3 keys
        assert len(windows._expiries) <= 9
        assert len(windows) <= 3
    assert windows.wait(0, 1000.0) == 0.0
    assert len(windows._expiries) == 0
    assert len(windows) == 0


def test_sliding_window_and_retry_after_rounding() -> None:
    window = SlidingWindow(capacity=1, period=3.0)
    assert window.wait(0.0) == 0.0
    window.add(0.0)
    assert window.wait(1.0) == pytest.approx(2.0)
    assert window.wait(3.0) == 0.0
    assert len(window) == 0
    assert retry_after_seconds(0.001) == 1
    assert retry_after_seconds(1.0000000000000002) == 1
    assert retry_after_seconds(1.01) == 2
    assert retry_after_seconds(59.0) == 59


@pytest.mark.parametrize(
    "rates",
    [{"global_per_second": 0}, {"per_chat_per_second": -1}, {"per_group_per_minute": 0}],
)
def test_limits_must_be_positive(rates: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        TelegramLimits(**rates)  # type: ignore[arg-type]


# -- the emulator with limits (no HTTP) --------------------------------------------------------


@pytest.fixture
def emulator() -> BotAPIEmulator:
    emulator = BotAPIEmulator("1:x", clock=lambda: DATE)
    for user_id in (1, 2, 3):
        emulator.add_user(user_id, f"U{user_id}")
    emulator.add_group(GROUP, "班级群")
    return emulator


async def call(emulator: BotAPIEmulator, method: str, **params: Any) -> dict[str, Any]:
    return await emulator.call_api(method, params)


async def test_a_refused_call_answers_429_and_sends_nothing(
    emulator: BotAPIEmulator, tick: FakeMonotonic
) -> None:
    emulator.limiter = limits(tick, per_chat_per_second=0.4)  # one message per 2.5 s
    assert (await call(emulator, "sendMessage", chat_id=1, text="一"))["ok"]
    tick.advance(1.0)
    refused = await call(emulator, "sendMessage", chat_id=1, text="二")
    assert refused == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 2",
        "parameters": {"retry_after": 2},
    }
    assert [m["text"] for m in emulator.messages(1)] == ["一"]
    assert emulator.delivered_count(1) == 1
    stats = emulator.stats()
    assert stats["too_many_requests"] == 1
    assert stats["delivered"] == {"sendMessage": 1}


async def test_calls_refused_for_other_reasons_take_no_capacity(
    emulator: BotAPIEmulator, tick: FakeMonotonic
) -> None:
    emulator.limiter = limits(tick, global_per_second=1)
    sent = await call(emulator, "sendMessage", chat_id=1, text="一")
    tick.advance(1.0)
    for bad in (
        {"chat_id": 1, "text": "<b>broken", "parse_mode": "HTML"},  # 400: bad HTML
        {"chat_id": 404, "text": "x"},  # 400: chat not found
    ):
        assert (await call(emulator, "sendMessage", **bad))["error_code"] == 400
    same = {"chat_id": 1, "message_id": sent["result"]["message_id"], "text": "一"}
    assert (await call(emulator, "editMessageText", **same))["error_code"] == 400
    emulator.block(2)
    assert (await call(emulator, "sendMessage", chat_id=2, text="x"))["error_code"] == 403
    assert (await call(emulator, "sendChatAction", chat_id=1, action="typing"))["ok"]
    assert (await call(emulator, "editMessageText", **{**same, "text": "改"}))["ok"]
    assert (await call(emulator, "sendMessage", chat_id=3, text="x"))["error_code"] == 429


async def test_blocked_user_gets_403_on_every_writing_method(emulator: BotAPIEmulator) -> None:
    sent = await call(emulator, "sendMessage", chat_id=1, text="hi")
    message_id = sent["result"]["message_id"]
    photo = await call(emulator, "sendPhoto", chat_id=1, photo="https://example.com/a.png")
    emulator.block(1)
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("sendMessage", {"text": "x"}),
        ("sendPhoto", {"photo": "https://example.com/b.png"}),
        ("sendDocument", {"document": "https://example.com/c.pdf"}),
        ("sendChatAction", {"action": "typing"}),
        ("copyMessage", {"from_chat_id": 1, "message_id": message_id}),
        ("forwardMessage", {"from_chat_id": 1, "message_id": message_id}),
        ("editMessageText", {"message_id": message_id, "text": "y"}),
        (
            "editMessageCaption",
            {"message_id": photo["result"]["message_id"], "caption": "c"},
        ),
        ("editMessageReplyMarkup", {"message_id": message_id, "reply_markup": None}),
    ]
    for method, params in attempts:
        answer = await call(emulator, method, chat_id=1, **params)
        assert answer["error_code"] == 403, (method, answer)
        assert answer["description"] == "Forbidden: bot was blocked by the user"
    assert emulator.stats()["forbidden"] == len(attempts)
    assert emulator.delivered_count(1) == 2


async def test_injected_failures_are_consumed_in_order(emulator: BotAPIEmulator) -> None:
    emulator.inject_failures("sendMessage", 1, 500, count=2)
    emulator.inject_failures("sendmessage", None, 400, description="Bad Request: chat not found")
    emulator.inject_failures("*", 2, 502)
    answers = [await call(emulator, "sendMessage", chat_id=1, text="x") for _ in range(4)]
    assert [a.get("error_code") for a in answers] == [500, 500, 400, None]
    assert answers[0]["description"] == "Internal Server Error"
    assert answers[2]["description"] == "Bad Request: chat not found"
    assert (await call(emulator, "sendChatAction", chat_id=2, action="typing"))["error_code"] == 502
    assert (await call(emulator, "sendChatAction", chat_id=2, action="typing"))["ok"]
    assert emulator.injected_failures() == []
    assert emulator.delivered_count(1) == 1
    stats = emulator.stats()
    assert stats["injected_failures"] == 4
    assert stats["injected"] == {"400": 1, "500": 2, "502": 1}
    assert stats["errors"] == {}  # injected failures are counted apart
    assert [c.injected for c in emulator.calls if not c.ok] == [True] * 4


async def test_injected_429_and_dropped_connection(emulator: BotAPIEmulator) -> None:
    emulator.inject_failures("sendMessage", 1, 429, retry_after=7)
    emulator.inject_failures("sendMessage", 1, 0)
    answer = await call(emulator, "sendMessage", chat_id=1, text="x")
    assert answer["parameters"] == {"retry_after": 7}
    assert answer["description"] == "Too Many Requests: retry after 7"
    with pytest.raises(ConnectionDropped):
        await call(emulator, "sendMessage", chat_id="1", text="x")
    assert emulator.calls[-1].error_code == 0
    assert emulator.messages(1) == []


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("sendMesage", None, 500), "unknown method"),
        (("sendMessage", None, 200), "status must be"),
        (("sendMessage", None, 500, 0), "count must be"),
    ],
)
def test_bad_failure_injections_are_refused(
    emulator: BotAPIEmulator, args: tuple[Any, ...], error: str
) -> None:
    with pytest.raises(ControlError, match=error):
        emulator.inject_failures(*args)


def test_failure_plan_matches_chat_ids_sent_as_strings() -> None:
    plan = FailurePlan()
    plan.add("sendMessage", 42, 500)
    assert plan.take("sendMessage", {"chat_id": "41"}) is None
    assert plan.take("editMessageText", {"chat_id": 42}) is None
    assert plan.take("sendMessage", {"chat_id": "42"}) is not None
    assert plan.take("sendMessage", {"chat_id": 42}) is None


async def test_stats_duplicates_and_reset(emulator: BotAPIEmulator) -> None:
    for chat_id, text in [(1, "课"), (1, "课"), (2, "课"), (2, "作业"), (GROUP, "群"), (1, "课")]:
        assert (await call(emulator, "sendMessage", chat_id=chat_id, text=text))["ok"]
    emulator.send_text(2, "作业")  # the user's own messages don't count
    await call(emulator, "editMessageText", chat_id=2, message_id=1, text="新课")
    await call(emulator, "answerCallbackQuery", callback_query_id="nope")
    assert emulator.duplicates(lambda m: m.text) == {1: ["课"]}
    assert emulator.duplicates(lambda m: None) == {}
    assert [emulator.delivered_count(c) for c in (1, 2, 3, GROUP)] == [3, 2, 0, 1]
    stats = emulator.stats()
    assert stats["calls"] == 8
    assert stats["delivered"] == {"editMessageText": 1, "sendMessage": 6}
    assert stats["delivered_total"] == 7
    assert stats["errors"] == {"400": 1}
    assert stats["delivered_per_chat"] == {
        "chats": 3,
        "messages": 6,
        "max": 3,
        "histogram": {"1": 1, "2": 1, "3": 1},
    }
    emulator.reset()
    assert emulator.stats()["calls"] == 0
    assert emulator.stats()["delivered_per_chat"]["chats"] == 0
