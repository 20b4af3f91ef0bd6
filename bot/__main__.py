"""Command line: `xueyong run | sandbox | migrate | cohort | scenario | organiser`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.config import Settings, load_settings
from bot.content import ContentError, load_texts
from bot.content.texts import LOCALES
from bot.core import Core, build_core
from bot.domain.practice import PracticeSettings
from bot.logs import setup_logging
from bot.services.cohorts import CohortCreated

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        # Structured (LOG_FORMAT=json) or text; tokens and personal data kept out.
        level = logging.INFO if args.command == "run" else logging.WARNING
        setup_logging(settings, level=level, force=False)
        return int(asyncio.run(args.handler(settings, args)) or 0)
    except ContentError as exc:
        print(f"content error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xueyong", description="Xueyong (学用) training bot")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run",
        help="run the bot (long polling, or a webhook when WEBHOOK_URL is set; migrates "
        "first); without BOT_TOKEN: the sandbox",
    )
    run.add_argument(
        "--webhook",
        action="store_true",
        help="serve Telegram's webhook on HTTP_HOST:HTTP_PORT (needs WEBHOOK_URL)",
    )
    _sandbox_options(run)
    run.set_defaults(handler=_run)

    sandbox = commands.add_parser(
        "sandbox", help="try the bot in a browser: emulator + bot + web chat, no Telegram"
    )
    _sandbox_options(sandbox)
    sandbox.set_defaults(handler=_sandbox)

    migrate = commands.add_parser("migrate", help="upgrade the database to the latest schema")
    migrate.set_defaults(handler=_migrate)

    cohort = commands.add_parser("cohort", help="cohorts and their invite codes")
    cohort_cmds = cohort.add_subparsers(dest="cohort_command", required=True)
    create = cohort_cmds.add_parser("create", help="create a cohort with two invite codes")
    create.add_argument("--name", required=True, help="cohort name, e.g. 2026秋季社区书记班")
    create.add_argument("--course", required=True, help="course title")
    create.add_argument("--ends", required=True, type=_date, help="last day (YYYY-MM-DD)")
    create.add_argument("--timezone", default=None, help="IANA zone (default TZ_NAME)")
    create.add_argument("--trainee-limit", type=int, default=None, help="max trainee enrolments")
    create.add_argument("--mentor-limit", type=int, default=None, help="max mentor enrolments")
    create.add_argument(
        "--invites-expire", type=_date, default=None, help="invites valid until (YYYY-MM-DD)"
    )
    create.add_argument(
        "--organiser",
        type=int,
        action="append",
        default=[],
        metavar="TELEGRAM_USER_ID",
        help="an organiser of this cohort (repeatable)",
    )
    create.add_argument(
        "--ltsi-offsets",
        default=None,
        metavar="END,DAY30,DAY60",
        help="days after the end date of the three self-checks (default 0,30,60)",
    )
    create.add_argument(
        "--ltsi-close-after",
        type=int,
        default=None,
        metavar="DAYS",
        help="a self-check closes this many days after it opens (default 14)",
    )
    create.add_argument(
        "--reflections",
        default=None,
        metavar="EVERY_DAYS,COUNT",
        help="reflection prompts every N days after the end, M times (default 7,8)",
    )
    create.set_defaults(handler=_cohort_create)
    listing = cohort_cmds.add_parser("list", help="list cohorts with members and invite codes")
    listing.set_defaults(handler=_cohort_list)
    attach = cohort_cmds.add_parser(
        "add-organiser", help="let a Telegram user organise a cohort (broadcasts, reports)"
    )
    attach.add_argument("cohort_id", type=int)
    attach.add_argument("telegram_user_id", type=int)
    attach.set_defaults(handler=_cohort_add_organiser)

    scenario = commands.add_parser("scenario", help="role-play scenarios: check or play a file")
    scenario_cmds = scenario.add_subparsers(dest="scenario_command", required=True)
    check = scenario_cmds.add_parser(
        "check", help="validate scenario files (default: every file in content/scenarios/)"
    )
    check.add_argument("files", nargs="*", type=Path, metavar="FILE")
    check.set_defaults(handler=_scenario_check)
    play = scenario_cmds.add_parser("play", help="play a scenario in the terminal")
    play.add_argument("file", type=Path, metavar="FILE")
    play.add_argument("--role", default=None, help="the role to play (asked when omitted)")
    play.add_argument("--locale", default=None, choices=LOCALES, help="language (default zh-CN)")
    play.set_defaults(handler=_scenario_play)

    organiser = commands.add_parser("organiser", help="organisers")
    organiser_cmds = organiser.add_subparsers(dest="organiser_command", required=True)
    add = organiser_cmds.add_parser("add", help="give a Telegram user the organiser role")
    add.add_argument("telegram_user_id", type=int)
    add.set_defaults(handler=_organiser_add)
    return parser


def _sandbox_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="sandbox address (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=None, help="sandbox port (default SANDBOX_PORT)"
    )


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.token:
        print(
            "BOT_TOKEN is not set: starting the offline sandbox instead. To run the real bot, "
            "put the token from @BotFather into the environment (or a .env file).",
            file=sys.stderr,
        )
        return await _sandbox(settings, args)
    if args.webhook and not settings.webhook_url:
        raise ValueError("--webhook needs WEBHOOK_URL: the bot's public https URL")
    from bot.app import build_app, run_polling, run_webhook

    app = build_app(settings)
    if settings.webhook_url:
        await run_webhook(app)
    else:
        await run_polling(app)
    return 0


async def _sandbox(settings: Settings, args: argparse.Namespace) -> int:
    from bot.sandbox.server import run_sandbox

    await run_sandbox(settings, host=args.host, port=args.port or settings.sandbox_port)
    return 0


async def _with_core(settings: Settings) -> Core:
    core = build_core(settings)
    await core.migrate()
    return core


async def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    core = await _with_core(settings)
    await core.close()
    print("database is at the latest schema")
    return 0


async def _bot_username(settings: Settings) -> str | None:
    if not settings.token:
        return None
    from bot.app import build_bot

    bot = build_bot(settings, settings.token)
    try:
        me = await bot.get_me()
        return me.username
    except Exception as exc:  # the link is a convenience; the codes are printed anyway
        print(f"warning: getMe failed ({exc}); links show a placeholder", file=sys.stderr)
        return None
    finally:
        await bot.session.close()


def _link(username: str | None, code: str) -> str:
    return f"https://t.me/{username or '<bot username>'}?start={code}"


async def _cohort_create(settings: Settings, args: argparse.Namespace) -> int:
    zone_name = args.timezone or settings.tz_name
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {zone_name!r}") from None
    expires = (
        datetime.combine(args.invites_expire, time(23, 59, 59), zone)
        if args.invites_expire
        else None
    )
    ltsi: dict[str, object] = {}
    if args.ltsi_offsets:
        parts = args.ltsi_offsets.split(",")
        if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
            raise ValueError("--ltsi-offsets takes three day counts, e.g. 0,30,60")
        kinds = ("course_end", "day30", "day60")
        ltsi["offsets"] = {k: int(p) for k, p in zip(kinds, parts, strict=True)}
    if args.ltsi_close_after is not None:
        ltsi["close_after_days"] = args.ltsi_close_after
    practice: dict[str, object] = {}
    if args.reflections:
        parts = args.reflections.split(",")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError("--reflections takes a day count and a number, e.g. 7,8")
        practice["reflection_every_days"], practice["reflection_count"] = map(int, parts)
    core = await _with_core(settings)
    try:
        created = await core.services.cohorts.create(
            name=args.name,
            course_title=args.course,
            ends_on=args.ends,
            timezone=zone_name,
            trainee_limit=args.trainee_limit,
            mentor_limit=args.mentor_limit,
            invites_expire=expires,
            organiser_telegram_ids=tuple(args.organiser),
            ltsi=ltsi or None,
            practice=practice or None,
        )
        async with core.uow() as uow:
            waves = await uow.ltsi.waves_of(created.cohort.id)
            schedule = [(w.kind, w.opens_at.astimezone(zone), w.status) for w in waves]
    finally:
        await core.close()
    _print_created(created, await _bot_username(settings))
    for kind, opens, status in schedule:
        note = "" if status == "scheduled" else f" ({status}: its window has passed)"
        print(f"self-check {kind}: {opens:%Y-%m-%d %H:%M %Z}{note}")
    cadence = PracticeSettings.from_settings(practice or None)
    days = cadence.reflection_days(args.ends)
    print(
        f"reflection prompts: {len(days)}, every {cadence.reflection_every_days} days, "
        f"{days[0]} to {days[-1]} at {cadence.reflection_time:%H:%M}"
    )
    pushes = cadence.scenario_days(args.ends)
    print(
        f"role-play pushes: {len(pushes)}, every {cadence.scenario_every_days} days, "
        f"{pushes[0]} to {pushes[-1]} at {cadence.scenario_time:%H:%M}"
    )
    return 0


def _print_created(created: CohortCreated, username: str | None) -> None:
    cohort = created.cohort
    print(f"cohort id: {cohort.id}")
    print(f"name: {cohort.name}  course: {cohort.course_title}  ends: {cohort.ends_on}")
    for label, invite in (("trainee", created.trainee_invite), ("mentor", created.mentor_invite)):
        print(f"{label} invite code: {invite.code}")
        print(f"{label} link: {_link(username, invite.code)}")
    if username is None:
        print("(set BOT_TOKEN to print links with the bot's username)")


async def _cohort_list(settings: Settings, _args: argparse.Namespace) -> int:
    core = await _with_core(settings)
    try:
        summaries = await core.services.cohorts.list()
    finally:
        await core.close()
    if not summaries:
        print("no cohorts yet: create one with `xueyong cohort create`")
        return 0
    for s in summaries:
        c = s.cohort
        print(
            f"#{c.id} {c.name} | {c.course_title} | ends {c.ends_on} | "
            f"trainees {s.trainees} | mentors {s.mentors} | unfinished {s.pending}"
        )
        for invite in s.invites:
            limit = "∞" if invite.max_uses is None else str(invite.max_uses)
            state = "revoked" if invite.revoked else f"until {invite.expires_at:%Y-%m-%d %H:%M}Z"
            print(f"    {invite.role.value:8} {invite.code}  used {invite.uses}/{limit}  {state}")
    return 0


async def _cohort_add_organiser(settings: Settings, args: argparse.Namespace) -> int:
    core = await _with_core(settings)
    try:
        added = await core.services.cohorts.add_organiser(args.cohort_id, args.telegram_user_id)
    finally:
        await core.close()
    state = "now organises" if added else "already organises"
    print(f"user {args.telegram_user_id} {state} cohort #{args.cohort_id}")
    return 0


async def _scenario_check(settings: Settings, args: argparse.Namespace) -> int:
    from bot.scenario_terminal import check

    texts = load_texts(settings.content_dir, settings.default_locale)
    return check(list(args.files), settings.content_dir, texts, sys.stdout)


async def _scenario_play(settings: Settings, args: argparse.Namespace) -> int:
    from bot.scenario_terminal import play

    texts = load_texts(settings.content_dir, settings.default_locale)
    return play(
        args.file,
        settings.content_dir,
        texts,
        role_id=args.role,
        locale=args.locale or settings.default_locale,
        read=input,
        out=sys.stdout,
    )


async def _organiser_add(settings: Settings, args: argparse.Namespace) -> int:
    core = await _with_core(settings)
    try:
        granted = await core.services.users.add_organiser(args.telegram_user_id)
    finally:
        await core.close()
    print(
        f"user {args.telegram_user_id} is "
        + ("now an organiser" if granted else "already an organiser")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
