"""Enrolment: /start <code> → consent → profile questions → welcome; and editing the
profile afterwards from /me (district, and a mentor's strengths and bio).

The database decides which question comes next (EnrolmentService.state), so a conversation
whose FSM state was lost in a restart resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiogram import F, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InaccessibleMessage, Message

from bot.content import Translator
from bot.domain.enrolment import (
    BIO_MAX,
    BIO_SKIPPED,
    DISTRICT_MAX,
    MENTOR_AREAS_MAX,
    MENTOR_CAPACITY_MAX,
    MENTOR_STRENGTHS_MAX,
    NAME_MAX,
    Checked,
    EnrolStep,
    check_bio,
    check_capacity,
    check_district,
    check_name,
    check_position,
    check_unit_name,
    check_unit_type,
)
from bot.domain.model import MentorProfileDTO, Role
from bot.services.enrolment import ConsentOutcome, EnrolmentService, UserState
from bot.services.users import UserContext
from handlers import keyboards
from handlers.callbacks import (
    AREAS_DONE,
    STRENGTHS_DONE,
    AreaCB,
    BioSkipCB,
    CapacityCB,
    ConsentCB,
    ProfileCB,
    StrengthCB,
    UnitTypeCB,
)

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")


class Enrol(StatesGroup):
    name = State()
    unit_type = State()
    unit_name = State()
    district = State()
    position = State()
    mentor_areas = State()
    mentor_capacity = State()
    mentor_strengths = State()
    mentor_bio = State()


class EditProfile(StatesGroup):
    """Typing a new value after pressing an edit button under /me."""

    district = State()
    bio = State()


_STATE_OF_STEP = {
    EnrolStep.NAME: Enrol.name,
    EnrolStep.UNIT_TYPE: Enrol.unit_type,
    EnrolStep.UNIT_NAME: Enrol.unit_name,
    EnrolStep.DISTRICT: Enrol.district,
    EnrolStep.POSITION: Enrol.position,
    EnrolStep.MENTOR_AREAS: Enrol.mentor_areas,
    EnrolStep.MENTOR_CAPACITY: Enrol.mentor_capacity,
    EnrolStep.MENTOR_STRENGTHS: Enrol.mentor_strengths,
    EnrolStep.MENTOR_BIO: Enrol.mentor_bio,
}

_TEXT_CHECKS = {
    EnrolStep.NAME: check_name,
    EnrolStep.UNIT_NAME: check_unit_name,
    EnrolStep.DISTRICT: check_district,
    EnrolStep.POSITION: check_position,
    EnrolStep.MENTOR_CAPACITY: check_capacity,
    EnrolStep.MENTOR_BIO: check_bio,
}


@router.message(CommandStart())
async def start(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    enrolment: EnrolmentService,
    ctx: UserContext,
    t: Translator,
) -> None:
    if command.args:
        await _start_with_code(message, command.args, state, enrolment, t)
        return
    current = await enrolment.state(ctx.telegram_id)
    if current.next_step is not None:
        await message.answer(t("start.resume"))
        await ask_next(message, current, state, t)
    elif current.active:
        items = [
            {"cohort": e.cohort.name, "role": t.plain(f"role.{e.role.value}")}
            for e in current.active
            if e.role is not Role.ORGANISER
        ]
        if ctx.is_organiser and not items:
            await message.answer(t("start.organiser", name=_display_name(message, current)))
        else:
            await message.answer(
                t("start.welcome_back", name=_display_name(message, current), enrolments=items)
            )
    elif ctx.is_organiser:
        await message.answer(t("start.organiser", name=_display_name(message, current)))
    else:
        await message.answer(t("start.no_code"))


async def _start_with_code(
    message: Message,
    raw_code: str,
    state: FSMContext,
    enrolment: EnrolmentService,
    t: Translator,
) -> None:
    assert message.from_user is not None
    check = await enrolment.check_invite(raw_code, message.from_user.id)
    if check.problem is not None:
        await message.answer(t(f"invite.{check.problem.value}"))
        return
    assert check.cohort is not None and check.role is not None and check.code is not None
    if check.already_enrolled:
        current = await enrolment.state(message.from_user.id)
        if any(e.cohort.id == check.cohort.id for e in current.pending):
            # They agreed earlier and stopped half-way: carry on where they were.
            await message.answer(t("start.resume"))
            await ask_next(message, current, state, t)
            return
        if any(e.cohort.id == check.cohort.id for e in current.active):
            await message.answer(t("invite.already_enrolled", cohort=check.cohort.name))
            return
    await message.answer(
        t(
            "consent.notice",
            cohort=check.cohort.name,
            course=check.cohort.course_title,
            role=t.plain(f"role.{check.role.value}"),
            is_mentor=check.role is Role.MENTOR,
        ),
        reply_markup=keyboards.consent(t, check.code),
    )


@router.callback_query(ConsentCB.filter())
async def consent_pressed(
    query: CallbackQuery,
    callback_data: ConsentCB,
    state: FSMContext,
    enrolment: EnrolmentService,
    t: Translator,
) -> None:
    message = query.message
    if message is None or isinstance(message, InaccessibleMessage):
        await query.answer(t.plain("consent.stale"), show_alert=True)
        return
    if not callback_data.agree:
        await query.answer()
        await keyboards.drop_buttons(message)
        await message.answer(t("consent.declined"))
        return
    result = await enrolment.consent(query.from_user.id, callback_data.code, t.locale)
    await query.answer(
        t.plain("consent.recorded") if result.outcome is ConsentOutcome.ENROLLING else None
    )
    await keyboards.drop_buttons(message)
    if result.outcome is ConsentOutcome.INVITE_INVALID:
        assert result.problem is not None
        await message.answer(t(f"invite.{result.problem.value}"))
        return
    if result.outcome is ConsentOutcome.ALREADY_ENROLLED:
        cohort = result.cohort.name if result.cohort else ""
        await message.answer(t("invite.already_enrolled", cohort=cohort))
        return
    await ask_next(message, result.state, state, t)


async def ask_next(message: Message, current: UserState, state: FSMContext, t: Translator) -> None:
    """Ask the next question, or welcome the person when nothing is left to ask."""
    step = current.next_step
    if step is None or step is EnrolStep.DONE:
        await state.set_state(None)
        await _welcome(message, current, t)
        return
    await state.set_state(_STATE_OF_STEP[step])
    if step is EnrolStep.NAME:
        await message.answer(t("ask.name", limit=NAME_MAX))
    elif step is EnrolStep.UNIT_TYPE:
        await message.answer(t("ask.unit_type"), reply_markup=keyboards.unit_types(t))
    elif step is EnrolStep.UNIT_NAME:
        assert current.user is not None and current.user.unit_type is not None
        unit = current.user.unit_type.value
        await message.answer(
            t(
                "ask.unit_name",
                unit_type=t.plain(f"unit_type.{unit}"),
                example=t.plain(f"unit_example.{unit}"),
            )
        )
    elif step is EnrolStep.DISTRICT:
        await message.answer(t("ask.district", limit=DISTRICT_MAX))
    elif step is EnrolStep.POSITION:
        await message.answer(t("ask.position"))
    elif step is EnrolStep.MENTOR_AREAS:
        selected = current.mentor.areas if current.mentor else ()
        await message.answer(
            t("ask.mentor_areas", max=MENTOR_AREAS_MAX),
            reply_markup=keyboards.mentor_areas(t, selected),
        )
    elif step is EnrolStep.MENTOR_CAPACITY:
        await message.answer(
            t("ask.mentor_capacity", max=MENTOR_CAPACITY_MAX),
            reply_markup=keyboards.capacity(MENTOR_CAPACITY_MAX),
        )
    elif step is EnrolStep.MENTOR_STRENGTHS:
        await _ask_strengths(message, current.mentor, t)
    elif step is EnrolStep.MENTOR_BIO:
        await message.answer(t("ask.mentor_bio", limit=BIO_MAX), reply_markup=keyboards.bio_skip(t))


async def _ask_strengths(message: Message, mentor: MentorProfileDTO | None, t: Translator) -> None:
    selected = mentor.strengths if mentor else ()
    await message.answer(
        t("ask.mentor_strengths", max=MENTOR_STRENGTHS_MAX),
        reply_markup=keyboards.mentor_strengths(t, selected),
    )


async def _welcome(message: Message, current: UserState, t: Translator) -> None:
    for done in current.just_completed:
        if done.role is Role.MENTOR:
            mentor = current.mentor
            await message.answer(
                t(
                    "welcome.mentor",
                    cohort=done.cohort.name,
                    areas=t.join([t.area(a) for a in mentor.areas]) if mentor else "",
                    capacity=mentor.capacity if mentor else "",
                    strengths=t.join([t.strength(s) for s in mentor.strengths]) if mentor else "",
                )
            )
        else:
            await message.answer(
                t("welcome.trainee", cohort=done.cohort.name, ends_on=t.date(done.cohort.ends_on))
            )


async def _reply_problem(message: Message, checked: Checked, t: Translator) -> None:
    assert checked.problem is not None
    await message.answer(t(f"problem.{checked.problem.value}", limit=checked.limit))


async def answer_text(
    message: Message,
    current: UserState,
    state: FSMContext,
    enrolment: EnrolmentService,
    t: Translator,
) -> None:
    """A message during enrolment: the answer to whichever question is open."""
    step = current.next_step
    assert step is not None and message.from_user is not None
    if step not in _TEXT_CHECKS:
        await message.answer(t("problem.use_buttons"))
        await ask_next(message, current, state, t)
        return
    if step is EnrolStep.MENTOR_BIO and await state.get_state() == Enrol.mentor_strengths.state:
        # One strength is chosen (so the database already asks for the bio), but the
        # person has not pressed "done": this text is not meant as the bio.
        await message.answer(t("problem.strengths_done_first"))
        await _ask_strengths(message, current.mentor, t)
        return
    if message.text is None:
        await message.answer(t("problem.need_text"))
        return
    checked = _TEXT_CHECKS[step](message.text)
    if not checked.ok:
        await _reply_problem(message, checked, t)
        return
    await ask_next(message, await enrolment.answer(message.from_user.id, step, checked), state, t)


async def _edit_typed(
    message: Message,
    state: FSMContext,
    t: Translator,
    check: Callable[[str | None], Checked],
    save: Callable[[int, Checked], Awaitable[UserState | None]],
    saved: Callable[[str | int | None], str],
) -> None:
    """A profile field typed in /me's edit flow: checked like at enrolment, then saved."""
    if message.text is None:
        await message.answer(t("problem.need_text"))
        return
    checked = check(message.text)
    if not checked.ok:
        await _reply_problem(message, checked, t)
        return
    assert message.from_user is not None
    updated = await save(message.from_user.id, checked)
    await state.set_state(None)
    if updated is None:
        await message.answer(t("me.edit_unavailable"))
        return
    await message.answer(saved(checked.value))


@router.message(EditProfile.district, ~F.text.startswith("/"))
async def district_typed(
    message: Message, state: FSMContext, enrolment: EnrolmentService, t: Translator
) -> None:
    await _edit_typed(
        message,
        state,
        t,
        check_district,
        enrolment.update_district,
        lambda value: t("me.district_saved", district=value),
    )


@router.message(EditProfile.bio, ~F.text.startswith("/"))
async def bio_typed(
    message: Message, state: FSMContext, enrolment: EnrolmentService, t: Translator
) -> None:
    await _edit_typed(
        message,
        state,
        t,
        check_bio,
        enrolment.update_bio,
        lambda value: t("me.bio_saved", bio=value),
    )


@router.message(~F.text.startswith("/"))
async def in_enrolment(
    message: Message,
    state: FSMContext,
    enrolment: EnrolmentService,
    ctx: UserContext,
    t: Translator,
) -> None:
    """Any non-command message: if an enrolment is open, it answers the open question."""
    current = await enrolment.state(ctx.telegram_id)
    if current.next_step is None:
        await message.answer(t("unknown"))
        return
    await answer_text(message, current, state, enrolment, t)


@router.callback_query(UnitTypeCB.filter())
async def unit_type_pressed(
    query: CallbackQuery,
    callback_data: UnitTypeCB,
    state: FSMContext,
    enrolment: EnrolmentService,
    t: Translator,
) -> None:
    await _answer_button(
        query, EnrolStep.UNIT_TYPE, check_unit_type(callback_data.value), state, enrolment, t
    )


@router.callback_query(CapacityCB.filter())
async def capacity_pressed(
    query: CallbackQuery,
    callback_data: CapacityCB,
    state: FSMContext,
    enrolment: EnrolmentService,
    t: Translator,
) -> None:
    await _answer_button(
        query,
        EnrolStep.MENTOR_CAPACITY,
        check_capacity(str(callback_data.value)),
        state,
        enrolment,
        t,
    )


async def _answer_button(
    query: CallbackQuery,
    step: EnrolStep,
    checked: Checked,
    state: FSMContext,
    enrolment: EnrolmentService,
    t: Translator,
) -> None:
    message = query.message
    current = await enrolment.state(query.from_user.id)
    if (
        message is None
        or isinstance(message, InaccessibleMessage)
        or current.next_step is not step
        or not checked.ok
    ):
        await query.answer(t.plain("problem.stale_button"))
        return
    await query.answer()
    await keyboards.drop_buttons(message)
    await ask_next(message, await enrolment.answer(query.from_user.id, step, checked), state, t)


@router.callback_query(AreaCB.filter())
async def area_pressed(
    query: CallbackQuery,
    callback_data: AreaCB,
    state: FSMContext,
    enrolment: EnrolmentService,
    t: Translator,
) -> None:
    message = query.message
    current = await enrolment.state(query.from_user.id)
    mentor_pending = any(e.role is Role.MENTOR for e in current.pending)
    open_steps = (EnrolStep.MENTOR_AREAS, EnrolStep.MENTOR_CAPACITY)
    if (
        message is None
        or isinstance(message, InaccessibleMessage)
        or not mentor_pending
        or current.next_step not in open_steps
    ):
        await query.answer(t.plain("problem.stale_button"))
        return
    if callback_data.area == AREAS_DONE:
        if current.mentor is None or not current.mentor.areas:
            await query.answer(t.plain("problem.areas_empty"), show_alert=True)
            return
        await query.answer()
        await keyboards.drop_buttons(message)
        await ask_next(message, current, state, t)
        return
    if callback_data.area not in t.texts.area_ids():
        await query.answer(t.plain("problem.stale_button"))
        return
    profile = await enrolment.toggle_mentor_area(
        query.from_user.id, callback_data.area, t.texts.area_ids()
    )
    await query.answer()
    await message.edit_reply_markup(reply_markup=keyboards.mentor_areas(t, profile.areas))


@router.callback_query(StrengthCB.filter())
async def strength_pressed(
    query: CallbackQuery,
    callback_data: StrengthCB,
    state: FSMContext,
    enrolment: EnrolmentService,
    t: Translator,
) -> None:
    message = query.message
    current = await enrolment.state(query.from_user.id)
    mentor_pending = any(e.role is Role.MENTOR for e in current.pending)
    open_steps = (EnrolStep.MENTOR_STRENGTHS, EnrolStep.MENTOR_BIO)
    if (
        message is None
        or isinstance(message, InaccessibleMessage)
        or not mentor_pending
        or current.next_step not in open_steps
    ):
        await query.answer(t.plain("problem.stale_button"))
        return
    chosen = current.mentor.strengths if current.mentor else ()
    if callback_data.s == STRENGTHS_DONE:
        if not chosen:
            await query.answer(t.plain("problem.strengths_empty"), show_alert=True)
            return
        await query.answer()
        await keyboards.drop_buttons(message)
        await ask_next(message, current, state, t)
        return
    known = t.texts.strength_ids()
    if callback_data.s not in known:
        await query.answer(t.plain("problem.stale_button"))
        return
    if callback_data.s not in chosen and len(chosen) >= MENTOR_STRENGTHS_MAX:
        await query.answer(t.plain("problem.strengths_max", max=MENTOR_STRENGTHS_MAX))
        return
    profile = await enrolment.toggle_mentor_strength(query.from_user.id, callback_data.s, known)
    await query.answer()
    await state.set_state(Enrol.mentor_strengths)
    await message.edit_reply_markup(reply_markup=keyboards.mentor_strengths(t, profile.strengths))


@router.callback_query(BioSkipCB.filter())
async def bio_skip_pressed(
    query: CallbackQuery, state: FSMContext, enrolment: EnrolmentService, t: Translator
) -> None:
    await _answer_button(
        query, EnrolStep.MENTOR_BIO, Checked(value=BIO_SKIPPED), state, enrolment, t
    )


# --- editing the profile from /me ---------------------------------------------------------


@router.callback_query(ProfileCB.filter())
async def profile_pressed(
    query: CallbackQuery,
    callback_data: ProfileCB,
    state: FSMContext,
    enrolment: EnrolmentService,
    t: Translator,
) -> None:
    message = query.message
    current = await enrolment.state(query.from_user.id)
    action = callback_data.a
    allowed = current.may_edit_profile if action == "d" else current.may_edit_mentor_profile
    if message is None or isinstance(message, InaccessibleMessage) or not allowed:
        await query.answer(t.plain("problem.stale_button"))
        return
    mentor = current.mentor
    if action == "d":
        await query.answer()
        await state.set_state(EditProfile.district)
        await message.answer(t("me.ask_district", limit=DISTRICT_MAX))
    elif action == "b" and mentor is not None:
        await query.answer()
        await state.set_state(EditProfile.bio)
        await message.answer(
            t("me.ask_bio", limit=BIO_MAX, bio=mentor.bio or ""),
            reply_markup=keyboards.profile_bio(t, bool(mentor.bio)),
        )
    elif action == "c" and mentor is not None:
        if not mentor.bio:
            await query.answer(t.plain("problem.stale_button"))
            return
        await enrolment.update_bio(query.from_user.id, Checked(value=BIO_SKIPPED))
        await query.answer()
        await state.set_state(None)
        await keyboards.drop_buttons(message)
        await message.answer(t("me.bio_cleared"))
    elif action == "s" and mentor is not None:
        await query.answer()
        await state.set_state(None)
        await message.answer(
            t("me.ask_strengths", max=MENTOR_STRENGTHS_MAX),
            reply_markup=keyboards.profile_strengths(t, mentor.strengths),
        )
    elif action == "t" and mentor is not None and callback_data.v in t.texts.strength_ids():
        await _toggle_profile_strength(query, message, callback_data.v, mentor, enrolment, t)
    elif action == "ok" and mentor is not None and mentor.strengths:
        await query.answer()
        await keyboards.drop_buttons(message)
        names = t.join([t.strength(s) for s in mentor.strengths])
        await message.answer(t("me.strengths_saved", strengths=names))
    else:
        await query.answer(t.plain("problem.stale_button"))


async def _toggle_profile_strength(
    query: CallbackQuery,
    message: Message,
    strength: str,
    mentor: MentorProfileDTO,
    enrolment: EnrolmentService,
    t: Translator,
) -> None:
    if mentor.strengths == (strength,):
        await query.answer(t.plain("problem.strengths_keep_one"), show_alert=True)
        return
    if strength not in mentor.strengths and len(mentor.strengths) >= MENTOR_STRENGTHS_MAX:
        await query.answer(t.plain("problem.strengths_max", max=MENTOR_STRENGTHS_MAX))
        return
    profile = await enrolment.edit_mentor_strength(
        query.from_user.id, strength, t.texts.strength_ids()
    )
    if profile is None:
        await query.answer(t.plain("problem.stale_button"))
        return
    await query.answer()
    await message.edit_reply_markup(reply_markup=keyboards.profile_strengths(t, profile.strengths))


def _display_name(message: Message, current: UserState) -> str:
    if current.user is not None and current.user.full_name:
        return current.user.full_name
    return message.from_user.first_name if message.from_user else ""


__all__ = ["EditProfile", "Enrol", "router"]
