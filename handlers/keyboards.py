"""Inline keyboards built from content labels."""

from __future__ import annotations

import contextlib

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.content import Translator
from bot.domain.model import EnrolmentStatus, Profile, Role, UnitType
from handlers.callbacks import (
    AREAS_DONE,
    STRENGTHS_DONE,
    AreaCB,
    BioSkipCB,
    CapacityCB,
    ConsentCB,
    DeleteCB,
    LangCB,
    ProfileCB,
    StrengthCB,
    UnitTypeCB,
)

CAPACITY_CHOICES = (1, 2, 3, 4, 5, 6, 8, 10)


async def drop_buttons(message: Message) -> None:
    """Take the inline buttons off a message the person pressed, if it still shows any: a
    second press, or a button forged onto a message without any, would have Telegram answer
    "message is not modified" (and, unhandled, show the person an error)."""
    if message.reply_markup is None or not message.reply_markup.inline_keyboard:
        return
    with contextlib.suppress(TelegramBadRequest):  # two presses at once: one of them is late
        await message.edit_reply_markup(reply_markup=None)


def consent(t: Translator, code: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t.plain("consent.agree"), callback_data=ConsentCB(agree=True, code=code))
    kb.button(text=t.plain("consent.decline"), callback_data=ConsentCB(agree=False, code=code))
    kb.adjust(1)
    return kb.as_markup()


def unit_types(t: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for unit in UnitType:
        kb.button(text=t.plain(f"unit_type.{unit.value}"), callback_data=UnitTypeCB(value=unit))
    kb.adjust(1)
    return kb.as_markup()


def mentor_areas(t: Translator, selected: tuple[str, ...]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for area_id in t.texts.area_ids():
        mark = "✅ " if area_id in selected else ""
        kb.button(text=f"{mark}{t.area(area_id)}", callback_data=AreaCB(area=area_id))
    kb.button(text=t.plain("ask.mentor_areas_done"), callback_data=AreaCB(area=AREAS_DONE))
    kb.adjust(2)
    return kb.as_markup()


def mentor_strengths(t: Translator, selected: tuple[str, ...]) -> InlineKeyboardMarkup:
    """The strengths multi-select while enrolling."""
    kb = InlineKeyboardBuilder()
    for strength_id in t.texts.strength_ids():
        mark = "✅ " if strength_id in selected else ""
        kb.button(text=f"{mark}{t.strength(strength_id)}", callback_data=StrengthCB(s=strength_id))
    kb.button(text=t.plain("ask.mentor_strengths_done"), callback_data=StrengthCB(s=STRENGTHS_DONE))
    kb.adjust(1)
    return kb.as_markup()


def bio_skip(t: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t.plain("ask.mentor_bio_skip"), callback_data=BioSkipCB())
    return kb.as_markup()


def profile_edit(t: Translator, profile: Profile) -> InlineKeyboardMarkup | None:
    """Under /me: change the district, and for a mentor the strengths and the bio. None
    while an enrolment is still being answered (its questions come first)."""
    if any(e.status is EnrolmentStatus.PENDING for e in profile.enrolments):
        return None
    kb = InlineKeyboardBuilder()
    district_key = "me.edit_district" if profile.user.district else "me.add_district"
    kb.button(text=t.plain(district_key), callback_data=ProfileCB(a="d"))
    mentor = any(
        e.role is Role.MENTOR and e.status is EnrolmentStatus.ACTIVE for e in profile.enrolments
    )
    if mentor and profile.mentor is not None:
        kb.button(text=t.plain("me.edit_strengths"), callback_data=ProfileCB(a="s"))
        kb.button(text=t.plain("me.edit_bio"), callback_data=ProfileCB(a="b"))
    kb.adjust(1)
    return kb.as_markup()


def profile_strengths(t: Translator, selected: tuple[str, ...]) -> InlineKeyboardMarkup:
    """The strengths multi-select when editing from /me."""
    kb = InlineKeyboardBuilder()
    for strength_id in t.texts.strength_ids():
        mark = "✅ " if strength_id in selected else ""
        kb.button(
            text=f"{mark}{t.strength(strength_id)}", callback_data=ProfileCB(a="t", v=strength_id)
        )
    kb.button(text=t.plain("ask.mentor_strengths_done"), callback_data=ProfileCB(a="ok"))
    kb.adjust(1)
    return kb.as_markup()


def profile_bio(t: Translator, has_bio: bool) -> InlineKeyboardMarkup | None:
    if not has_bio:
        return None
    kb = InlineKeyboardBuilder()
    kb.button(text=t.plain("me.clear_bio"), callback_data=ProfileCB(a="c"))
    return kb.as_markup()


def capacity(max_value: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for value in CAPACITY_CHOICES:
        if value <= max_value:
            kb.button(text=str(value), callback_data=CapacityCB(value=value))
    kb.adjust(4)
    return kb.as_markup()


def languages(t: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for locale in t.texts.locales:
        name = t.texts.plain(locale, "language_name")
        kb.button(text=name, callback_data=LangCB(locale=locale))
    kb.adjust(2)
    return kb.as_markup()


def delete_confirm(t: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t.plain("delete.erase"), callback_data=DeleteCB(confirm=True))
    kb.button(text=t.plain("delete.keep"), callback_data=DeleteCB(confirm=False))
    kb.adjust(2)
    return kb.as_markup()
