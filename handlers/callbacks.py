"""Callback data of every inline button. Ids and short codes only: 64 bytes at most."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class ConsentCB(CallbackData, prefix="cs"):
    agree: bool
    code: str


class UnitTypeCB(CallbackData, prefix="ut"):
    value: str


class AreaCB(CallbackData, prefix="ma"):
    area: str  # an area id, or DONE


class CapacityCB(CallbackData, prefix="mc"):
    value: int


class LangCB(CallbackData, prefix="lg"):
    locale: str


class DeleteCB(CallbackData, prefix="dd"):
    confirm: bool


AREAS_DONE = "_done"


class BroadcastCB(CallbackData, prefix="bc"):
    action: str  # cohort | aud | ack | send | sched | cancel
    draft: int = 0
    value: str = ""


class AckCB(CallbackData, prefix="ack"):
    """A recipient's "received". Packs as bot.domain.delivery.ack_action(id)."""

    broadcast_id: int


class LtsiCB(CallbackData, prefix="lq"):
    """A self-check button. Packs as bot.services.ltsi.lq(r, p, a)."""

    r: int  # response id
    p: int  # the question the message shows (0-based)
    a: str  # "1".."5" an answer | b back | p pause | s start/continue | d show the diagnosis


class ReportCB(CallbackData, prefix="rp"):
    action: str  # show | csv | csvn (with names)
    cohort: int
