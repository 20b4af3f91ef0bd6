"""Commands that work everywhere, also in the middle of a conversation."""

from __future__ import annotations

import json

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, InaccessibleMessage, Message

from bot.content import Translator
from bot.domain.model import Profile
from bot.services.privacy import PrivacyService
from bot.services.users import SUPPORTED_LOCALES, UserContext, UserService
from handlers import keyboards
from handlers.callbacks import DeleteCB, LangCB
from handlers.middlewares import LOCALE_KEY

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")


@router.message(Command("help"))
async def help_(message: Message, ctx: UserContext, t: Translator) -> None:
    parts = [t("help.header")]
    parts.append(t("help.member") if ctx.user and ctx.user.consent_at else t("help.guest"))
    if ctx.is_organiser:
        parts.append(t("help.organiser"))
    await message.answer("\n".join(parts))


@router.message(Command("lang"))
async def lang(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    users: UserService,
    ctx: UserContext,
    t: Translator,
) -> None:
    wanted = _match_locale(command.args or "")
    if wanted is None:
        await message.answer(t("lang.choose"), reply_markup=keyboards.languages(t))
        return
    await _switch(message, wanted, state, users, ctx, t)


@router.callback_query(LangCB.filter())
async def lang_pressed(
    query: CallbackQuery,
    callback_data: LangCB,
    state: FSMContext,
    users: UserService,
    ctx: UserContext,
    t: Translator,
) -> None:
    message = query.message
    wanted = _match_locale(callback_data.locale)
    if wanted is None or message is None or isinstance(message, InaccessibleMessage):
        await query.answer(t.plain("problem.stale_button"))
        return
    await query.answer()
    await keyboards.drop_buttons(message)
    await _switch(message, wanted, state, users, ctx, t)


async def _switch(
    message: Message,
    locale: str,
    state: FSMContext,
    users: UserService,
    ctx: UserContext,
    t: Translator,
) -> None:
    # Before consent nothing goes to the database: the choice lives in FSM storage only.
    if not await users.set_locale(ctx.telegram_id, locale):
        await state.update_data({LOCALE_KEY: locale})
    switched = Translator(t.texts, locale)
    await message.answer(switched("lang.switched"))


def _match_locale(raw: str) -> str | None:
    wanted = raw.strip().lower()
    if not wanted:
        return None
    for locale in SUPPORTED_LOCALES:
        if locale.lower() == wanted or locale.split("-")[0].lower() == wanted:
            return locale
    if wanted in {"中文", "cn", "zh-hans"}:
        return "zh-CN"
    if wanted in {"english", "英文"}:
        return "en"
    return None


@router.message(Command("me"))
async def me(
    message: Message, users: UserService, ctx: UserContext, t: Translator, timezone: str
) -> None:
    profile = await users.profile(ctx.telegram_id)
    if profile is None or profile.user.consent_at is None:
        await message.answer(t("me.none"))
        return
    await message.answer(
        render_profile(profile, t, timezone), reply_markup=keyboards.profile_edit(t, profile)
    )


def render_profile(profile: Profile, t: Translator, default_timezone: str) -> str:
    user = profile.user
    missing = t.plain("me.not_given")
    unit = user.unit_name or missing
    if user.unit_type is not None:
        unit = f"{unit}（{t.plain(f'unit_type.{user.unit_type.value}')}）"
    # Times read in the zone of the person's (first) cohort, else the bot's default zone.
    zone = next((e.cohort.timezone for e in profile.enrolments), default_timezone)
    consent_at = t.moment(user.consent_at, zone) if user.consent_at else missing
    parts = [
        t(
            "me.profile",
            name=user.full_name or missing,
            unit=unit,
            district=user.district or missing,
            position=user.position or missing,
            consent_at=consent_at,
        )
    ]
    if profile.mentor is not None:
        parts.append(
            t(
                "me.mentor",
                areas=t.join([t.area(a) for a in profile.mentor.areas]) or missing,
                capacity=profile.mentor.capacity or missing,
                strengths=t.join([t.strength(s) for s in profile.mentor.strengths]) or missing,
                bio=profile.mentor.bio or missing,
            )
        )
    memberships = [e for e in profile.enrolments if e.role.value != "organiser"]
    if memberships:
        parts.append("")
        parts.append(t("me.enrolments_header"))
        for e in memberships:
            parts.append(
                t(
                    "me.enrolment",
                    cohort=e.cohort.name,
                    role=t.plain(f"role.{e.role.value}"),
                    status=t.plain(f"me.status_{e.status.value}"),
                )
            )
    return "\n".join(parts)


@router.message(Command("cancel"))
async def cancel(message: Message, state: FSMContext, t: Translator) -> None:
    if await state.get_state() is None:
        await message.answer(t("cancel.nothing"))
        return
    await state.set_state(None)
    await message.answer(t("cancel.done"))


@router.message(Command("mydata"))
async def my_data(
    message: Message, privacy: PrivacyService, ctx: UserContext, t: Translator
) -> None:
    data = await privacy.export(ctx.telegram_id)
    if data is None:
        await message.answer(t("mydata.none"))
        return
    payload = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    await message.answer_document(
        BufferedInputFile(payload, filename="xueyong-my-data.json"),
        caption=t("mydata.caption"),
    )


@router.message(Command("delete_my_data"))
async def delete_my_data(
    message: Message, privacy: PrivacyService, ctx: UserContext, t: Translator
) -> None:
    if ctx.user is None or ctx.user.consent_at is None:
        await message.answer(t("delete.nothing"))
        return
    await message.answer(t("delete.confirm"), reply_markup=keyboards.delete_confirm(t))


@router.callback_query(DeleteCB.filter())
async def delete_pressed(
    query: CallbackQuery,
    callback_data: DeleteCB,
    state: FSMContext,
    privacy: PrivacyService,
    t: Translator,
) -> None:
    message = query.message
    if message is None or isinstance(message, InaccessibleMessage):
        await query.answer(t.plain("problem.stale_button"))
        return
    await query.answer()
    await keyboards.drop_buttons(message)
    if not callback_data.confirm:
        await message.answer(t("delete.kept"))
        return
    erasure = await privacy.erase(query.from_user.id)
    await state.clear()
    await message.answer(t("delete.done") if erasure.erased else t("delete.nothing"))
