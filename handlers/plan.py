"""/plan: the practice-transfer plan (实践转化计划书), its milestones and their check-ins.

The plan row itself is the draft: every answer is saved by PlanService the moment it is
given, and the conversation always asks for the first thing missing, so an interruption (a
command, a restart) loses nothing. FSM state only says what a typed message answers.
"""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.content import Translator
from bot.domain.notices import excerpt, progress_bar
from bot.domain.practice import (
    MAX_MILESTONES,
    MILESTONE_TITLE_LIMIT,
    NOTE_LIMIT,
    REASON_LIMIT,
    MilestoneStatus,
    check_text,
    parse_day,
)
from bot.services.plans import (
    TEXT_FIELDS,
    CheckIn,
    MilestoneView,
    PlanRefusal,
    PlanService,
    PlanStep,
    PlanView,
)
from handlers import keyboards
from handlers.callbacks import MilestoneCB, PlanCB, ReflectStartCB, row_id
from handlers.editing import edit_text

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")

STATUS_CODES = {
    "d": MilestoneStatus.DONE,
    "i": MilestoneStatus.IN_PROGRESS,
    "n": MilestoneStatus.NOT_DONE,
}
ICONS = {
    MilestoneStatus.OPEN: "⬜",
    MilestoneStatus.DONE: "✅",
    MilestoneStatus.IN_PROGRESS: "⏳",
    MilestoneStatus.NOT_DONE: "❌",
}


class PlanForm(StatesGroup):
    text = State()  # data: pl_cohort, pl_field (goal | success | support | area_other)
    ms_title = State()  # data: pl_cohort
    ms_date = State()  # data: pl_cohort, pl_title
    note = State()  # data: pl_ms
    move_reason = State()  # data: pl_ms
    move_date = State()  # data: pl_ms, pl_reason


# -- views -------------------------------------------------------------------------------


def plan_text(view: PlanView, t: Translator) -> str:
    milestones = [
        {
            "icon": "⚠️" if m.overdue and m.status is MilestoneStatus.OPEN else ICONS[m.status],
            "number": m.number,
            "title": m.title,
            "date": t.date(m.due_on),
            "status": t.plain(f"plan.status.{m.status.value}"),
            "late": m.overdue and m.status is MilestoneStatus.OPEN,
            "note": m.note,
            "moved_from": t.date(m.moved_from) if m.moved_from else None,
            "reason": m.move_reason,
        }
        for m in view.milestones
    ]
    bar, percent = progress_bar(view.done, len(view.milestones))
    return t(
        "plan.view",
        active=view.active,
        cohort=view.cohort_name,
        area=(
            view.area_other
            if view.area == "other" and view.area_other
            else (t.area(view.area) if view.area else None)
        ),
        goal=view.goal,
        success=view.success,
        support=view.support,
        milestones=milestones,
        done=view.done,
        total=len(view.milestones),
        bar=bar,
        percent=percent,
    )


def _review_keyboard(view: PlanView, t: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    c = view.cohort_id
    if not view.active:
        kb.button(text=t.plain("plan.confirm_button"), callback_data=PlanCB(a="confirm", c=c))
    for field in ("area", "goal", "success", "support", "ms"):
        kb.button(
            text=t.plain(f"plan.edit_button.{field}"), callback_data=PlanCB(a="edit", c=c, v=field)
        )
    if view.active:
        kb.adjust(2, 2, 1)
    else:
        kb.adjust(1, 2, 2, 1)
    return kb.as_markup()


def _active_keyboard(view: PlanView, t: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    c = view.cohort_id
    if any(m.status is not MilestoneStatus.DONE for m in view.milestones):
        kb.button(text=t.plain("plan.update_button"), callback_data=PlanCB(a="upd", c=c))
    if len(view.milestones) < MAX_MILESTONES:
        kb.button(text=t.plain("plan.add_ms_button"), callback_data=PlanCB(a="addms", c=c))
    kb.button(text=t.plain("plan.edit_menu_button"), callback_data=PlanCB(a="review", c=c))
    kb.button(text=t.plain("plan.reflect_button"), callback_data=ReflectStartCB())
    kb.adjust(1)
    return kb.as_markup()


def _areas_keyboard(cohort_id: int, t: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for area_id in t.texts.area_ids():
        kb.button(text=t.area(area_id), callback_data=PlanCB(a="area", c=cohort_id, v=area_id))
    kb.adjust(2)
    return kb.as_markup()


async def _show(message: Message, view: PlanView, t: Translator) -> None:
    """The plan as it stands, with what can be done with it."""
    if view.active:
        await message.answer(plan_text(view, t), reply_markup=_active_keyboard(view, t))
    else:
        await message.answer(t("plan.review_intro"))
        await message.answer(plan_text(view, t), reply_markup=_review_keyboard(view, t))


async def _ask_next(message: Message, view: PlanView, state: FSMContext, t: Translator) -> None:
    """Ask for the first thing the plan lacks, or show it back for confirmation."""
    step = view.next_step
    c = view.cohort_id
    if step is PlanStep.AREA:
        await state.set_state(None)
        await message.answer(t("plan.ask.area"), reply_markup=_areas_keyboard(c, t))
    elif step in (PlanStep.AREA_OTHER, PlanStep.GOAL, PlanStep.SUCCESS, PlanStep.SUPPORT):
        await _ask_text(message, c, step.value, state, t)
    elif step is PlanStep.MILESTONES:
        await _ask_title(message, view, state, t)
    else:
        await state.set_state(None)
        await _show(message, view, t)


async def _ask_text(
    message: Message, cohort_id: int, field: str, state: FSMContext, t: Translator
) -> None:
    await state.set_state(PlanForm.text)
    await state.update_data(pl_cohort=cohort_id, pl_field=field)
    await message.answer(t(f"plan.ask.{field}", limit=TEXT_FIELDS[field]))


async def _ask_title(message: Message, view: PlanView, state: FSMContext, t: Translator) -> None:
    await state.set_state(PlanForm.ms_title)
    await state.update_data(pl_cohort=view.cohort_id)
    await message.answer(
        t(
            "plan.ask.ms_title",
            number=len(view.milestones) + 1,
            max=MAX_MILESTONES,
            limit=MILESTONE_TITLE_LIMIT,
            first=not view.milestones,
        )
    )


async def _refused(target: Message | CallbackQuery, refusal: PlanRefusal, t: Translator) -> None:
    text = t.plain(f"plan.refusal.{refusal.value}", max=MAX_MILESTONES)
    if isinstance(target, CallbackQuery):
        await target.answer(text, show_alert=refusal not in (PlanRefusal.STALE,))
    else:
        await target.answer(text)


def _message(query: CallbackQuery) -> Message | None:
    return query.message if isinstance(query.message, Message) else None


# -- entry points ----------------------------------------------------------------------


@router.message(Command("plan"))
async def plan_command(
    message: Message, state: FSMContext, plans: PlanService, t: Translator
) -> None:
    assert message.from_user is not None
    await state.set_state(None)
    choices = await plans.cohorts(message.from_user.id)
    if choices is None:
        await message.answer(t("plan.not_trainee"))
        return
    if len(choices) > 1:
        kb = InlineKeyboardBuilder()
        for choice in choices:
            kb.button(
                text=t.plain("plan.cohort_button", name=choice.name, has_plan=choice.has_plan),
                callback_data=PlanCB(a="go", c=choice.id),
            )
        kb.adjust(1)
        await message.answer(t("plan.choose_cohort"), reply_markup=kb.as_markup())
        return
    await _open(message, message.from_user.id, choices[0].id, state, plans, t)


async def _open(
    message: Message,
    telegram_id: int,
    cohort_id: int,
    state: FSMContext,
    plans: PlanService,
    t: Translator,
) -> None:
    view = await plans.current(telegram_id, cohort_id)
    if isinstance(view, PlanRefusal):
        await _refused(message, view, t)
        return
    if view is None:
        await message.answer(t("plan.intro", max=MAX_MILESTONES))
        await message.answer(t("plan.ask.area"), reply_markup=_areas_keyboard(cohort_id, t))
        return
    if not view.active and view.next_step is not PlanStep.REVIEW:
        await message.answer(t("plan.resume"))
    await _ask_next(message, view, state, t)


@router.callback_query(PlanCB.filter(F.a == "go"))
async def go_pressed(
    query: CallbackQuery,
    callback_data: PlanCB,
    state: FSMContext,
    plans: PlanService,
    t: Translator,
) -> None:
    message = _message(query)
    if message is None:
        await query.answer(t.plain("problem.stale_button"))
        return
    await query.answer()
    await state.set_state(None)
    await _open(message, query.from_user.id, callback_data.c, state, plans, t)


# -- the guided conversation -------------------------------------------------------------


@router.callback_query(PlanCB.filter(F.a == "area"))
async def area_chosen(
    query: CallbackQuery,
    callback_data: PlanCB,
    state: FSMContext,
    plans: PlanService,
    t: Translator,
) -> None:
    message = _message(query)
    view = await plans.set_area(query.from_user.id, callback_data.c, callback_data.v)
    if message is None or isinstance(view, PlanRefusal):
        await _refused(query, view if isinstance(view, PlanRefusal) else PlanRefusal.STALE, t)
        return
    await query.answer(t.plain("plan.saved_toast"))
    await edit_text(message, t("plan.area_chosen", area=t.area(callback_data.v)))
    if view.active or (view.next_step is PlanStep.REVIEW and callback_data.v != "other"):
        await state.set_state(None)
        await _show(message, view, t)
    else:
        await _ask_next(message, view, state, t)


def _text_problem(checked: Any, t: Translator) -> str:
    assert checked.problem is not None
    return t(f"plan.text.{checked.problem.value}", length=checked.length, limit=checked.limit)


@router.message(StateFilter(PlanForm.text), ~F.text.startswith("/"))
async def text_answered(
    message: Message, state: FSMContext, plans: PlanService, t: Translator
) -> None:
    assert message.from_user is not None
    data = await state.get_data()
    cohort_id, field = int(data["pl_cohort"]), str(data["pl_field"])
    checked = check_text(message.text, TEXT_FIELDS[field])
    if checked.value is None:
        await message.answer(_text_problem(checked, t))
        await message.answer(t(f"plan.ask.{field}", limit=TEXT_FIELDS[field]))
        return
    view = await plans.set_text(message.from_user.id, cohort_id, field, checked.value)
    if isinstance(view, PlanRefusal):
        await state.set_state(None)
        await _refused(message, view, t)
        return
    if view.active or data.get("pl_editing"):
        await state.set_state(None)
        await state.update_data(pl_editing=False)
        await message.answer(t.plain("plan.saved_toast"))
        await _show(message, view, t)
        return
    await _ask_next(message, view, state, t)


@router.message(StateFilter(PlanForm.ms_title), ~F.text.startswith("/"))
async def title_answered(
    message: Message, state: FSMContext, plans: PlanService, t: Translator
) -> None:
    checked = check_text(message.text, MILESTONE_TITLE_LIMIT)
    if checked.value is None:
        await message.answer(_text_problem(checked, t))
        return
    data = await state.get_data()
    today = await plans.today(int(data["pl_cohort"]))
    await state.set_state(PlanForm.ms_date)
    await state.update_data(pl_title=checked.value)
    await message.answer(t("plan.ask.ms_date", title=checked.value, today=t.date(today)))


@router.message(StateFilter(PlanForm.ms_date), ~F.text.startswith("/"))
async def date_answered(
    message: Message, state: FSMContext, plans: PlanService, t: Translator
) -> None:
    assert message.from_user is not None
    data = await state.get_data()
    cohort_id = int(data["pl_cohort"])
    if message.text is None:
        await message.answer(t("plan.date.not_text"))
        return
    today = await plans.today(cohort_id)
    parsed = parse_day(message.text, today)
    if parsed.value is None:
        assert parsed.problem is not None
        await message.answer(
            t(f"plan.date.{parsed.problem.value}", text=excerpt(message.text), today=t.date(today))
        )
        return
    view = await plans.add_milestone(
        message.from_user.id, cohort_id, str(data["pl_title"]), parsed.value
    )
    if isinstance(view, PlanRefusal):
        await state.set_state(None)
        await _refused(message, view, t)
        return
    await state.set_state(None)
    added = max(view.milestones, key=lambda m: m.id)
    kb = InlineKeyboardBuilder()
    if len(view.milestones) < MAX_MILESTONES:
        kb.button(text=t.plain("plan.more_button"), callback_data=PlanCB(a="more", c=cohort_id))
    kb.button(
        text=t.plain("plan.enough_button", active=view.active),
        callback_data=PlanCB(a="enough", c=cohort_id),
    )
    kb.adjust(1)
    await message.answer(
        t(
            "plan.ms_added",
            title=added.title,
            date=t.date(added.due_on),
            count=len(view.milestones),
            max=MAX_MILESTONES,
        ),
        reply_markup=kb.as_markup(),
    )


@router.callback_query(PlanCB.filter(F.a.in_({"more", "addms"})))
async def more_pressed(
    query: CallbackQuery,
    callback_data: PlanCB,
    state: FSMContext,
    plans: PlanService,
    t: Translator,
) -> None:
    message = _message(query)
    view = await plans.begin(query.from_user.id, callback_data.c)
    if message is None or isinstance(view, PlanRefusal):
        await _refused(query, view if isinstance(view, PlanRefusal) else PlanRefusal.STALE, t)
        return
    if len(view.milestones) >= MAX_MILESTONES:
        await _refused(query, PlanRefusal.FULL, t)
        return
    await query.answer()
    if callback_data.a == "more":
        await keyboards.drop_buttons(message)
    if not view.active and view.next_step not in (PlanStep.MILESTONES, PlanStep.REVIEW):
        # An offer from the self-check, before the plan exists: the plan comes first.
        await message.answer(t("plan.offer_needs_plan"))
        await _ask_next(message, view, state, t)
        return
    await _ask_title(message, view, state, t)


@router.callback_query(PlanCB.filter(F.a.in_({"enough", "review"})))
async def enough_pressed(
    query: CallbackQuery,
    callback_data: PlanCB,
    state: FSMContext,
    plans: PlanService,
    t: Translator,
) -> None:
    message = _message(query)
    view = await plans.current(query.from_user.id, callback_data.c)
    if message is None or not isinstance(view, PlanView):
        await _refused(query, view if isinstance(view, PlanRefusal) else PlanRefusal.STALE, t)
        return
    await query.answer()
    await state.set_state(None)
    if callback_data.a == "enough":
        await keyboards.drop_buttons(message)
    if callback_data.a == "review":
        await message.answer(plan_text(view, t), reply_markup=_review_keyboard(view, t))
        return
    await _ask_next(message, view, state, t)


@router.callback_query(PlanCB.filter(F.a == "confirm"))
async def confirm_pressed(
    query: CallbackQuery,
    callback_data: PlanCB,
    state: FSMContext,
    plans: PlanService,
    t: Translator,
) -> None:
    message = _message(query)
    view = await plans.confirm(query.from_user.id, callback_data.c)
    if message is None or isinstance(view, PlanRefusal):
        await _refused(query, view if isinstance(view, PlanRefusal) else PlanRefusal.STALE, t)
        return
    await query.answer(t.plain("plan.confirmed_toast"))
    await state.set_state(None)
    await edit_text(message, plan_text(view, t))
    first = min(view.milestones, key=lambda m: m.due_on)
    await message.answer(
        t("plan.confirmed", date=t.date(first.due_on), title=first.title),
        reply_markup=_active_keyboard(view, t),
    )


@router.callback_query(PlanCB.filter(F.a == "edit"))
async def edit_pressed(
    query: CallbackQuery,
    callback_data: PlanCB,
    state: FSMContext,
    plans: PlanService,
    t: Translator,
) -> None:
    message = _message(query)
    view = await plans.current(query.from_user.id, callback_data.c)
    field = callback_data.v
    if message is None or not isinstance(view, PlanView):
        await _refused(query, view if isinstance(view, PlanRefusal) else PlanRefusal.STALE, t)
        return
    await query.answer()
    c = view.cohort_id
    if field == "area":
        await state.set_state(None)
        await message.answer(t("plan.ask.area"), reply_markup=_areas_keyboard(c, t))
    elif field in ("goal", "success", "support"):
        current = getattr(view, field)
        await state.update_data(pl_editing=True)
        await _ask_text(message, c, field, state, t)
        if current:
            await message.answer(t("plan.current_value", value=current))
    elif field == "ms":
        kb = InlineKeyboardBuilder()
        for m in view.milestones:
            if m.status is MilestoneStatus.OPEN:
                kb.button(
                    text=t.plain("plan.rm_button", number=m.number, title=m.title),
                    callback_data=PlanCB(a="rm", c=c, v=str(m.id)),
                )
        if len(view.milestones) < MAX_MILESTONES:
            kb.button(text=t.plain("plan.add_ms_button"), callback_data=PlanCB(a="addms", c=c))
        kb.button(text=t.plain("plan.back_button"), callback_data=PlanCB(a="review", c=c))
        kb.adjust(1)
        await message.answer(t("plan.ms_manage"), reply_markup=kb.as_markup())
    else:
        await _refused(query, PlanRefusal.NOT_YOURS, t)


@router.callback_query(PlanCB.filter(F.a == "rm"))
async def remove_pressed(
    query: CallbackQuery, callback_data: PlanCB, plans: PlanService, t: Translator
) -> None:
    message = _message(query)
    milestone_id = row_id(callback_data.v)
    if milestone_id is None:
        await _refused(query, PlanRefusal.NOT_YOURS, t)
        return
    view = await plans.remove_milestone(query.from_user.id, callback_data.c, milestone_id)
    if message is None or isinstance(view, PlanRefusal):
        await _refused(query, view if isinstance(view, PlanRefusal) else PlanRefusal.STALE, t)
        return
    await query.answer(t.plain("plan.removed_toast"))
    await keyboards.drop_buttons(message)
    await message.answer(
        plan_text(view, t),
        reply_markup=_review_keyboard(view, t) if not view.active else _active_keyboard(view, t),
    )


@router.callback_query(PlanCB.filter(F.a == "upd"))
async def update_pressed(
    query: CallbackQuery, callback_data: PlanCB, plans: PlanService, t: Translator
) -> None:
    message = _message(query)
    view = await plans.current(query.from_user.id, callback_data.c)
    if message is None or not isinstance(view, PlanView) or not view.active:
        await _refused(query, view if isinstance(view, PlanRefusal) else PlanRefusal.STALE, t)
        return
    await query.answer()
    kb = InlineKeyboardBuilder()
    for m in view.milestones:
        if m.status is not MilestoneStatus.DONE:
            kb.button(
                text=t.plain(
                    "plan.update_ms_button", icon=ICONS[m.status], number=m.number, title=m.title
                ),
                callback_data=MilestoneCB(m=m.id, a="a"),
            )
    kb.adjust(1)
    await message.answer(t("plan.choose_ms_update"), reply_markup=kb.as_markup())


# -- milestone check-ins -----------------------------------------------------------------


def _status_keyboard(m: MilestoneView, t: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for code, status in STATUS_CODES.items():
        kb.button(
            text=t.plain(f"plan.status_button.{status.value}"),
            callback_data=MilestoneCB(m=m.id, a=code),
        )
    kb.adjust(3)
    return kb.as_markup()


@router.callback_query(MilestoneCB.filter(F.a == "a"))
async def ask_status(
    query: CallbackQuery, callback_data: MilestoneCB, plans: PlanService, t: Translator
) -> None:
    message = _message(query)
    found = await plans.may_move(query.from_user.id, callback_data.m)
    view: MilestoneView | None = found if isinstance(found, MilestoneView) else None
    if isinstance(found, PlanRefusal) and found in (PlanRefusal.NOT_YOURS, PlanRefusal.STALE):
        await _refused(query, found, t)
        return
    if view is None:  # not movable, but its status can be told: look it up
        plan_view = await _plan_of_milestone(plans, query.from_user.id, callback_data.m)
        view = plan_view.milestone(callback_data.m) if plan_view else None
    if message is None or view is None:
        await _refused(query, PlanRefusal.STALE, t)
        return
    await query.answer()
    await message.answer(
        t("plan.checkin.ask", title=view.title, date=t.date(view.due_on)),
        reply_markup=_status_keyboard(view, t),
    )


async def _plan_of_milestone(
    plans: PlanService, telegram_id: int, milestone_id: int
) -> PlanView | None:
    for choice in await plans.cohorts(telegram_id) or []:
        view = await plans.current(telegram_id, choice.id)
        if isinstance(view, PlanView) and view.milestone(milestone_id) is not None:
            return view
    return None


@router.callback_query(MilestoneCB.filter(F.a.in_(set(STATUS_CODES))))
async def status_pressed(
    query: CallbackQuery,
    callback_data: MilestoneCB,
    state: FSMContext,
    plans: PlanService,
    t: Translator,
) -> None:
    message = _message(query)
    status = STATUS_CODES[callback_data.a]
    result = await plans.check_in(query.from_user.id, callback_data.m, status)
    if message is None or isinstance(result, PlanRefusal):
        await _refused(query, result if isinstance(result, PlanRefusal) else PlanRefusal.STALE, t)
        return
    await query.answer(t.plain("plan.saved_toast"))
    await _after_check_in(message, result, state, t)


async def _after_check_in(
    message: Message, result: CheckIn, state: FSMContext, t: Translator
) -> None:
    m = result.milestone
    await edit_text(
        message,
        t("plan.checkin.recorded", title=m.title, status=t.plain(f"plan.status.{m.status.value}")),
    )
    kb = InlineKeyboardBuilder()
    kb.button(text=t.plain("plan.skip_note_button"), callback_data=MilestoneCB(m=m.id, a="s"))
    if m.status is MilestoneStatus.DONE:
        kb.button(text=t.plain("plan.reflect_button"), callback_data=ReflectStartCB(milestone=m.id))
    elif m.status is MilestoneStatus.NOT_DONE and m.may_move and m.due_on <= result.plan.today:
        kb.button(text=t.plain("plan.move_button"), callback_data=MilestoneCB(m=m.id, a="m"))
    kb.adjust(1)
    await state.set_state(PlanForm.note)
    await state.update_data(pl_ms=m.id)
    await message.answer(
        t("plan.checkin.ask_note", status=m.status.value, limit=NOTE_LIMIT),
        reply_markup=kb.as_markup(),
    )


@router.callback_query(MilestoneCB.filter(F.a == "s"))
async def note_skipped(
    query: CallbackQuery,
    callback_data: MilestoneCB,
    state: FSMContext,
    plans: PlanService,
    t: Translator,
) -> None:
    message = _message(query)
    if (await state.get_data()).get("pl_ms") == callback_data.m:
        await state.set_state(None)
    view = await _plan_of_milestone(plans, query.from_user.id, callback_data.m)
    if message is None or view is None:  # gone, or somebody else's milestone
        await _refused(query, PlanRefusal.STALE, t)
        return
    await query.answer()
    await keyboards.drop_buttons(message)
    await _show(message, view, t)


@router.message(StateFilter(PlanForm.note), ~F.text.startswith("/"))
async def note_answered(
    message: Message, state: FSMContext, plans: PlanService, t: Translator
) -> None:
    assert message.from_user is not None
    checked = check_text(message.text, NOTE_LIMIT)
    if checked.value is None:
        await message.answer(_text_problem(checked, t))
        return
    milestone_id = int((await state.get_data())["pl_ms"])
    saved = await plans.set_note(message.from_user.id, milestone_id, checked.value)
    await state.set_state(None)
    if isinstance(saved, PlanRefusal):
        await _refused(message, saved, t)
        return
    await message.answer(t("plan.note_saved", title=saved.title))
    view = await _plan_of_milestone(plans, message.from_user.id, milestone_id)
    if view is not None:
        await _show(message, view, t)


@router.callback_query(MilestoneCB.filter(F.a == "m"))
async def move_pressed(
    query: CallbackQuery,
    callback_data: MilestoneCB,
    state: FSMContext,
    plans: PlanService,
    t: Translator,
) -> None:
    message = _message(query)
    found = await plans.may_move(query.from_user.id, callback_data.m)
    if message is None or isinstance(found, PlanRefusal):
        await _refused(query, found if isinstance(found, PlanRefusal) else PlanRefusal.STALE, t)
        return
    await query.answer()
    await state.set_state(PlanForm.move_reason)
    await state.update_data(pl_ms=found.id)
    await message.answer(
        t("plan.move.ask_reason", title=found.title, date=t.date(found.due_on), limit=REASON_LIMIT)
    )


@router.message(StateFilter(PlanForm.move_reason), ~F.text.startswith("/"))
async def reason_answered(message: Message, state: FSMContext, t: Translator) -> None:
    checked = check_text(message.text, REASON_LIMIT)
    if checked.value is None:
        await message.answer(_text_problem(checked, t))
        return
    await state.set_state(PlanForm.move_date)
    await state.update_data(pl_reason=checked.value)
    await message.answer(t("plan.move.ask_date"))


@router.message(StateFilter(PlanForm.move_date), ~F.text.startswith("/"))
async def move_date_answered(
    message: Message, state: FSMContext, plans: PlanService, t: Translator
) -> None:
    assert message.from_user is not None
    data = await state.get_data()
    milestone_id = int(data["pl_ms"])
    if message.text is None:
        await message.answer(t("plan.date.not_text"))
        return
    view = await _plan_of_milestone(plans, message.from_user.id, milestone_id)
    if view is None:
        await state.set_state(None)
        await _refused(message, PlanRefusal.STALE, t)
        return
    parsed = parse_day(message.text, view.today, allow_today=False)
    if parsed.value is None:
        assert parsed.problem is not None
        await message.answer(
            t(
                f"plan.date.{parsed.problem.value}",
                text=excerpt(message.text),
                today=t.date(view.today),
            )
        )
        return
    moved = await plans.move(
        message.from_user.id, milestone_id, str(data["pl_reason"]), parsed.value
    )
    await state.set_state(None)
    if isinstance(moved, PlanRefusal):
        await _refused(message, moved, t)
        return
    m = moved.milestone(milestone_id)
    assert m is not None and m.moved_from is not None
    await message.answer(
        t("plan.move.done", title=m.title, date=t.date(m.due_on), was=t.date(m.moved_from))
    )
    await _show(message, moved, t)


@router.message(StateFilter(PlanForm), ~F.text.startswith("/"))
async def not_text(message: Message, t: Translator) -> None:
    """A sticker, photo or voice where words are expected (text was handled above)."""
    await message.answer(t("plan.text.not_text"))
