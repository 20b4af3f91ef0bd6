"""Invite codes: how they look, and when one may still be used."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from enum import StrEnum

from bot.domain.model import InviteDTO

# No 0/O, 1/I/L: a code read aloud or typed from a printed handout must survive.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10
_CODE_RE = re.compile(rf"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")


class InviteProblem(StrEnum):
    MALFORMED = "malformed"
    NOT_FOUND = "not_found"
    EXPIRED = "expired"
    USED_UP = "used_up"
    REVOKED = "revoked"


def generate_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(raw: str) -> str | None:
    """Accept what a person may type ("abcd-efgh 23"); None when it cannot be a code."""
    cleaned = re.sub(r"[\s\-_]", "", raw).upper()
    return cleaned if _CODE_RE.match(cleaned) else None


def invite_problem(invite: InviteDTO | None, now: datetime) -> InviteProblem | None:
    """Why this invite cannot be used now, or None when it can."""
    if invite is None:
        return InviteProblem.NOT_FOUND
    if invite.revoked:
        return InviteProblem.REVOKED
    if invite.expires_at is not None and now >= invite.expires_at:
        return InviteProblem.EXPIRED
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        return InviteProblem.USED_UP
    return None
