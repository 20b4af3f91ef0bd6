"""/reflect and the cadence prompts: a reflection in four questions, by text, voice or photo.

ReflectionService owns the reflection (a draft row from the first question, every answer
saved at once); the FSM holds only which question is on screen. A command in the middle is
handled by its own router (this one lets messages starting with "/" pass), and `/reflect`
afterwards offers to carry on with the draft.
"""

from __future__ import annotations

import contextlib
import html
import re

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.content import Translator
from bot.domain.notices import TEXT_LIMIT, excerpt, telegram_length
from bot.domain.practice import REFLECTION_ANSWER_LIMIT, TextProblem, check_text
from bot.services.reflections import (
    Answer,
    AnswerKind,
    ChooseCohort,
    ChooseMilestone,
    MilestoneChoice,
    OpenDraft,
    QuestionView,
    ReflectionService,
    Refusal,
    Started,
    Summary,
)
from bot.services.users import UserContext
from handlers import keyboards
from handlers.callbacks import ReflectCB, ReflectStartCB

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")

BUTTON_TITLE = 24  # characters of a milestone title on its button
UNDECIDED = -1  # ReflectCB.m: the milestone question has not been asked


class Reflecting(StatesGroup):
    answer = State()


# FSM data keys
ID, QID, MSG = "rf_id", "rf_q", "rf_msg"


def _milestone_arg(m: int) -> int | None:
    return None if m == UNDECIDED else m


def _milestone_label(m: MilestoneChoice | None, t: Translator) -> str | None:
    if m is None:
        return None
    return t.plain("reflect.milestone_option", title=m.title, date=t.date(m.due_on))


def visible_length(part: str) -> int:
    """What Telegram counts of an HTML message: the text without tags and entities."""
    return telegram_length(html.unescape(re.sub(r"<[^>]+>", "", part)))


def pack(parts: list[str], limit: int = TEXT_LIMIT, separator: str = "\n\n") -> list[str]:
    """As few messages as possible, never cutting a part; counted as Telegram counts."""
    messages: list[str] = []
    current = ""
    for part in parts:
        candidate = f"{current}{separator}{part}" if current else part
        if current and visible_length(candidate) > limit:
            messages.append(current)
            current = part
        else:
            current = candidate
    if current:
        messages.append(current)
    return messages


def summary_messages(s: Summary, t: Translator) -> list[str]:
    parts = [
        t(
            "reflect.summary_header",
            cohort=s.cohort.name,
            number=s.prompt_number,
            date=t.moment(s.completed_at, s.cohort.timezone),
            milestone=_milestone_label(s.milestone, t),
        )
    ]
    for qid, answer in s.answers:
        question = t.plain(f"reflect.question.{qid}")
        if answer is None:
            parts.append(t("reflect.summary_skipped", question=question))
        elif answer.kind is AnswerKind.TEXT:
            entry = t("reflect.summary_text", question=question, text=answer.text or "")
            if visible_length(entry) <= TEXT_LIMIT:
                parts.append(entry)
            else:  # a whole message's worth of text: its own message, under its question
                parts.append(t("reflect.summary_question", question=question))
                parts.append(t("reflect.summary_body", text=answer.text or ""))
        else:
            kind = t.plain(f"reflect.kind.{answer.kind.value}")
            parts.append(t("reflect.summary_media", question=question, kind=kind, text=answer.text))
    return pack(parts)


def _question_markup(q: QuestionView, t: Translator) -> InlineKeyboardMarkup | None:
    if not q.can_skip:
        return None
    kb = InlineKeyboardBuilder()
    kb.button(
        text=t.plain("reflect.skip_button"),
        callback_data=ReflectCB(a="s", r=q.reflection_id, q=q.qid),
    )
    return kb.as_markup()


async def _show(
    message: Message,
    result: Started | Summary,
    state: FSMContext,
    ctx: UserContext,
    t: Translator,
    *,
    prompt: int = 0,
    milestone: int = UNDECIDED,
    saved: bool = False,
) -> None:
    """Answer in the chat of `message` with what the service decided."""
    if isinstance(result, QuestionView):
        markup = _question_markup(result, t)
        # The state first: an answer typed the moment the question shows must find it.
        await state.set_state(Reflecting.answer)
        await state.update_data({ID: result.reflection_id, QID: result.qid, MSG: None})
        sent = await message.answer(
            t(
                "reflect.ask",
                saved=saved,
                number=result.number,
                total=result.total,
                question=t.plain(f"reflect.question.{result.qid}"),
                hint=t.plain(f"reflect.hint.{result.qid}"),
                milestone=_milestone_label(result.milestone, t) if result.number == 1 else None,
                can_skip=result.can_skip,
            ),
            reply_markup=markup,
        )
        if markup is not None:
            await state.update_data({MSG: sent.message_id})
    elif isinstance(result, Summary):
        await _leave(state)
        for text in summary_messages(result, t):
            await message.answer(text)
        await message.answer(t("reflect.thanks"))
    elif isinstance(result, ChooseCohort):
        kb = InlineKeyboardBuilder()
        for cohort in result.cohorts:
            kb.button(text=cohort.name, callback_data=ReflectCB(a="c", c=cohort.id, p=prompt))
        kb.adjust(1)
        await message.answer(t("reflect.choose_cohort"), reply_markup=kb.as_markup())
    elif isinstance(result, ChooseMilestone):
        kb = InlineKeyboardBuilder()
        for m in result.milestones:
            kb.button(
                text=t.plain(
                    "reflect.milestone_option",
                    title=excerpt(m.title, BUTTON_TITLE),
                    date=t.date(m.due_on),
                ),
                callback_data=ReflectCB(a="m", c=result.cohort.id, p=prompt, m=m.id),
            )
        kb.button(
            text=t.plain("reflect.no_milestone_button"),
            callback_data=ReflectCB(a="m", c=result.cohort.id, p=prompt, m=0),
        )
        kb.adjust(1)
        await message.answer(t("reflect.choose_milestone"), reply_markup=kb.as_markup())
    elif isinstance(result, OpenDraft):
        kb = InlineKeyboardBuilder()
        kb.button(
            text=t.plain("reflect.continue_button"),
            callback_data=ReflectCB(a="go", r=result.reflection_id),
        )
        kb.button(
            text=t.plain("reflect.restart_button"),
            callback_data=ReflectCB(a="new", r=result.reflection_id, p=prompt, m=milestone),
        )
        await message.answer(
            t(
                "reflect.draft_open",
                cohort=result.cohort.name,
                started=t.moment(result.started_at, result.cohort.timezone),
                answered=result.answered,
                total=result.total,
            ),
            reply_markup=kb.as_markup(),
        )
    elif result is Refusal.NOT_TRAINEE:
        consented = ctx.user is not None and ctx.user.consent_at is not None
        await message.answer(t("reflect.not_trainee" if consented else "reflect.not_enrolled"))
    else:
        await _leave(state)
        await message.answer(t("reflect.gone"))


async def _leave(state: FSMContext) -> None:
    if await state.get_state() == Reflecting.answer.state:
        await state.set_state(None)
    await state.update_data({ID: None, QID: None, MSG: None})


def _pressed_message(query: CallbackQuery) -> Message | None:
    return query.message if isinstance(query.message, Message) else None


# -- starting ------------------------------------------------------------------------------


@router.message(Command("reflect"))
async def reflect(
    message: Message,
    state: FSMContext,
    reflections: ReflectionService,
    ctx: UserContext,
    t: Translator,
) -> None:
    result = await reflections.begin(ctx.telegram_id)
    await _show(message, result, state, ctx, t)


@router.callback_query(ReflectStartCB.filter())
async def start_pressed(
    query: CallbackQuery,
    callback_data: ReflectStartCB,
    state: FSMContext,
    reflections: ReflectionService,
    ctx: UserContext,
    t: Translator,
) -> None:
    message = _pressed_message(query)
    if message is None:
        await query.answer(t.plain("reflect.toast.stale"))
        return
    result = await reflections.begin(
        query.from_user.id,
        prompt=callback_data.prompt or None,
        milestone=callback_data.milestone or None,
    )
    if isinstance(result, Refusal):
        await query.answer(t.plain(f"reflect.toast.{result.value}"))
        return
    await query.answer()
    await _show(
        message,
        result,
        state,
        ctx,
        t,
        prompt=callback_data.prompt,
        milestone=callback_data.milestone or UNDECIDED,
    )


@router.callback_query(ReflectCB.filter(F.a.in_({"c", "m"})))
async def chosen(
    query: CallbackQuery,
    callback_data: ReflectCB,
    state: FSMContext,
    reflections: ReflectionService,
    ctx: UserContext,
    t: Translator,
) -> None:
    """A cohort (a = c) or a milestone (a = m, 0: none) chosen before the questions."""
    message = _pressed_message(query)
    if message is None or callback_data.c <= 0:
        await query.answer(t.plain("reflect.toast.stale"))
        return
    milestone = callback_data.m if callback_data.a == "m" else UNDECIDED
    if milestone < UNDECIDED:
        await query.answer(t.plain("reflect.toast.not_yours"))
        return
    result = await reflections.begin(
        query.from_user.id,
        cohort_id=callback_data.c,
        prompt=callback_data.p or None,
        milestone=_milestone_arg(milestone),
    )
    if isinstance(result, Refusal):
        await query.answer(t.plain(f"reflect.toast.{result.value}"))
        return
    await query.answer()
    await keyboards.drop_buttons(message)
    await _show(message, result, state, ctx, t, prompt=callback_data.p)


@router.callback_query(ReflectCB.filter(F.a.in_({"go", "new"})))
async def draft_pressed(
    query: CallbackQuery,
    callback_data: ReflectCB,
    state: FSMContext,
    reflections: ReflectionService,
    ctx: UserContext,
    t: Translator,
) -> None:
    """Carry on with the open draft, or start over."""
    message = _pressed_message(query)
    if message is None:
        await query.answer(t.plain("reflect.toast.stale"))
        return
    result: Started | Summary
    if callback_data.a == "go":
        data = await state.get_data()
        at = data.get(QID) if data.get(ID) == callback_data.r else None
        result = await reflections.resume(query.from_user.id, callback_data.r, at=at)
    else:
        result = await reflections.restart(
            query.from_user.id,
            callback_data.r,
            prompt=callback_data.p or None,
            milestone=_milestone_arg(callback_data.m),
        )
    if isinstance(result, Refusal):
        await query.answer(t.plain(f"reflect.toast.{result.value}"))
        return
    await query.answer()
    await keyboards.drop_buttons(message)
    await _show(message, result, state, ctx, t, prompt=callback_data.p)


# -- answering -----------------------------------------------------------------------------


@router.callback_query(ReflectCB.filter(F.a == "s"))
async def skip_pressed(
    query: CallbackQuery,
    callback_data: ReflectCB,
    state: FSMContext,
    reflections: ReflectionService,
    ctx: UserContext,
    t: Translator,
) -> None:
    message = _pressed_message(query)
    async with reflections.turn(query.from_user.id):
        data = await state.get_data()
        if message is None or (
            data.get(ID) == callback_data.r and data.get(QID) != callback_data.q
        ):
            await query.answer(t.plain("reflect.toast.stale"))
            return
        result = await reflections.skip(query.from_user.id, callback_data.r, callback_data.q)
        if isinstance(result, Refusal):
            await query.answer(t.plain(f"reflect.toast.{result.value}"))
            return
        await query.answer()
        await keyboards.drop_buttons(message)
        await _show(message, result, state, ctx, t)


def _answer_of(message: Message) -> Answer | TextProblem | None:
    """The answer a message carries; a TextProblem for bad text; None for what cannot be
    kept (a sticker, a document, a video …)."""
    caption = (message.caption or "").strip() or None
    if message.voice is not None:
        return Answer(AnswerKind.VOICE, caption, message.voice.file_id)
    if message.photo:
        return Answer(AnswerKind.PHOTO, caption, message.photo[-1].file_id)
    if message.text is not None:
        check = check_text(message.text, REFLECTION_ANSWER_LIMIT)
        if check.problem is not None or check.value is None:
            return check.problem or TextProblem.EMPTY
        return Answer(AnswerKind.TEXT, check.value)
    return None


@router.message(Reflecting.answer, ~F.text.startswith("/"))
async def answered(
    message: Message,
    bot: Bot,
    state: FSMContext,
    reflections: ReflectionService,
    ctx: UserContext,
    t: Translator,
) -> None:
    async with reflections.turn(ctx.telegram_id):
        await _answered(message, bot, state, reflections, ctx, t)


async def _answered(
    message: Message,
    bot: Bot,
    state: FSMContext,
    reflections: ReflectionService,
    ctx: UserContext,
    t: Translator,
) -> None:
    data = await state.get_data()
    reflection_id, qid = data.get(ID), data.get(QID)
    if not isinstance(reflection_id, int) or not isinstance(qid, str):
        await _leave(state)
        await message.answer(t("reflect.gone"))
        return
    answer = _answer_of(message)
    if answer is None:
        await message.answer(t("reflect.problem.unsupported"))
        return
    if isinstance(answer, TextProblem):
        key = "too_long" if answer is TextProblem.TOO_LONG else "empty"
        length = telegram_length(message.text or "")
        await message.answer(
            t(f"reflect.problem.{key}", limit=REFLECTION_ANSWER_LIMIT, length=length)
        )
        return
    result = await reflections.answer(ctx.telegram_id, reflection_id, qid, answer)
    if isinstance(result, Refusal):
        await _leave(state)
        await message.answer(t("reflect.gone"))
        return
    shown = data.get(MSG)
    if isinstance(shown, int):  # the answered question's skip button goes
        with contextlib.suppress(TelegramBadRequest):
            await bot.edit_message_reply_markup(
                chat_id=message.chat.id, message_id=shown, reply_markup=None
            )
    await _show(message, result, state, ctx, t, saved=True)
