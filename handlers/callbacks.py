"""Callback data of every inline button. Ids and short codes only: 64 bytes at most."""

from __future__ import annotations

from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from pydantic import Field

# Numbers in callback data are row ids (a 32-bit column on PostgreSQL), positions and
# counts; a telegram id is 64-bit. Anyone can send any data, so a number out of range makes
# the button unrecognised ("no longer valid") instead of failing in the database.
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


def row_id(raw: str) -> int | None:
    """A row id carried in a text field, or None: "²".isdigit() holds but int() refuses it,
    and an id beyond the 32-bit column is nobody's."""
    if not (raw.isascii() and raw.isdigit()) or int(raw) > 2**31 - 1:
        return None
    return int(raw)


class ConsentCB(CallbackData, prefix="cs"):
    agree: bool
    code: str


class UnitTypeCB(CallbackData, prefix="ut"):
    value: str


class AreaCB(CallbackData, prefix="ma"):
    area: str  # an area id, or DONE


class CapacityCB(CallbackData, prefix="mc"):
    value: Int32


class LangCB(CallbackData, prefix="lg"):
    locale: str


class DeleteCB(CallbackData, prefix="dd"):
    confirm: bool


AREAS_DONE = "_done"


class BroadcastCB(CallbackData, prefix="bc"):
    action: str  # cohort | aud | ack | send | sched | cancel
    draft: Int32 = 0
    value: str = ""


class AckCB(CallbackData, prefix="ack"):
    """A recipient's "received". Packs as bot.domain.delivery.ack_action(id)."""

    broadcast_id: Int32


class LtsiCB(CallbackData, prefix="lq"):
    """A self-check button. Packs as bot.services.ltsi.lq(r, p, a)."""

    r: Int32  # response id
    p: Int32  # the question the message shows (0-based)
    a: str  # "1".."5" an answer | b back | p pause | s start/continue | d show the diagnosis


class ReportCB(CallbackData, prefix="rp"):
    action: str  # show | csv | csvn (with names)
    cohort: Int32


class ReflectStartCB(CallbackData, prefix="rs"):
    """Start a reflection: from a cadence prompt (`prompt` = its number), or about a plan
    milestone (`milestone` = its id, e.g. from a milestone check-in). 0 = none."""

    milestone: Int32 = 0
    prompt: Int32 = 0


class PlanCB(CallbackData, prefix="pl"):
    """A plan button. Packs as bot.services.plans.plan_action(a, c)."""

    a: str  # go | area | more | enough | confirm | edit | rm | addms | upd
    c: Int32  # the cohort
    v: str = ""  # an area id, a field, a milestone id


class MilestoneCB(CallbackData, prefix="pm"):
    """A milestone check-in button. Packs as bot.services.plans.pm(m, a)."""

    m: Int32
    a: str  # d done | i in progress | n not done | a ask | m move | s skip the note


class ReflectCB(CallbackData, prefix="rf"):
    """A button inside a reflection (handlers/reflect.py)."""

    a: str  # c cohort chosen | m milestone chosen | go continue a draft | new start over | s skip
    r: Int32 = 0  # the reflection
    c: Int32 = 0  # the cohort
    p: Int32 = 0  # the cadence prompt's number (0: none)
    m: Int32 = -1  # the milestone: -1 not decided yet, 0 none, else its id
    q: str = ""  # the question (skip)


class PortfolioCB(CallbackData, prefix="pf"):
    """An export button under /portfolio."""

    a: str  # h the HTML document | j the JSON copy
    u: Int64  # the telegram id of the person whose portfolio it is


class CaseCB(CallbackData, prefix="cas"):
    """A case-library button. Packs as bot.services.cases.case_action(a, c, i, v)."""

    # home | area | case | wd withdraw? | wy withdraw | wk keep | mine | req the consent
    # request again | refl reflections | rv view one | rp recommend it | pa area picked |
    # ok consent | no decline
    a: str
    c: Int32 = 0  # the cohort
    i: Int32 = 0  # a case, a reflection, or a page
    v: str = ""  # an area id


class StrengthCB(CallbackData, prefix="enst"):
    """A mentor's strength (content/mentoring.yaml) while enrolling, or STRENGTHS_DONE."""

    s: str


STRENGTHS_DONE = "_done"


class BioSkipCB(CallbackData, prefix="enbi"):
    """The "skip" button under the mentor's bio question (enrolment)."""


class ProfileCB(CallbackData, prefix="pred"):
    """Editing one's profile from /me (handlers/enrolment.py)."""

    # d district | s strengths | t toggle strength v | ok strengths done | b bio | c clear bio
    a: str
    v: str = ""  # a strength id


class MatchCB(CallbackData, prefix="mtch"):
    """A button of an organiser's /match review (handlers/match.py)."""

    # co cohort chosen | pg page | sw swap | as assign | pk pick a mentor | rm remove |
    # ok confirm | re propose again with the other preference
    a: str
    p: Int32 = 0  # the proposal (co: the cohort)
    i: Int32 = 0  # a page (pg), a trainee (sw, as, pk), a pair (rm)
    m: Int32 = 0  # the mentor picked (pk)
    g: Int32 = 0  # the page to come back to


class RematchCB(CallbackData, prefix="mtrm"):
    """An organiser's decision on a rematch request. Packs as
    bot.services.matching.rematch_action(r, approve)."""

    a: str  # y approve | n decline
    r: Int32  # the request


class MentorCB(CallbackData, prefix="mtme"):
    """A trainee's button under /mentor."""

    a: str  # rq ask for another mentor
    c: Int32  # the cohort


class MentoringCB(CallbackData, prefix="gd"):
    """A mentor's button: digest, reminder, guidance log. Packs as
    bot.services.mentoring.gd(a, c, i, v)."""

    a: str  # rd read a reflection | lg log a session | tp topic | sk skip | od organiser's pick
    c: Int32 = 0  # the cohort
    i: Int32 = 0  # a reflection, a trainee's or a mentor's user id
    v: str = ""  # a topic id


class PracticeCB(CallbackData, prefix="prc"):
    """Role-plays. a: o open a scenario (s, r: a role, or "" to be asked), x start over,
    g show the node a play is at (n: run), n go on past narration/line (n, t: step),
    c choose (n, t, i: choice), p pause (n), l the list, m a mentor comments on answer n.
    bot.services.scenarios packs "o" and "m" itself (pushes and mentor messages)."""

    a: str
    s: str = ""
    r: str = ""
    n: Int32 = 0
    t: Int32 = 0
    i: Int32 = 0
