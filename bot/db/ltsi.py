"""Queries of the LTSI self-checks: waves, responses, answers and follow-ups."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, Table, and_, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import insert_for
from bot.db.models import (
    Cohort,
    LtsiAnswer,
    LtsiFollowUp,
    LtsiResponse,
    LtsiWave,
    User,
)
from bot.db.repositories import active_members


@dataclass(frozen=True, slots=True)
class Participant:
    """A trainee a wave goes to."""

    user_id: int
    chat_id: int
    locale: str | None


@dataclass(frozen=True, slots=True)
class Unfinished:
    response_id: int
    user_id: int
    chat_id: int
    locale: str | None
    answered: int


@dataclass(frozen=True, slots=True)
class AnswerRow:
    user_id: int
    full_name: str | None
    unit_type: str | None
    unit_name: str | None
    wave_kind: str
    item_id: str
    value: int
    answered_at: datetime


@dataclass(frozen=True, slots=True)
class AnswerState:
    """What pressing an answer needs to know, read in one query (LtsiRepository.state)."""

    response_id: int
    user_id: int
    status: str
    position: int
    message_id: int | None
    wave_kind: str
    wave_status: str
    closes_at: datetime
    items: list[str]
    timezone: str
    chosen: int | None  # the answer given before to the question at `at` (if any)


# The answer path (LtsiRepository.state / record_answer) uses Core columns and statements
# built once: no entities to load, identity-map or expire, and no ORM compile step. It runs
# about 50 times per trainee and check, 200 trainees at once (bench.ltsi).
_responses, _waves, _cohorts, _users, _answers = (
    cast(Table, model.__table__) for model in (LtsiResponse, LtsiWave, Cohort, User, LtsiAnswer)
)
_r, _w, _c, _u, _a = (t.c for t in (_responses, _waves, _cohorts, _users, _answers))
_STATE = (
    select(
        _r.id,
        _r.user_id,
        _r.status,
        _r.position,
        _r.message_id,
        _w.kind.label("wave_kind"),
        _w.status.label("wave_status"),
        _w.closes_at,
        _w["items"],
        _c.timezone,
        _a.value.label("chosen"),
    )
    .select_from(
        _responses.join(_waves, _w.id == _r.wave_id)
        .join(_cohorts, _c.id == _w.cohort_id)
        .join(_users, _u.id == _r.user_id)
        .outerjoin(
            _answers,
            and_(
                _a.response_id == _r.id,
                _a.item_id
                == _w["items"][bindparam("at", type_=JSON.JSONIntIndexType())].as_string(),
            ),
        )
    )
    .where(_r.id == bindparam("response_id"), _u.telegram_id == bindparam("telegram_id"))
)
UNFINISHED_STATUSES = ("invited", "answering", "paused")
# PostgreSQL: the compare-and-set and the answer in one statement, one round trip; a row
# comes back only when the position moved (the answer is written only then).
_MOVED = (
    update(_responses)
    .where(
        _r.id == bindparam("response_id"),
        _r.position == bindparam("expected"),
        _r.status.in_(UNFINISHED_STATUSES),
    )
    .values(position=bindparam("to"), status=bindparam("status"), updated_at=bindparam("now"))
    .returning(_r.id)
    .cte("moved")
)
_pg_answer = postgresql.insert(_answers).from_select(
    ["response_id", "item_id", "value", "answered_at"],
    select(
        _MOVED.c.id,
        bindparam("item_id", type_=_a.item_id.type),
        bindparam("value", type_=_a.value.type),
        bindparam("answered_at", type_=_a.answered_at.type),
    ),
)
_PG_ANSWER = _pg_answer.on_conflict_do_update(
    index_elements=["response_id", "item_id"],
    set_={"value": _pg_answer.excluded.value, "answered_at": _pg_answer.excluded.answered_at},
).returning(_a.response_id)
# SQLite: the same two writes as plain SQL on the driver's connection, one trip to its
# thread each; through SQLAlchemy's aiosqlite adapter a statement takes three (cursor,
# execute, close). They run under UnitOfWork.writing(), which every writer of the process
# waits for, so the fewer trips while holding it, the more answers a second.
_SQLITE_MOVE = (
    "UPDATE ltsi_responses SET position = ?, status = ?, updated_at = ?"
    " WHERE id = ? AND position = ? AND status IN ('invited', 'answering', 'paused')"
)
_SQLITE_TIME: Callable[[datetime], Any] = _a.answered_at.type.bind_processor(  # type: ignore[assignment]
    sqlite.dialect()
)  # a datetime as SQLAlchemy binds it on SQLite: UTCDateTime's, then SQLite's format
_SQLITE_ANSWER = (
    "INSERT INTO ltsi_answers (response_id, item_id, value, answered_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (response_id, item_id)"
    " DO UPDATE SET value = excluded.value, answered_at = excluded.answered_at"
)


class LtsiRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- waves ---------------------------------------------------------------------------

    async def add_wave(self, wave: LtsiWave) -> LtsiWave:
        self.session.add(wave)
        await self.session.flush()
        return wave

    async def wave(self, wave_id: int) -> LtsiWave | None:
        return await self.session.get(LtsiWave, wave_id)

    async def waves_of(self, cohort_id: int) -> Sequence[LtsiWave]:
        result = await self.session.execute(
            select(LtsiWave).where(LtsiWave.cohort_id == cohort_id).order_by(LtsiWave.opens_at)
        )
        return result.scalars().all()

    async def cohorts_without_waves(self) -> Sequence[Cohort]:
        planned = select(LtsiWave.id).where(LtsiWave.cohort_id == Cohort.id).exists()
        result = await self.session.execute(select(Cohort).where(~planned).order_by(Cohort.id))
        return result.scalars().all()

    async def participants(self, cohort_id: int) -> list[Participant]:
        """Active, consenting trainees of the cohort."""
        result = await self.session.execute(
            active_members(cohort_id, "trainee", User.id, User.telegram_id, User.locale).order_by(
                User.id
            )
        )
        return [Participant(u, c, loc) for u, c, loc in result.tuples()]

    # -- responses -----------------------------------------------------------------------

    async def invite(self, rows: list[dict[str, Any]]) -> None:
        """One response row per (wave, user); a second invitation is a no-op."""
        if rows:
            stmt = insert_for(self.session, LtsiResponse).values(rows)
            await self.session.execute(
                stmt.on_conflict_do_nothing(index_elements=["wave_id", "user_id"])
            )

    async def responses_by_user(self, wave_id: int) -> dict[int, int]:
        result = await self.session.execute(
            select(LtsiResponse.user_id, LtsiResponse.id).where(LtsiResponse.wave_id == wave_id)
        )
        return dict(result.tuples().all())

    async def response_for(
        self, response_id: int, telegram_id: int
    ) -> tuple[LtsiResponse, Cohort] | None:
        """The response (with its wave) and cohort, if it belongs to this Telegram user."""
        result = await self.session.execute(
            select(LtsiResponse, Cohort)
            .join(LtsiWave, LtsiWave.id == LtsiResponse.wave_id)
            .join(Cohort, Cohort.id == LtsiWave.cohort_id)
            .join(User, User.id == LtsiResponse.user_id)
            .where(LtsiResponse.id == response_id, User.telegram_id == telegram_id)
        )
        row = result.tuples().first()
        return None if row is None else (row[0], row[1])

    async def state(self, response_id: int, telegram_id: int, at: int) -> AnswerState | None:
        """The response (if it is this Telegram user's) with what the answer path needs of
        its wave and cohort, and the answer already given to question `at`, in one query."""
        result = await self.session.execute(
            _STATE, {"response_id": response_id, "telegram_id": telegram_id, "at": max(0, at)}
        )
        row = result.first()
        return None if row is None else AnswerState(*row)

    async def record_answer(
        self,
        response_id: int,
        expected: int,
        item_id: str,
        value: int,
        now: datetime,
    ) -> bool:
        """Save the answer to the question at `expected` and move the position on to the
        next one, if it is still at `expected` (compare-and-set, as `move`); False, with
        nothing written, when someone moved it first."""
        bind = self.session.bind
        if bind is not None and bind.dialect.name == "sqlite":
            at = _SQLITE_TIME(now)
            connection = await (await self.session.connection()).get_raw_connection()
            driver = connection.driver_connection
            assert driver is not None
            moved = await driver.execute(
                _SQLITE_MOVE, (expected + 1, "answering", at, response_id, expected)
            )
            if moved.rowcount != 1:
                return False
            await driver.execute(_SQLITE_ANSWER, (response_id, item_id, value, at))
            return True
        result = await self.session.execute(
            _PG_ANSWER,
            {
                "response_id": response_id,
                "expected": expected,
                "to": expected + 1,
                "status": "answering",
                "now": now,
                "item_id": item_id,
                "value": value,
                "answered_at": now,
            },
        )
        return result.first() is not None

    async def move(
        self,
        response_id: int,
        expected: int,
        position: int,
        status: str,
        now: datetime,
        message_id: int | None = None,
    ) -> bool:
        """Compare-and-set the position: False when someone moved it first (a double tap)."""
        values: dict[str, Any] = {"position": position, "status": status, "updated_at": now}
        if message_id is not None:
            values["message_id"] = message_id
        result = await self.session.execute(
            update(LtsiResponse)
            .where(
                LtsiResponse.id == response_id,
                LtsiResponse.position == expected,
                LtsiResponse.status.in_(("invited", "answering", "paused")),
            )
            .values(**values)
        )
        return (result.rowcount or 0) == 1  # type: ignore[attr-defined]

    async def open_responses_of(self, telegram_id: int) -> Sequence[LtsiResponse]:
        """The user's unfinished responses in open waves, oldest wave first."""
        result = await self.session.execute(
            select(LtsiResponse)
            .join(LtsiWave, LtsiWave.id == LtsiResponse.wave_id)
            .join(User, User.id == LtsiResponse.user_id)
            .where(
                User.telegram_id == telegram_id,
                LtsiWave.status == "open",
                LtsiResponse.status.in_(("invited", "answering", "paused")),
            )
            .order_by(LtsiWave.opens_at)
        )
        return result.scalars().all()

    async def responses_of_user(self, user_id: int) -> Sequence[LtsiResponse]:
        result = await self.session.execute(
            select(LtsiResponse)
            .join(LtsiWave, LtsiWave.id == LtsiResponse.wave_id)
            .where(LtsiResponse.user_id == user_id)
            .order_by(LtsiWave.opens_at)
        )
        return result.scalars().all()

    async def done_responses_of(self, user_id: int, cohort_id: int) -> Sequence[LtsiResponse]:
        """The user's finished responses in the cohort, oldest wave first."""
        result = await self.session.execute(
            select(LtsiResponse)
            .join(LtsiWave, LtsiWave.id == LtsiResponse.wave_id)
            .where(
                LtsiResponse.user_id == user_id,
                LtsiWave.cohort_id == cohort_id,
                LtsiResponse.status == "done",
            )
            .order_by(LtsiWave.opens_at)
        )
        return result.scalars().all()

    async def latest_done_of(self, telegram_id: int) -> LtsiResponse | None:
        result = await self.session.execute(
            select(LtsiResponse)
            .join(User, User.id == LtsiResponse.user_id)
            .where(User.telegram_id == telegram_id, LtsiResponse.status == "done")
            .order_by(LtsiResponse.completed_at.desc())
            .limit(1)
        )
        return result.scalars().first()

    async def unfinished(self, wave_id: int) -> list[Unfinished]:
        answered = (
            select(func.count())
            .where(LtsiAnswer.response_id == LtsiResponse.id)
            .correlate(LtsiResponse)
            .scalar_subquery()
        )
        result = await self.session.execute(
            select(LtsiResponse.id, User.id, User.telegram_id, User.locale, answered)
            .join(User, User.id == LtsiResponse.user_id)
            .where(
                LtsiResponse.wave_id == wave_id,
                LtsiResponse.status.in_(("invited", "answering", "paused")),
                User.is_active.is_(True),
            )
            .order_by(LtsiResponse.id)
        )
        return [Unfinished(r, u, c, loc, n) for r, u, c, loc, n in result.tuples()]

    async def expire_unfinished(self, wave_id: int, now: datetime) -> int:
        result = await self.session.execute(
            update(LtsiResponse)
            .where(
                LtsiResponse.wave_id == wave_id,
                LtsiResponse.status.in_(("invited", "answering", "paused")),
            )
            .values(status="expired", updated_at=now)
        )
        return result.rowcount or 0  # type: ignore[attr-defined]

    async def wave_counts(self, wave_ids: Sequence[int]) -> dict[tuple[int, str], int]:
        result = await self.session.execute(
            select(LtsiResponse.wave_id, LtsiResponse.status, func.count())
            .where(LtsiResponse.wave_id.in_(list(wave_ids)))
            .group_by(LtsiResponse.wave_id, LtsiResponse.status)
        )
        return {(w, s): n for w, s, n in result.tuples()}

    async def started_counts(self, wave_ids: Sequence[int]) -> dict[int, int]:
        """Per wave: unfinished responses with at least one answer."""
        result = await self.session.execute(
            select(LtsiResponse.wave_id, func.count(func.distinct(LtsiResponse.id)))
            .join(LtsiAnswer, LtsiAnswer.response_id == LtsiResponse.id)
            .where(
                LtsiResponse.wave_id.in_(list(wave_ids)),
                LtsiResponse.status != "done",
            )
            .group_by(LtsiResponse.wave_id)
        )
        return dict(result.tuples().all())

    async def done_scores(self, wave_id: int) -> list[tuple[int, dict[str, Any]]]:
        result = await self.session.execute(
            select(LtsiResponse.user_id, LtsiResponse.scores).where(
                LtsiResponse.wave_id == wave_id, LtsiResponse.status == "done"
            )
        )
        return [(u, s or {}) for u, s in result.tuples()]

    # -- answers -------------------------------------------------------------------------

    async def save_answer(self, response_id: int, item_id: str, value: int, now: datetime) -> None:
        stmt = insert_for(self.session, LtsiAnswer).values(
            response_id=response_id, item_id=item_id, value=value, answered_at=now
        )
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=["response_id", "item_id"],
                set_={"value": value, "answered_at": now},
            )
        )

    async def answer(self, response_id: int, item_id: str) -> int | None:
        value: int | None = await self.session.scalar(
            select(LtsiAnswer.value).where(
                LtsiAnswer.response_id == response_id, LtsiAnswer.item_id == item_id
            )
        )
        return value

    async def answers(self, response_id: int) -> dict[str, int]:
        result = await self.session.execute(
            select(LtsiAnswer.item_id, LtsiAnswer.value).where(
                LtsiAnswer.response_id == response_id
            )
        )
        return dict(result.tuples().all())

    async def cohort_answers(self, cohort_id: int) -> list[AnswerRow]:
        """Every answer given in the cohort's waves, by person, wave and question order."""
        result = await self.session.execute(
            select(
                User.id,
                User.full_name,
                User.unit_type,
                User.unit_name,
                LtsiWave.kind,
                LtsiAnswer.item_id,
                LtsiAnswer.value,
                LtsiAnswer.answered_at,
            )
            .join(LtsiResponse, LtsiResponse.id == LtsiAnswer.response_id)
            .join(LtsiWave, LtsiWave.id == LtsiResponse.wave_id)
            .join(User, User.id == LtsiResponse.user_id)
            .where(LtsiWave.cohort_id == cohort_id)
            .order_by(User.id, LtsiWave.opens_at, LtsiAnswer.answered_at, LtsiAnswer.item_id)
        )
        return [AnswerRow(*row) for row in result.tuples()]

    # -- follow-ups ----------------------------------------------------------------------

    async def add_follow_ups(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            stmt = insert_for(self.session, LtsiFollowUp).values(rows)
            await self.session.execute(
                stmt.on_conflict_do_nothing(index_elements=["response_id", "kind"])
            )

    async def follow_ups(self, response_id: int) -> Sequence[LtsiFollowUp]:
        result = await self.session.execute(
            select(LtsiFollowUp)
            .where(LtsiFollowUp.response_id == response_id)
            .order_by(LtsiFollowUp.id)
        )
        return result.scalars().all()

    async def pending_follow_ups(self, kind: str, limit: int = 500) -> Sequence[LtsiFollowUp]:
        """What a later feature picks up: e.g. kind="mentor_note" once mentors are matched."""
        result = await self.session.execute(
            select(LtsiFollowUp)
            .where(LtsiFollowUp.kind == kind, LtsiFollowUp.status == "pending")
            .order_by(LtsiFollowUp.id)
            .limit(limit)
        )
        return result.scalars().all()
