"""The log guard: JSON lines that parse, and no token, name or free text in any line, whatever
an exception or a library puts into a record."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import BaseModel, ValidationError
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert
from sqlalchemy.exc import IntegrityError

from bot.config import Settings, load_settings
from bot.logs import REDACTED, TEXT, Guard, GuardedHandler, remove_logging, setup_logging

TOKEN = "123456789:AAHk-secret-part-of-the-token_0123"
NAME = "Quentin Marlowe"
ANSWER = "my plan: talk to the residents of building 7"  # what a person typed
log = logging.getLogger("tests.logs")


@pytest.fixture
def settings() -> Settings:
    return load_settings(
        BOT_TOKEN=TOKEN,
        DATABASE_URL="postgresql+asyncpg://xueyong:db-pass-42@db:5432/xueyong",
        REDIS_URL="redis://:redis-pass-42@redis:6379/0",
        REPLICA_ID="replica-a",
    )


@pytest.fixture
def json_lines(settings: Settings) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root_level = logging.getLogger().level
    setup_logging(settings, level=logging.DEBUG, fmt="json", stream=stream)
    try:
        yield stream
    finally:
        remove_logging()
        logging.getLogger().setLevel(root_level)


def entries(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_level_logger_replica_and_extras(json_lines: io.StringIO) -> None:
    log.info("sent %s of %s", 3, 5, extra={"cohort_id": 7, "kind": "digest"})
    log.warning("two\nlines")
    first, second = entries(json_lines)
    assert first["message"] == "sent 3 of 5"
    assert (first["level"], first["logger"]) == ("INFO", "tests.logs")
    assert first["replica"] == "replica-a"
    assert (first["cohort_id"], first["kind"]) == (7, "digest")
    assert str(first["time"]).endswith("+00:00")
    assert second["message"] == "two\nlines"  # one JSON line all the same
    assert len(json_lines.getvalue().splitlines()) == 2


def test_secrets_never_reach_a_line(json_lines: io.StringIO, settings: Settings) -> None:
    log.info("calling http://127.0.0.1/bot%s/sendMessage", TOKEN)
    webhook_secret = settings.webhook_secret_token
    log.info("secret half %s, webhook secret %s", TOKEN.split(":")[1], webhook_secret)
    log.info("another bot's token 987654321:ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ appears")
    log.error("cannot connect to %s", settings.database_url)
    log.error("cannot connect to %s", settings.redis_url)
    text = json_lines.getvalue()
    for secret in (TOKEN, TOKEN.split(":")[1], settings.webhook_secret_token, "ZZZZZZZZZZ"):
        assert secret not in text
    assert "db-pass-42" not in text and "redis-pass-42" not in text
    assert "postgresql+asyncpg://xueyong:<redacted>@db:5432/xueyong" in text
    assert len(entries(json_lines)) == 5


def test_a_database_error_does_not_show_the_values_it_was_given(json_lines: io.StringIO) -> None:
    engine = create_engine("sqlite://")
    users = Table("users", MetaData(), Column("id", Integer), Column("name", String, unique=True))
    users.metadata.create_all(engine)
    with engine.connect() as connection:
        connection.execute(insert(users).values(id=1, name=NAME))
        with pytest.raises(IntegrityError) as raised:
            connection.execute(insert(users).values(id=2, name=NAME))
    assert NAME in str(raised.value)  # SQLAlchemy does quote it ...
    try:
        raise raised.value
    except IntegrityError:
        log.exception("saving the profile failed")
    (entry,) = entries(json_lines)
    assert NAME not in json_lines.getvalue()  # ... the log does not
    assert entry["exc_type"] == "IntegrityError"
    exception = str(entry["exception"])
    assert "UNIQUE constraint failed: users.name" in exception
    assert f"[parameters: {REDACTED}]" in exception
    assert "Traceback (most recent call last)" in exception
    assert 'File "' in exception  # the frames stay


def test_validation_errors_and_quoted_values_are_redacted(json_lines: io.StringIO) -> None:
    class Profile(BaseModel):
        age: int

    try:
        Profile.model_validate({"age": f"{NAME}, 35 years"})
    except ValidationError:
        log.exception("bad profile")
    try:
        try:
            int(ANSWER)
        except ValueError as exc:
            raise RuntimeError("parsing the answer failed") from exc
    except RuntimeError:
        log.exception("answer")
    text = json_lines.getvalue()
    assert NAME not in text and "Quentin" not in text and "building 7" not in text
    bad_profile, answer = entries(json_lines)
    assert f"input_value={REDACTED}" in str(bad_profile["exception"])
    chained = str(answer["exception"])
    assert f"ValueError: invalid literal for int() with base 10: {REDACTED}" in chained
    assert "The above exception was the direct cause" in chained
    assert chained.rstrip().endswith("RuntimeError: parsing the answer failed")


def test_chinese_and_other_non_ascii_words_are_left_out(json_lines: io.StringIO) -> None:
    log.warning("unexpected input %s from user %s", "张三在和平里社区", 42)
    log.warning("name %s", "Zoë Ångström")
    log.warning("mixed %s", "书记Li")
    text = json_lines.getvalue()
    for word in ("张三", "和平里", "Zoë", "Ångström", "Zo", "书记", "Li"):
        assert word not in text.replace(TEXT, "")
    assert [e["message"] for e in entries(json_lines)] == [
        f"unexpected input {TEXT} from user 42",
        f"name {TEXT}",
        f"mixed {TEXT}",
    ]


def test_the_text_format_is_guarded_too(settings: Settings) -> None:
    stream = io.StringIO()
    root_level = logging.getLogger().level
    setup_logging(settings, fmt="text", stream=stream)
    try:
        try:
            raise KeyError(f"{NAME} {TOKEN}")
        except KeyError:
            log.error("lookup of %s failed", "'王芳'", extra={"user_id": 5})
            log.exception("again")
    finally:
        remove_logging()
        logging.getLogger().setLevel(root_level)
    text = stream.getvalue()
    assert NAME not in text and TOKEN not in text and "王芳" not in text
    first = text.splitlines()[0]
    assert first.endswith(f"ERROR tests.logs: lookup of {REDACTED} failed user_id=5")
    assert f"KeyError: {REDACTED}" in text


def test_sql_and_sweep_logging_stays_off_below_warning(json_lines: io.StringIO) -> None:
    for name in ("sqlalchemy.engine", "aiosqlite", "apscheduler.executors.default"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO)
    assert logging.getLogger("tests.logs").isEnabledFor(logging.DEBUG)


def test_a_host_that_captures_logs_keeps_its_handlers(settings: Settings) -> None:
    # pytest's own handlers are on the root logger here, as a host's would be.
    assert logging.getLogger().handlers
    assert setup_logging(settings, force=False) is None
    assert not any(isinstance(h, GuardedHandler) for h in logging.getLogger().handlers)


def test_without_a_stream_it_writes_to_the_current_stderr(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    root_level = logging.getLogger().level
    setup_logging(settings, fmt="json")
    try:
        log.warning("to stderr")
    finally:
        remove_logging()
        logging.getLogger().setLevel(root_level)
    assert json.loads(capsys.readouterr().err)["message"] == "to stderr"


def test_guard_keeps_apostrophes_of_ordinary_messages() -> None:
    guard = Guard([TOKEN])
    message = "Telegram server says - Bad Request: can't parse entities: Can't find end"
    assert guard.scrub_message(message) == message
    assert guard.scrub_exception_message("x" * 2000).endswith("…")
