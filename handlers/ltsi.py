"""LTSI self-checks in the chat: one question at a time in one message, edited in place.

The invitation (or a reminder, or /check) carries a start button; every press goes to
LtsiService, which owns the position and refuses stale or foreign presses (shown as a
toast). At the last answer the diagnosis follows: radar chart, text, and follow-ups.
"""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.charts.fonts import MissingFontError
from bot.content import Translator
from bot.content.ltsi import LtsiBank
from bot.domain.ltsi import SCALE_MAX, SCALE_MIN, split_messages
from bot.domain.notices import TEXT_LIMIT, progress_bar
from bot.services.ltsi import (
    Diagnosis,
    FollowUpKind,
    LtsiService,
    Paused,
    Question,
    Refusal,
    lq,
)
from bot.services.ltsi_chart import diagnosis_radar_png
from bot.services.users import UserContext
from handlers import later
from handlers.callbacks import LtsiCB
from handlers.editing import edit_text

log = logging.getLogger(__name__)

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")

MESSAGE_LIMIT = TEXT_LIMIT  # Telegram's, for one text message
ANSWERS = {str(v) for v in range(SCALE_MIN, SCALE_MAX + 1)}


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def question_view(q: Question, bank: LtsiBank, t: Translator) -> tuple[str, InlineKeyboardMarkup]:
    bar, _ = progress_bar(q.position, q.total)
    text = t(
        "ltsi.question",
        wave=t.plain(f"ltsi.wave.{q.wave}"),
        number=q.position + 1,
        total=q.total,
        bar=bar,
        text=bank.item(q.item_id).text(t.locale),
    )
    # Built directly: aiogram's InlineKeyboardBuilder deep-copies every button, which shows
    # in a profile under load (bench.ltsi); this keyboard is built 48 times a check.
    r, p = q.response_id, q.position
    rows = [
        [
            InlineKeyboardButton(
                text=t.plain(
                    "ltsi.chosen" if q.chosen == value else "ltsi.option",
                    value=value,
                    label=bank.scale_label(t.locale, value),
                ),
                callback_data=lq(r, p, str(value)),
            )
        ]
        for value in bank.scale_values
    ]
    controls = [
        InlineKeyboardButton(text=t.plain("ltsi.pause_button"), callback_data=lq(r, p, "p"))
    ]
    if p > 0:
        back = InlineKeyboardButton(text=t.plain("ltsi.back_button"), callback_data=lq(r, p, "b"))
        controls.insert(0, back)
    rows.append(controls)
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def _paused_view(p: Paused, t: Translator) -> tuple[str, InlineKeyboardMarkup]:
    text = t(
        "ltsi.paused",
        wave=t.plain(f"ltsi.wave.{p.wave}"),
        answered=p.answered,
        total=p.total,
        closes=t.moment(p.closes_at, p.timezone),
    )
    kb = InlineKeyboardBuilder()
    kb.button(
        text=t.plain("ltsi.continue_button"),
        callback_data=LtsiCB(r=p.response_id, p=p.position, a="s"),
    )
    return text, kb.as_markup()


@router.callback_query(LtsiCB.filter())
async def pressed(
    query: CallbackQuery,
    callback_data: LtsiCB,
    bot: Bot,
    ltsi: LtsiService,
    t: Translator,
) -> None:
    message = query.message
    if not isinstance(message, Message):  # too old for Telegram to show us
        await query.answer(t.plain("ltsi.toast.stale"))
        return
    user_id, r, p, a = query.from_user.id, callback_data.r, callback_data.p, callback_data.a
    result: Question | Paused | Diagnosis | Refusal
    if a in ANSWERS:
        result = await ltsi.answer(user_id, r, p, int(a), message.message_id)
    elif a == "s":
        result = await ltsi.start(user_id, r, message.message_id)
    elif a == "b":
        result = await ltsi.back(user_id, r, p, message.message_id)
    elif a == "p":
        result = await ltsi.pause(user_id, r, p, message.message_id)
    elif a == "d":
        shown = await ltsi.diagnosis(user_id, r)
        if isinstance(shown, Refusal):
            await query.answer(t.plain(f"ltsi.toast.{shown.value}"))
            return
        await query.answer()
        await send_diagnosis(bot, message.chat.id, shown, ltsi, t, with_follow_ups=False)
        return
    else:
        result = Refusal.NOT_YOURS

    if isinstance(result, Refusal):
        await query.answer(t.plain(f"ltsi.toast.{result.value}"))
        return
    await query.answer()
    if isinstance(result, Question):
        text, markup = question_view(result, ltsi.bank, t)
        await edit_text(message, text, markup)
    elif isinstance(result, Paused):
        text, markup = _paused_view(result, t)
        await edit_text(message, text, markup)
    else:
        await edit_text(
            message, t("ltsi.finished", wave=t.plain(f"ltsi.wave.{result.wave}"), total=p + 1)
        )
        # The chart takes ~0.1 s of CPU: the press is answered now, the diagnosis follows.
        later.after_reply(
            send_diagnosis(bot, message.chat.id, result, ltsi, t, with_follow_ups=True),
            f"diagnosis of self-check {result.response_id}",
        )


async def send_diagnosis(
    bot: Bot,
    chat_id: int,
    d: Diagnosis,
    ltsi: LtsiService,
    t: Translator,
    *,
    with_follow_ups: bool,
) -> None:
    """The radar chart, then the diagnosis text (split at Telegram's limit between entries),
    then, the first time, the draft message to the leader."""
    bank = ltsi.bank
    wave = t.plain(f"ltsi.wave.{d.wave}")
    previous = t.plain(f"ltsi.wave.{d.previous_wave}") if d.previous_wave else None
    try:
        png = await diagnosis_radar_png(d, bank, t)
    except MissingFontError:
        log.error("no CJK font: the diagnosis goes out without its chart")
    else:
        await bot.send_photo(
            chat_id,
            BufferedInputFile(png, filename="ltsi.png"),
            caption=t("ltsi.chart_caption", wave=wave, previous=previous),
        )

    for text in split_messages(diagnosis_parts(d, bank, t), MESSAGE_LIMIT):
        await bot.send_message(chat_id, text)

    factors = d.follow_ups.get(FollowUpKind.LEADER_DRAFT)
    if with_follow_ups and factors is not None:
        await bot.send_message(chat_id, t("ltsi.leader_draft_intro"))
        await bot.send_message(
            chat_id,
            t(
                "ltsi.leader_draft",
                name=d.trainee_name or t.plain("ltsi.someone"),
                course=d.cohort.course_title,
                support="supervisor_support" in factors,
                coaching="performance_coaching" in factors,
            ),
        )
        await ltsi.follow_up_done(d.response_id, FollowUpKind.LEADER_DRAFT)


def diagnosis_parts(d: Diagnosis, bank: LtsiBank, t: Translator) -> list[str]:
    """The diagnosis as entries that may go to different messages but are never cut."""
    low, high = d.thresholds
    groups = []
    for g in bank.groups:
        value = d.groups.get(g.id)
        before = d.previous_groups.get(g.id) if d.previous_groups else None
        delta = None
        if value is not None and before is not None:
            change = value - before
            if abs(change) < 0.05:
                delta = t.plain("ltsi.delta_same")
            else:
                key = "ltsi.delta_up" if change > 0 else "ltsi.delta_down"
                delta = t.plain(key, value=f"{abs(change):.1f}")
        groups.append({"name": g.name(t.locale), "score": _score(value), "delta": delta})
    previous = t.plain(f"ltsi.wave.{d.previous_wave}") if d.previous_wave else None
    parts = [
        t(
            "ltsi.diagnosis_header",
            wave=t.plain(f"ltsi.wave.{d.wave}"),
            previous=previous,
            groups=groups,
        )
    ]
    if d.catalysts:
        top = [
            {
                "name": bank.factor(c.factor).name(t.locale),
                "score": _score(c.score),
                "description": bank.factor(c.factor).description(t.locale),
            }
            for c in d.catalysts[:3]
        ]
        parts.append(t("ltsi.catalysts", high=f"{high:g}", factors=top))
    else:
        parts.append(t("ltsi.no_catalysts", high=f"{high:g}"))
    if d.barriers:
        parts.append(t("ltsi.barriers_header", low=f"{low:g}"))
        for b in d.barriers:
            factor = bank.factor(b.factor)
            parts.append(
                t(
                    "ltsi.barrier",
                    name=factor.name(t.locale),
                    score=_score(b.score),
                    description=factor.description(t.locale),
                    suggestion=factor.suggestion(t.locale),
                )
            )
    else:
        parts.append(t("ltsi.no_barriers", low=f"{low:g}"))
    for kind in FollowUpKind:
        if kind in d.follow_ups:
            parts.append(t(f"ltsi.follow_up.{kind.value}"))
    parts.append(
        t(
            "ltsi.thresholds",
            note=bank.thresholds.note(t.locale),
            low=f"{low:g}",
            high=f"{high:g}",
        )
    )
    return parts


@router.message(Command("check"))
async def check(message: Message, ltsi: LtsiService, ctx: UserContext, t: Translator) -> None:
    assert message.from_user is not None
    overview = await ltsi.overview(message.from_user.id)
    if not overview.is_trainee:
        if ctx.user is None or ctx.user.consent_at is None:
            await message.answer(t("ltsi.check.not_enrolled"))
        else:
            await message.answer(t("ltsi.check.not_trainee", organiser=ctx.is_organiser))
        return
    for check_ in overview.open:
        question = await ltsi.peek(message.from_user.id, check_.response_id)
        if isinstance(question, Refusal):
            continue
        await message.answer(
            t(
                "ltsi.check.resume",
                wave=t.plain(f"ltsi.wave.{check_.wave}"),
                answered=check_.answered,
                total=check_.total,
            )
        )
        text, markup = question_view(question, ltsi.bank, t)
        sent = await message.answer(text, reply_markup=markup)
        bound = await ltsi.start(message.from_user.id, check_.response_id, sent.message_id)
        if isinstance(bound, Question) and bound != question:
            text, markup = question_view(bound, ltsi.bank, t)
            await sent.edit_text(text, reply_markup=markup)
        return
    kb = InlineKeyboardBuilder()
    if overview.latest_done is not None:
        kb.button(
            text=t.plain("ltsi.check.latest_button"),
            callback_data=LtsiCB(r=overview.latest_done, p=0, a="d"),
        )
    await message.answer(
        t(
            "ltsi.check.nothing_open",
            next=t.plain(f"ltsi.wave.{overview.next_wave}") if overview.next_wave else None,
            when=(t.moment(overview.next_at, overview.timezone) if overview.next_at else None),
            latest=overview.latest_done is not None,
        ),
        reply_markup=kb.as_markup() if overview.latest_done is not None else None,
    )
