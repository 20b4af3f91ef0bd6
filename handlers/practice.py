"""/practice: scenario role-plays in the chat, and mentors' comments on the written answers.

ScenarioService owns the play (a row, every move a compare-and-set); each node is a message
with inline buttons. A decision's message keeps the question and the choice taken; the expert's
feedback and the next node follow as new messages. The FSM holds only "a written answer is
expected for play N at step T" (set whenever a free-text node is shown, so /practice after a
restart sets it again).
"""

from __future__ import annotations

import asyncio

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.charts.bars import grouped_bars_png
from bot.content import Translator
from bot.domain.practice import COMMENT_LIMIT
from bot.domain.scenarios import FREE_TEXT_LIMIT, NodeKind, Step, percents, raw_scores
from bot.scenario_terminal import bar, point_labels, signed
from bot.services.scenarios import (
    Answered,
    ChooseRole,
    CommentRefusal,
    Debrief,
    Intro,
    Moved,
    OpenPlay,
    Overview,
    Refusal,
    ScenarioService,
    Screen,
    TextRefusal,
)
from bot.services.users import UserContext
from handlers import keyboards
from handlers.callbacks import PracticeCB
from handlers.editing import edit_text
from handlers.later import after_reply
from handlers.reflect import pack

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")


class Practising(StatesGroup):
    answer = State()  # a free-text node is on screen
    comment = State()  # a mentor writes a comment on an answer


RUN, STEP, ANSWER = "pr_run", "pr_step", "pr_answer"


def _pressed(query: CallbackQuery) -> Message | None:
    return query.message if isinstance(query.message, Message) else None


# -- rendering -----------------------------------------------------------------------------


def screen_view(s: Screen, t: Translator) -> tuple[str, InlineKeyboardMarkup]:
    node, loc = s.node, t.locale
    kb = InlineKeyboardBuilder()
    pause = PracticeCB(a="p", n=s.run_id)
    go_on = PracticeCB(a="n", n=s.run_id, t=s.step)
    if node.kind is NodeKind.DECISION:
        text = t("practice.decision", number=s.decision_number, text=node.text[loc])
        for index, choice in enumerate(node.choices):
            kb.button(
                text=choice.label[loc],
                callback_data=PracticeCB(a="c", n=s.run_id, t=s.step, i=index),
            )
        kb.button(text=t.plain("practice.pause_button"), callback_data=pause)
        kb.adjust(1)
        return text, kb.as_markup()
    if node.kind is NodeKind.FREE_TEXT:
        text = t("practice.free_text", text=node.text[loc], limit=FREE_TEXT_LIMIT, mentor=s.mentor)
        kb.button(text=t.plain("practice.pause_button"), callback_data=pause)
        return text, kb.as_markup()
    if node.kind is NodeKind.LINE:
        assert node.speaker is not None
        text = t("practice.line", speaker=node.speaker[loc], text=node.text[loc])
    else:
        text = t("practice.narration", text=node.text[loc])
    kb.button(text=t.plain("practice.continue_button"), callback_data=go_on)
    kb.button(text=t.plain("practice.pause_button"), callback_data=pause)
    kb.adjust(2)
    return text, kb.as_markup()


async def show_screen(message: Message, s: Screen, state: FSMContext, t: Translator) -> None:
    text, markup = screen_view(s, t)
    if s.node.kind is NodeKind.FREE_TEXT:
        # The state first: an answer typed the moment the prompt shows must find it.
        await state.set_state(Practising.answer)
        await state.update_data({RUN: s.run_id, STEP: s.step})
    await message.answer(text, reply_markup=markup)


def debrief_parts(d: Debrief, scenarios: ScenarioService, t: Translator) -> list[str]:
    loc = t.locale
    assert d.ending.debrief is not None and d.ending.expert is not None
    parts = [t("practice.ending", title=d.ending.text[loc], debrief=d.ending.debrief[loc])]
    lines = [t("practice.scores_header")]
    for dim in scenarios.dimensions:
        value = d.percents.get(dim.id)
        if value is None:
            lines.append(t("practice.score_none", name=dim.name(loc)))
        else:
            raw = signed(d.raw.get(dim.id, 0))
            lines.append(
                t("practice.score_line", name=dim.name(loc), bar=bar(value), percent=value, raw=raw)
            )
    if d.total is not None:
        lines.append(t("practice.total_line", percent=d.total))
    parts.append("\n".join(lines))
    path = [t("practice.path_header")]
    for number, entry in enumerate(d.path, start=1):
        node = d.scenario.node(entry.node)
        key = "practice.path_same" if entry.matches else "practice.path_differs"
        path.append(
            t(
                key,
                number=number,
                chosen=node.choices[entry.chosen].label[loc],
                recommended=node.choices[entry.recommended].label[loc],
            )
        )
    same = sum(e.matches for e in d.path)
    path.append(t("practice.path_summary", same=same, total=len(d.path)))
    parts.append("\n".join(path))
    parts.append(t("practice.expert", expert=d.ending.expert[loc]))
    return parts


def debrief_chart(d: Debrief, scenarios: ScenarioService, t: Translator) -> bytes:
    """Bars per dimension: this play against the recommended path (0–100)."""
    loc = t.locale
    dims = scenarios.dimensions
    best_steps = [Step(n, i) for n, i in d.scenario.recommended_path(d.role.id)]
    best = percents(d.scenario, d.role.id, raw_scores(d.scenario, best_steps))
    return grouped_bars_png(
        [dim.name(loc) for dim in dims],
        [
            (t.plain("practice.chart_mine"), [d.percents.get(dim.id) for dim in dims]),
            (t.plain("practice.chart_recommended"), [best.get(dim.id) for dim in dims]),
        ],
        title=t.plain("practice.chart_title", title=d.scenario.title(loc), role=d.role.name(loc)),
        ylabel=t.plain("practice.chart_axis"),
        ylim=(0, 100),
        note=t.plain("practice.chart_note"),
    )


async def send_debrief(
    message: Message, d: Debrief, scenarios: ScenarioService, t: Translator
) -> None:
    parts = debrief_parts(d, scenarios, t)
    kb = InlineKeyboardBuilder()
    kb.button(
        text=t.plain("practice.again_button"), callback_data=PracticeCB(a="x", s=d.scenario.id)
    )
    kb.button(text=t.plain("practice.list_button"), callback_data=PracticeCB(a="l"))
    kb.adjust(2)
    messages = pack(parts)
    for text in messages[:-1]:
        await message.answer(text)
    await message.answer(messages[-1], reply_markup=kb.as_markup())

    async def chart() -> None:
        png = await asyncio.to_thread(debrief_chart, d, scenarios, t)
        caption = t.plain(
            "practice.chart_caption", title=d.scenario.title(t.locale), role=d.role.name(t.locale)
        )
        await message.answer_photo(BufferedInputFile(png, "scores.png"), caption=caption)

    after_reply(chart(), "role-play debrief chart")


async def show(
    message: Message,
    result: object,
    state: FSMContext,
    scenarios: ScenarioService,
    t: Translator,
) -> None:
    """Answer in the chat of `message` with what the service decided."""
    if isinstance(result, Screen):
        await show_screen(message, result, state, t)
    elif isinstance(result, Debrief):
        await send_debrief(message, result, scenarios, t)
    elif isinstance(result, Intro):
        kb = InlineKeyboardBuilder()
        kb.button(
            text=t.plain("practice.start_button"), callback_data=PracticeCB(a="g", n=result.run_id)
        )
        await message.answer(
            t(
                "practice.intro",
                title=result.scenario.title(t.locale),
                situation=result.scenario.situation(t.locale),
                role=result.role.name(t.locale) if result.many_roles else None,
                brief=result.role.brief(t.locale),
            ),
            reply_markup=kb.as_markup(),
        )
    elif isinstance(result, ChooseRole):
        kb = InlineKeyboardBuilder()
        for role in result.scenario.roles:
            kb.button(
                text=t.plain("practice.role_button", name=role.name(t.locale)),
                callback_data=PracticeCB(a="o", s=result.scenario.id, r=role.id),
            )
        kb.adjust(1)
        await message.answer(
            t(
                "practice.choose_role",
                title=result.scenario.title(t.locale),
                situation=result.scenario.situation(t.locale),
            ),
            reply_markup=kb.as_markup(),
        )
    elif isinstance(result, OpenPlay):
        kb = InlineKeyboardBuilder()
        kb.button(
            text=t.plain("practice.resume_button", title=result.scenario.title(t.locale)),
            callback_data=PracticeCB(a="g", n=result.run_id),
        )
        kb.button(
            text=t.plain("practice.restart_button"),
            callback_data=PracticeCB(a="x", s=result.scenario.id),
        )
        kb.adjust(1)
        await message.answer(
            t(
                "practice.restart_confirm",
                title=result.scenario.title(t.locale),
                step=result.step + 1,
            ),
            reply_markup=kb.as_markup(),
        )
    elif isinstance(result, Overview):
        text, markup = _overview(result, t)
        await message.answer(text, reply_markup=markup)
    elif isinstance(result, Refusal):
        key = (
            "practice.not_trainee" if result is Refusal.NOT_TRAINEE else "practice.refusal.unknown"
        )
        await message.answer(t(key))


def _overview(o: Overview, t: Translator) -> tuple[str, InlineKeyboardMarkup | None]:
    if not o.entries:
        return t("practice.none"), None
    loc = t.locale
    parts = [t("practice.list_header")]
    kb = InlineKeyboardBuilder()
    for e in o.entries:
        if e.playing_run is not None:
            kb.button(
                text=t.plain("practice.resume_button", title=e.scenario.title(loc)),
                callback_data=PracticeCB(a="g", n=e.playing_run),
            )
    for e in o.entries:
        roles = [r.name(loc) for r in e.scenario.roles] if len(e.scenario.roles) > 1 else []
        parts.append(
            t(
                "practice.list_item",
                number=e.number,
                title=e.scenario.title(loc),
                summary=e.scenario.summary(loc),
                roles=roles,
                played=e.played,
                last_role=e.last.role if e.last else None,
                last_ending=e.last.ending if e.last else None,
                last_total=e.last.total if e.last and e.last.total is not None else "—",
                playing=e.playing_run is not None,
            )
        )
        kb.button(
            text=t.plain("practice.play_button", number=e.number, title=e.scenario.title(loc)),
            callback_data=PracticeCB(a="o", s=e.scenario.id),
        )
    kb.adjust(1)
    return pack(parts)[0], kb.as_markup()


# -- commands and buttons ------------------------------------------------------------------


@router.message(Command("practice"))
async def practice(
    message: Message, state: FSMContext, scenarios: ScenarioService, ctx: UserContext, t: Translator
) -> None:
    if await state.get_state() == Practising.answer.state:
        await state.set_state(None)
    await show(message, await scenarios.overview(ctx.telegram_id), state, scenarios, t)


@router.callback_query(PracticeCB.filter(F.a.in_({"o", "x", "g", "l"})))
async def opened(
    query: CallbackQuery,
    callback_data: PracticeCB,
    state: FSMContext,
    scenarios: ScenarioService,
    t: Translator,
) -> None:
    message = _pressed(query)
    if message is None:
        await query.answer(t.plain("practice.refusal.stale"))
        return
    tid = query.from_user.id
    a = callback_data.a
    if a == "l":
        result: object = await scenarios.overview(tid)
    elif a == "g":
        result = await scenarios.current(tid, callback_data.n)
    else:
        result = await scenarios.open(
            tid, callback_data.s, callback_data.r or None, restart=a == "x"
        )
    if isinstance(result, Refusal):
        await query.answer(t.plain(f"practice.refusal.{result.value}"), show_alert=True)
        return
    await query.answer()
    if a in ("g", "x") or (isinstance(result, (Intro, ChooseRole)) and callback_data.r):
        await keyboards.drop_buttons(message)
    await show(message, result, state, scenarios, t)


@router.callback_query(PracticeCB.filter(F.a == "n"))
async def went_on(
    query: CallbackQuery,
    callback_data: PracticeCB,
    state: FSMContext,
    scenarios: ScenarioService,
    t: Translator,
) -> None:
    message = _pressed(query)
    if message is None:  # too old for Telegram to show: nothing moves
        await query.answer(t.plain("practice.refusal.stale"))
        return
    result = await scenarios.advance(query.from_user.id, callback_data.n, callback_data.t)
    if isinstance(result, Refusal):
        await query.answer(t.plain(f"practice.refusal.{result.value}"))
        return
    await query.answer()
    await keyboards.drop_buttons(message)
    await show(message, result, state, scenarios, t)


@router.callback_query(PracticeCB.filter(F.a == "c"))
async def chose(
    query: CallbackQuery,
    callback_data: PracticeCB,
    state: FSMContext,
    scenarios: ScenarioService,
    t: Translator,
) -> None:
    message = _pressed(query)
    if message is None:  # too old for Telegram to show: nothing moves
        await query.answer(t.plain("practice.refusal.stale"))
        return
    result = await scenarios.choose(
        query.from_user.id, callback_data.n, callback_data.t, callback_data.i
    )
    if isinstance(result, Refusal):
        await query.answer(t.plain(f"practice.refusal.{result.value}"))
        return
    await query.answer()
    await _after_choice(message, result, state, scenarios, t)


async def _after_choice(
    message: Message, m: Moved, state: FSMContext, scenarios: ScenarioService, t: Translator
) -> None:
    loc = t.locale
    choice = m.decision.choices[m.choice]
    await edit_text(
        message,
        t(
            "practice.decision_chosen",
            number=m.decision_number,
            text=m.decision.text[loc],
            label=choice.label[loc],
        ),
    )
    points = point_labels(scenarios.dimensions, choice.scores, loc, t.texts)
    await message.answer(t("practice.feedback", feedback=choice.feedback[loc], points=points))
    await show(message, m.then, state, scenarios, t)


@router.callback_query(PracticeCB.filter(F.a == "p"))
async def paused(
    query: CallbackQuery,
    callback_data: PracticeCB,
    state: FSMContext,
    scenarios: ScenarioService,
    t: Translator,
) -> None:
    message = _pressed(query)
    if message is None:  # too old for Telegram to show: nothing moves
        await query.answer(t.plain("practice.refusal.stale"))
        return
    result = await scenarios.pause(query.from_user.id, callback_data.n)
    if isinstance(result, Refusal):
        await query.answer(t.plain(f"practice.refusal.{result.value}"))
        return
    await query.answer()
    if await state.get_state() == Practising.answer.state:
        await state.set_state(None)
    await keyboards.drop_buttons(message)
    await message.answer(t("practice.paused", title=result.title(t.locale)))


@router.message(Practising.answer, ~F.text.startswith("/"))
async def answered(
    message: Message, state: FSMContext, scenarios: ScenarioService, ctx: UserContext, t: Translator
) -> None:
    data = await state.get_data()
    run_id, step = data.get(RUN), data.get(STEP)
    if not isinstance(run_id, int) or not isinstance(step, int):
        await state.set_state(None)
        await message.answer(t("practice.refusal.stale"))
        return
    result = await scenarios.answer(ctx.telegram_id, run_id, step, message.text)
    if isinstance(result, TextRefusal):
        await message.answer(_text_problem(result, t))
        return
    await state.set_state(None)
    if isinstance(result, Refusal):
        await message.answer(t(f"practice.refusal.{result.value}"))
        return
    assert isinstance(result, Answered)
    await message.answer(t("practice.free_saved", mentor=result.mentor))
    await show(message, result.then, state, scenarios, t)


def _text_problem(r: TextRefusal, t: Translator) -> str:
    return t(f"practice.text.{r.problem.value}", length=r.length, limit=r.limit)


# -- the mentor's comment ------------------------------------------------------------------


@router.callback_query(PracticeCB.filter(F.a == "m"))
async def comment_pressed(
    query: CallbackQuery,
    callback_data: PracticeCB,
    state: FSMContext,
    scenarios: ScenarioService,
    t: Translator,
) -> None:
    message = _pressed(query)
    found = await scenarios.answer_for_mentor(query.from_user.id, callback_data.n)
    if message is None or isinstance(found, CommentRefusal):
        key = "commented_already" if found is CommentRefusal.ALREADY else "not_yours"
        await query.answer(t.plain(f"practice.mentor.{key}"), show_alert=True)
        return
    await query.answer()
    await state.set_state(Practising.comment)
    await state.update_data({ANSWER: found.answer_id})
    await message.answer(
        t(
            "practice.mentor.ask_comment",
            trainee=found.trainee,
            limit=COMMENT_LIMIT,
            answer=found.text,
        )
    )


@router.message(Practising.comment, ~F.text.startswith("/"))
async def commented(
    message: Message, state: FSMContext, scenarios: ScenarioService, ctx: UserContext, t: Translator
) -> None:
    answer_id = (await state.get_data()).get(ANSWER)
    if not isinstance(answer_id, int):
        await state.set_state(None)
        await message.answer(t("practice.mentor.not_yours"))
        return
    result = await scenarios.comment(ctx.telegram_id, answer_id, message.text)
    if isinstance(result, TextRefusal):
        await message.answer(_text_problem(result, t))
        return
    await state.set_state(None)
    await state.update_data({ANSWER: None})
    if isinstance(result, CommentRefusal):
        key = "commented_already" if result is CommentRefusal.ALREADY else "not_yours"
        await message.answer(t(f"practice.mentor.{key}"))
        return
    await message.answer(t("practice.mentor.comment_saved", trainee=result.trainee))
