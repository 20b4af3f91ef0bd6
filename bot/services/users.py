"""Who is talking to the bot: their roles, language and profile."""

from __future__ import annotations

from dataclasses import dataclass

from bot.db.repositories import enrolment_dto, mentor_dto, user_dto
from bot.domain.model import Profile, Role, UserDTO
from bot.domain.ports import Clock
from bot.services.uow import UowFactory

SUPPORTED_LOCALES = ("zh-CN", "en")


@dataclass(frozen=True, slots=True)
class UserContext:
    telegram_id: int
    user: UserDTO | None
    is_organiser: bool
    locale: str | None  # the stored preference, if any


class UserService:
    def __init__(self, uow: UowFactory, clock: Clock, organiser_ids: frozenset[int]) -> None:
        self._uow = uow
        self._clock = clock
        self._organiser_ids = organiser_ids

    async def context(self, telegram_id: int) -> UserContext:
        configured = telegram_id in self._organiser_ids
        async with self._uow() as uow:
            dto = await uow.users.dto_by_telegram_id(telegram_id, is_organiser=configured)
        if dto is None:
            return UserContext(telegram_id, None, configured, None)
        return UserContext(telegram_id, dto, dto.is_organiser, dto.locale)

    async def set_locale(self, telegram_id: int, locale: str) -> bool:
        """Store the language choice of a user who has consented; False when there is none."""
        if locale not in SUPPORTED_LOCALES:
            raise ValueError(f"unsupported locale {locale}")
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            if user is None or user.consent_at is None:
                return False
            user.locale = locale
            user.updated_at = self._clock.now()
            await uow.commit()
            return True

    async def profile(self, telegram_id: int) -> Profile | None:
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            if user is None:
                return None
            enrolments = tuple(enrolment_dto(e) for e in await uow.enrolments.for_user(user.id))
            return Profile(
                user=user_dto(user, is_organiser=telegram_id in self._organiser_ids),
                enrolments=enrolments,
                mentor=mentor_dto(await uow.mentors.get(user.id)),
            )

    async def add_organiser(self, telegram_id: int, *, actor: str = "cli") -> bool:
        """Grant the organiser role; False when the user had it already."""
        now = self._clock.now()
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_id)
            if user is None:
                user = await uow.users.add(telegram_id, now)
            granted = await uow.users.grant_role(user, Role.ORGANISER, now)
            if granted:
                await uow.audit.record(
                    now,
                    "organiser_added",
                    actor_kind=actor,
                    target_type="user",
                    target_id=user.id,
                )
            await uow.commit()
            return granted
