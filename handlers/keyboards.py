"""Inline keyboards built from content labels."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.content import Translator
from bot.domain.model import UnitType
from handlers.callbacks import (
    AREAS_DONE,
    AreaCB,
    CapacityCB,
    ConsentCB,
    DeleteCB,
    LangCB,
    UnitTypeCB,
)

CAPACITY_CHOICES = (1, 2, 3, 4, 5, 6, 8, 10)


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
