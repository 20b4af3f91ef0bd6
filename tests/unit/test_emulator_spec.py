"""Validation of Bot API calls against the specification (bot/sandbox/telegram-bot-api.json)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.sandbox.spec import BotAPISpec, SpecError, UploadedFile


@pytest.fixture(scope="module")
def spec() -> BotAPISpec:
    return BotAPISpec.load()


def keyboard_json(*buttons: dict[str, Any]) -> str:
    return json.dumps({"inline_keyboard": [list(buttons)]})


def rejects(spec: BotAPISpec, method: str, params: dict[str, Any], needle: str) -> SpecError:
    with pytest.raises(SpecError) as caught:
        spec.validate_call(method, params)
    assert needle in caught.value.description, caught.value.description
    assert caught.value.description.startswith("Bad Request: ")
    return caught.value


def test_spec_is_loaded(spec: BotAPISpec) -> None:
    assert spec.version.startswith("Bot API")
    assert spec.resolve_method("SENDMESSAGE") == "sendMessage"
    assert spec.resolve_method("sendMesage") is None


def test_form_values_are_decoded_by_declared_type(spec: BotAPISpec) -> None:
    params = spec.validate_call(
        "sendMessage",
        {
            "chat_id": "-100123",
            "text": "12345",
            "disable_notification": "true",
            "reply_markup": keyboard_json({"text": "确定", "callback_data": "ok"}),
        },
    )
    assert params == {
        "chat_id": -100123,
        "text": "12345",  # a String parameter stays a string
        "disable_notification": True,
        "reply_markup": {"inline_keyboard": [[{"text": "确定", "callback_data": "ok"}]]},
    }
    assert spec.validate_call("sendMessage", {"chat_id": "@channel", "text": "x"})["chat_id"] == (
        "@channel"
    )


def test_unknown_parameter_is_rejected(spec: BotAPISpec) -> None:
    error = rejects(spec, "sendMessage", {"chat_id": 1, "txt": "x"}, 'unknown parameter "txt"')
    assert error.path == "txt"


def test_missing_required_parameter(spec: BotAPISpec) -> None:
    rejects(spec, "sendMessage", {"text": "x"}, 'parameter "chat_id" is required')
    rejects(spec, "answerCallbackQuery", {}, '"callback_query_id" is required')


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"chat_id": "abc", "text": "x", "disable_notification": "maybe"}, "expected Boolean"),
        ({"chat_id": 1, "text": "x", "message_thread_id": "1.5"}, "expected Integer"),
        ({"chat_id": 1.5, "text": "x"}, "expected Integer or String"),
        ({"chat_id": 1, "text": "x", "reply_markup": "{oops"}, "not a valid JSON"),
        ({"chat_id": 1, "text": ["x"]}, '"text": expected String, got Array'),
    ],
)
def test_wrong_types_are_rejected(spec: BotAPISpec, params: dict[str, Any], needle: str) -> None:
    rejects(spec, "sendMessage", params, needle)


@pytest.mark.parametrize(
    ("markup", "needle"),
    [
        (
            keyboard_json({"text": "a", "callback_dat": "x"}),
            '"reply_markup.inline_keyboard[0][0].callback_dat": unknown field of '
            "InlineKeyboardButton",
        ),
        (
            keyboard_json({"callback_data": "x"}),
            '"reply_markup.inline_keyboard[0][0].text": required field',
        ),
        (
            keyboard_json({"text": "a", "callback_data": 5}),
            '"reply_markup.inline_keyboard[0][0].callback_data": expected String, got Integer',
        ),
        (
            json.dumps({"inline_keyboard": [{"text": "a", "callback_data": "x"}]}),
            '"reply_markup.inline_keyboard[0]": expected Array of InlineKeyboardButton',
        ),
        (
            json.dumps({"keyboard": [[{"text": "a", "callback_data": "x"}]]}),
            '"reply_markup.keyboard[0][0].callback_data": unknown field of KeyboardButton',
        ),
        (json.dumps({"inline_keyboard": [[]], "resize_keyboard": True}), "unknown field"),
    ],
)
def test_bad_nested_keyboards_are_rejected(spec: BotAPISpec, markup: str, needle: str) -> None:
    rejects(spec, "sendMessage", {"chat_id": 1, "text": "x", "reply_markup": markup}, needle)


def test_union_accepts_any_alternative(spec: BotAPISpec) -> None:
    for markup in (
        {"inline_keyboard": [[{"text": "a", "url": "https://example.com"}]]},
        {"keyboard": [[{"text": "a"}]], "resize_keyboard": True},
        {"remove_keyboard": True},
        {"force_reply": True, "input_field_placeholder": "…"},
    ):
        params = spec.validate_call(
            "sendMessage", {"chat_id": 1, "text": "x", "reply_markup": markup}
        )
        assert params["reply_markup"] == markup


def test_subtypes_are_accepted_and_discriminated_by_type(spec: BotAPISpec) -> None:
    commands = [{"command": "start", "description": "开始"}]
    for scope in (
        {"type": "default"},
        {"type": "all_private_chats"},
        {"type": "chat", "chat_id": 5},
    ):
        params = spec.validate_call("setMyCommands", {"commands": commands, "scope": scope})
        assert params["scope"] == scope
    # "chat" needs chat_id, even though BotCommandScopeDefault would accept {"type": ...}
    with pytest.raises(SpecError, match=r'"scope.chat_id": required field of BotCommandScopeChat'):
        spec.validate_call("setMyCommands", {"commands": commands, "scope": {"type": "chat"}})
    with pytest.raises(SpecError, match="unknown field"):
        spec.validate_call(
            "setMyCommands", {"commands": commands, "scope": {"type": "default", "chat_id": 5}}
        )


def test_input_files(spec: BotAPISpec) -> None:
    upload = UploadedFile("笔记.pdf", "application/pdf", b"%PDF-1.4")
    params = spec.validate_call(
        "sendDocument", {"chat_id": 1, "document": "attach://f1"}, files={"f1": upload}
    )
    assert params["document"] is upload
    # a file_id or URL is a String alternative
    assert spec.validate_call("sendDocument", {"chat_id": 1, "document": "BQACAgIAAxk"})
    with pytest.raises(SpecError, match='no file part "missing"'):
        spec.validate_call("sendDocument", {"chat_id": 1, "document": "attach://missing"})
    # nested InputMedia refers to attachments by name (its "media" is a String)
    media = json.dumps([{"type": "photo", "media": "attach://p1"}, {"type": "photo", "media": "x"}])
    assert spec.validate_call(
        "sendMediaGroup", {"chat_id": 1, "media": media}, files={"p1": upload}
    )
    # InputFile-only parameters want an upload
    with pytest.raises(SpecError, match="expected an uploaded file"):
        spec.validate_call("setWebhook", {"url": "https://x", "certificate": "not-a-file"})


def test_result_validation(spec: BotAPISpec) -> None:
    message = {
        "message_id": 1,
        "date": 0,
        "chat": {"id": 1, "type": "private", "first_name": "A"},
        "text": "hi",
    }
    spec.check_result("sendMessage", message)
    spec.check_result("editMessageText", True)
    with pytest.raises(SpecError, match="unknown field of Message"):
        spec.check_result("sendMessage", {**message, "txt": "hi"})
    with pytest.raises(SpecError, match="required field of Message is missing"):
        spec.check_result("sendMessage", {k: v for k, v in message.items() if k != "chat"})
