"""The mentor's side: /digest (a mentor's current digest; an organiser picks any mentor of
their cohorts), /log (a guidance session in four steps), and "read and comment" on a
mentee's reflection from the digest.

Every button names ids only; MentoringService checks the match again on each press, so a
button of an ended match, or of someone else's mentee, gets a toast and changes nothing.
FSM state holds only the log being typed and the reflection being commented on.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.content import Translator
from bot.domain.digest import NEXT_STEP_LIMIT, NOTES_LIMIT, TOPIC_LIMIT
from bot.domain.ltsi import split_messages
from bot.domain.notices import TEXT_LIMIT, excerpt
from bot.domain.practice import COMMENT_LIMIT, TextCheck, check_text, parse_past_day
from bot.services.mentoring import (
    OTHER_TOPIC,
    DigestView,
    MenteeChoice,
    MentoringService,
    ReflectionRead,
    Refusal,
    SessionSaved,
)
from bot.services.reflections import CommentRefusal, ReflectionService
from handlers import keyboards
from handlers.callbacks import MentoringCB

log = logging.getLogger(__name__)

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")


class LogForm(StatesGroup):
    day = State()  # data: gd_c, gd_t, gd_name
    topic = State()  # + gd_day
    notes = State()  # + gd_topic
    next_step = State()  # + gd_notes


class Commenting(StatesGroup):
    text = State()  # data: gd_r (the reflection), gd_name


def _message(query: CallbackQuery) -> Message | None:
    return query.message if isinstance(query.message, Message) else None


def _markup(buttons: tuple[tuple[str, str], ...]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=label, callback_data=data)] for label, data in buttons
        ]
    )


async def _send_digest(message: Message, view: DigestView) -> None:
    for part in view.messages:
        await message.answer(part.text, reply_markup=_markup(part.buttons))


def _refusal_text(refusal: Refusal, t: Translator) -> str:
    return t.plain(f"mentoring.refusal.{refusal.value}")


# -- /digest -----------------------------------------------------------------------------


@router.message(Command("digest"))
async def digest_command(
    message: Message, state: FSMContext, mentoring: MentoringService, t: Translator
) -> None:
    assert message.from_user is not None
    await state.set_state(None)
    views = await mentoring.digest(message.from_user.id)
    mentors = await mentoring.mentors_to_view(message.from_user.id)
    if isinstance(views, list):
        for view in views:
            await _send_digest(message, view)
    elif mentors is None:
        await message.answer(t(f"mentoring.{views.value}"))
        return
    if mentors is None:
        return
    if not mentors:
        await message.answer(t("mentoring.digest.no_mentors"))
        return
    kb = InlineKeyboardBuilder()
    for m in mentors:
        kb.button(
            text=t.plain("mentoring.digest.mentor_button", name=m.name, cohort=m.cohort_name),
            callback_data=MentoringCB(a="od", c=m.cohort_id, i=m.mentor_user_id),
        )
    kb.adjust(1)
    await message.answer(t("mentoring.digest.choose_mentor"), reply_markup=kb.as_markup())


@router.callback_query(MentoringCB.filter(F.a == "od"))
async def organiser_picked(
    query: CallbackQuery, callback_data: MentoringCB, mentoring: MentoringService, t: Translator
) -> None:
    message = _message(query)
    view = await mentoring.digest_of(query.from_user.id, callback_data.c, callback_data.i, t.locale)
    if message is None or isinstance(view, Refusal):
        await query.answer(t.plain("problem.stale_button"), show_alert=False)
        return
    await query.answer()
    await _send_digest(message, view)


# -- /log --------------------------------------------------------------------------------


@router.message(Command("log"))
async def log_command(
    message: Message, state: FSMContext, mentoring: MentoringService, t: Translator
) -> None:
    assert message.from_user is not None
    await state.set_state(None)
    found = await mentoring.mentees(message.from_user.id)
    if isinstance(found, Refusal):
        await message.answer(t(f"mentoring.{found.value}"))
        return
    if len(found) == 1:
        await _start_log(message, found[0], state, mentoring, t)
        return
    kb = InlineKeyboardBuilder()
    several_cohorts = len({m.cohort_id for m in found}) > 1
    for m in found:
        kb.button(
            text=t.plain(
                "mentoring.mentee_button",
                name=m.name,
                cohort=m.cohort_name if several_cohorts else "",
            ),
            callback_data=MentoringCB(a="lg", c=m.cohort_id, i=m.trainee_user_id),
        )
    kb.adjust(1)
    await message.answer(t("mentoring.choose_mentee"), reply_markup=kb.as_markup())


@router.callback_query(MentoringCB.filter(F.a == "lg"))
async def log_pressed(
    query: CallbackQuery,
    callback_data: MentoringCB,
    state: FSMContext,
    mentoring: MentoringService,
    t: Translator,
) -> None:
    message = _message(query)
    found = await mentoring.mentee(query.from_user.id, callback_data.c, callback_data.i)
    if message is None or isinstance(found, Refusal):
        refusal = found if isinstance(found, Refusal) else Refusal.NOT_YOURS
        await query.answer(_refusal_text(refusal, t), show_alert=True)
        return
    await query.answer()
    await _start_log(message, found, state, mentoring, t)


async def _start_log(
    message: Message,
    mentee: MenteeChoice,
    state: FSMContext,
    mentoring: MentoringService,
    t: Translator,
) -> None:
    today = await mentoring.today(mentee.cohort_id)
    await state.set_state(LogForm.day)
    await state.update_data(gd_c=mentee.cohort_id, gd_t=mentee.trainee_user_id, gd_name=mentee.name)
    await message.answer(t("mentoring.log.ask_day", name=mentee.name, today=t.date(today)))


def _text_problem(checked: TextCheck, t: Translator) -> str:
    assert checked.problem is not None
    return t(
        f"mentoring.log.text.{checked.problem.value}", length=checked.length, limit=checked.limit
    )


@router.message(StateFilter(LogForm.day), F.text, ~F.text.startswith("/"))
async def day_answered(
    message: Message, state: FSMContext, mentoring: MentoringService, t: Translator
) -> None:
    assert message.text is not None
    data = await state.get_data()
    today = await mentoring.today(int(data["gd_c"]))
    parsed = parse_past_day(message.text, today)
    if parsed.value is None:
        assert parsed.problem is not None
        await message.answer(
            t(
                f"mentoring.log.date.{parsed.problem.value}",
                text=excerpt(message.text),  # echoed back: a date, or the start of whatever it was
                today=t.date(today),
            )
        )
        return
    await state.set_state(LogForm.topic)
    await state.update_data(gd_day=parsed.value.isoformat())
    await _ask_topic(message, data, mentoring, t)


async def _ask_topic(
    message: Message, data: dict[str, Any], mentoring: MentoringService, t: Translator
) -> None:
    c, i = int(data["gd_c"]), int(data["gd_t"])
    kb = InlineKeyboardBuilder()
    for topic in mentoring.topics:
        kb.button(
            text=topic.label(t.locale), callback_data=MentoringCB(a="tp", c=c, i=i, v=topic.id)
        )
    kb.button(
        text=t.plain("mentoring.log.other_button"),
        callback_data=MentoringCB(a="tp", c=c, i=i, v=OTHER_TOPIC),
    )
    kb.adjust(2)
    await message.answer(
        t("mentoring.log.ask_topic", limit=TOPIC_LIMIT), reply_markup=kb.as_markup()
    )


async def _current_log(
    state: FSMContext, callback_data: MentoringCB, wanted: State
) -> dict[str, Any] | None:
    """The log in progress that this button belongs to, if it is at the step `wanted`."""
    if await state.get_state() != wanted.state:
        return None
    data = await state.get_data()
    if int(data.get("gd_c", 0)) != callback_data.c or int(data.get("gd_t", 0)) != callback_data.i:
        return None
    return data


@router.callback_query(MentoringCB.filter(F.a == "tp"))
async def topic_pressed(
    query: CallbackQuery,
    callback_data: MentoringCB,
    state: FSMContext,
    mentoring: MentoringService,
    t: Translator,
) -> None:
    message = _message(query)
    data = await _current_log(state, callback_data, LogForm.topic)
    label = (
        None if callback_data.v == OTHER_TOPIC else mentoring.topic_label(t.locale, callback_data.v)
    )
    if message is None or data is None or (label is None and callback_data.v != OTHER_TOPIC):
        await query.answer(t.plain("problem.stale_button"))
        return
    await query.answer()
    await keyboards.drop_buttons(message)
    if label is None:
        await message.answer(t("mentoring.log.ask_topic_text", limit=TOPIC_LIMIT))
        return
    await _topic_chosen(message, label, state, t)


async def _topic_chosen(message: Message, topic: str, state: FSMContext, t: Translator) -> None:
    await state.set_state(LogForm.notes)
    await state.update_data(gd_topic=topic)
    await message.answer(t("mentoring.log.topic_chosen", topic=topic))
    await message.answer(t("mentoring.log.ask_notes", limit=NOTES_LIMIT))


@router.message(StateFilter(LogForm.topic), F.text, ~F.text.startswith("/"))
async def topic_typed(message: Message, state: FSMContext, t: Translator) -> None:
    checked = check_text(message.text, TOPIC_LIMIT)
    if checked.value is None:
        await message.answer(_text_problem(checked, t))
        return
    await _topic_chosen(message, checked.value, state, t)


@router.message(StateFilter(LogForm.notes), F.text, ~F.text.startswith("/"))
async def notes_typed(message: Message, state: FSMContext, t: Translator) -> None:
    checked = check_text(message.text, NOTES_LIMIT)
    if checked.value is None:
        await message.answer(_text_problem(checked, t))
        return
    data = await state.get_data()
    await state.set_state(LogForm.next_step)
    await state.update_data(gd_notes=checked.value)
    kb = InlineKeyboardBuilder()
    kb.button(
        text=t.plain("mentoring.log.skip_button"),
        callback_data=MentoringCB(a="sk", c=int(data["gd_c"]), i=int(data["gd_t"])),
    )
    await message.answer(
        t("mentoring.log.ask_next", limit=NEXT_STEP_LIMIT), reply_markup=kb.as_markup()
    )


@router.message(StateFilter(LogForm.next_step), F.text, ~F.text.startswith("/"))
async def next_step_typed(
    message: Message, state: FSMContext, mentoring: MentoringService, t: Translator
) -> None:
    assert message.from_user is not None
    checked = check_text(message.text, NEXT_STEP_LIMIT)
    if checked.value is None:
        await message.answer(_text_problem(checked, t))
        return
    await _save(message, message.from_user.id, checked.value, state, mentoring, t)


@router.callback_query(MentoringCB.filter(F.a == "sk"))
async def next_step_skipped(
    query: CallbackQuery,
    callback_data: MentoringCB,
    state: FSMContext,
    mentoring: MentoringService,
    t: Translator,
) -> None:
    message = _message(query)
    data = await _current_log(state, callback_data, LogForm.next_step)
    if message is None or data is None:
        await query.answer(t.plain("problem.stale_button"))
        return
    await query.answer()
    await keyboards.drop_buttons(message)
    await _save(message, query.from_user.id, None, state, mentoring, t)


async def _save(
    message: Message,
    telegram_id: int,
    next_step: str | None,
    state: FSMContext,
    mentoring: MentoringService,
    t: Translator,
) -> None:
    data = await state.get_data()
    saved = await mentoring.log_session(
        telegram_id,
        int(data["gd_c"]),
        int(data["gd_t"]),
        held_on=date.fromisoformat(str(data["gd_day"])),
        topic=str(data["gd_topic"]),
        notes=str(data["gd_notes"]),
        next_step=next_step,
    )
    await state.set_state(None)
    if not isinstance(saved, SessionSaved):
        await message.answer(_refusal_text(saved, t))
        return
    await message.answer(
        t(
            "mentoring.log.saved",
            name=saved.trainee_name,
            date=t.date(saved.held_on),
            topic=saved.topic,
            next_step=saved.next_step,
            sent=saved.sent_to_trainee,
        )
    )


@router.message(StateFilter(LogForm), ~F.text.startswith("/"))
async def log_not_text(message: Message, t: Translator) -> None:
    """A sticker, photo or voice where words are expected (text was handled above)."""
    await message.answer(t("mentoring.log.text.not_text"))


# -- reading and commenting --------------------------------------------------------------


def reflection_parts(read: ReflectionRead, t: Translator) -> list[str]:
    parts = [
        t(
            "mentoring.reflection.header",
            name=read.trainee_name,
            date=t.date(read.on),
            cohort=read.cohort_name,
            milestone=read.milestone,
        )
    ]
    for qid, answer in read.answers:
        question = t.plain(f"reflect.question.{qid}")
        if answer.kind.value in ("voice", "photo"):
            kind = t.plain(f"reflect.kind.{answer.kind.value}")
            parts.append(
                t("mentoring.reflection.media", question=question, kind=kind, text=answer.text)
            )
        elif answer.text:
            parts.append(t("mentoring.reflection.answer", question=question, text=answer.text))
    return parts


@router.callback_query(MentoringCB.filter(F.a == "rd"))
async def read_pressed(
    query: CallbackQuery,
    callback_data: MentoringCB,
    bot: Bot,
    state: FSMContext,
    mentoring: MentoringService,
    t: Translator,
) -> None:
    message = _message(query)
    read = await mentoring.reflection(query.from_user.id, callback_data.i)
    if message is None or isinstance(read, Refusal):
        await query.answer(_refusal_text(Refusal.NOT_YOURS, t), show_alert=True)
        return
    await query.answer()
    parts = reflection_parts(read, t)
    try:
        texts = split_messages(parts, TEXT_LIMIT)
    except ValueError:  # one answer of a full message plus its heading
        texts = [p[:TEXT_LIMIT] for p in parts]
    for text in texts:
        await message.answer(text)
    for qid, answer in read.answers:
        if answer.kind.value not in ("voice", "photo") or not answer.file_id:
            continue
        caption = t.plain(
            "mentoring.reflection.media_caption",
            name=read.trainee_name,
            question=t.plain(f"reflect.question.{qid}"),
        )
        try:
            if answer.kind.value == "voice":
                await bot.send_voice(message.chat.id, answer.file_id, caption=caption)
            else:
                await bot.send_photo(message.chat.id, answer.file_id, caption=caption)
        except TelegramBadRequest as exc:  # a file id Telegram no longer knows
            log.warning("reflection %s: its %s cannot be sent: %s", read.id, answer.kind, exc)
    await state.set_state(Commenting.text)
    await state.update_data(gd_r=read.id, gd_name=read.trainee_name)
    await message.answer(
        t("mentoring.reflection.ask_comment", name=read.trainee_name, limit=COMMENT_LIMIT)
    )


@router.message(StateFilter(Commenting.text), ~F.text.startswith("/"))
async def comment_typed(
    message: Message, state: FSMContext, reflections: ReflectionService, t: Translator
) -> None:
    assert message.from_user is not None
    if message.text is None:
        await message.answer(t("mentoring.log.text.not_text"))
        return
    data = await state.get_data()
    name = str(data.get("gd_name") or "")
    result = await reflections.add_comment(message.from_user.id, int(data["gd_r"]), message.text)
    if isinstance(result, CommentRefusal):
        if result in (CommentRefusal.EMPTY, CommentRefusal.TOO_LONG):
            await message.answer(
                t(f"mentoring.reflection.comment_refused.{result.value}", limit=COMMENT_LIMIT)
            )
            return
        await state.set_state(None)
        await message.answer(t(f"mentoring.reflection.comment_refused.{result.value}"))
        return
    await state.set_state(None)
    await message.answer(t("mentoring.reflection.comment_sent", name=name))
