"""handlers.editing.shows: whether an edit would leave the pressed message as it is."""

from __future__ import annotations

import datetime as dt

from aiogram.types import Chat, InlineKeyboardButton, InlineKeyboardMarkup, Message, MessageEntity

from handlers.editing import shows


def _markup(*labels: str) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(text=label, callback_data=label)] for label in labels]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _message(
    text: str | None,
    entities: list[MessageEntity] | None = None,
    markup: InlineKeyboardMarkup | None = None,
) -> Message:
    return Message(
        message_id=1,
        date=dt.datetime(2026, 11, 24, tzinfo=dt.UTC),
        chat=Chat(id=1, type="private"),
        text=text,
        entities=entities,
        reply_markup=markup,
    )


# "📋 案例库" in bold, then a line: the bold covers 6 UTF-16 units (the emoji counts two).
SHOWN = _message(
    "📋 案例库\n加装电梯 · 2 个案例",
    [MessageEntity(type="bold", offset=0, length=6)],
    _markup("上一页", "返回"),
)
HTML = "<b>📋 案例库</b>\n加装电梯 · 2 个案例"


def test_the_same_view_is_recognised() -> None:
    assert shows(SHOWN, HTML, _markup("上一页", "返回"))
    # Telegram trims the end of a message.
    assert shows(SHOWN, HTML + "\n", _markup("上一页", "返回"))


def test_any_difference_means_an_edit() -> None:
    markup = _markup("上一页", "返回")
    assert not shows(SHOWN, HTML.replace("2", "3"), markup)
    assert not shows(SHOWN, HTML.replace("<b>", "<i>").replace("</b>", "</i>"), markup)
    assert not shows(SHOWN, "📋 案例库\n加装电梯 · 2 个案例", markup)  # the bold is gone
    assert not shows(SHOWN, HTML, _markup("上一页"))
    assert not shows(SHOWN, HTML, None)


def test_no_buttons_equals_an_empty_keyboard() -> None:
    plain = _message("已撤回", markup=None)
    assert shows(plain, "已撤回", None)
    assert shows(plain, "已撤回", InlineKeyboardMarkup(inline_keyboard=[]))
    assert not shows(plain, "已撤回", _markup("撤回"))


def test_escaped_text_and_unparsable_html() -> None:
    assert shows(_message("a < b & c"), "a &lt; b &amp; c", None)
    assert not shows(_message("a < b"), "a < b", None)  # Telegram would refuse it: edit, see
    assert not shows(_message(None), "照片", None)  # a photo: its caption is another edit
