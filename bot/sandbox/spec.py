"""Validation of Bot API calls against the machine-readable Bot API specification.

``telegram-bot-api.json`` (next to this module) describes every method and type:
``methods[name] = {"returns": [...], "fields": {param: {"types": [...], "required": bool}}}``
and ``types[name] = {"fields": {...}, "subtypes": [...] | None}``. A type expression is
``Integer``, ``Float``, ``Boolean``, ``String``, ``InputFile``, a type name, or
``Array of <type expression>``; a field lists alternative type expressions.

The validator is deliberately stricter than Telegram: unknown parameters and unknown
fields of nested objects are errors, so that a typo in the bot fails in tests instead of
being silently ignored in production.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_SPEC_PATH",
    "BotAPISpec",
    "FieldSpec",
    "MethodSpec",
    "SpecError",
    "UploadedFile",
]

DEFAULT_SPEC_PATH = Path(__file__).with_name("telegram-bot-api.json")
_PRIMITIVES = frozenset({"Integer", "Float", "Boolean", "String", "InputFile"})
_ARRAY_PREFIX = "Array of "
_INT_RE = re.compile(r"-?\d+")
_ATTACH_PREFIX = "attach://"


@dataclass(frozen=True)
class UploadedFile:
    """A file uploaded with multipart/form-data (a Bot API ``InputFile``)."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)

    def summary(self) -> dict[str, Any]:
        return {"filename": self.filename, "content_type": self.content_type, "size": self.size}


class SpecError(ValueError):
    """A call does not match the specification; ``description`` is a Bot API error."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    @property
    def description(self) -> str:
        return f"Bad Request: {self.message}"


@dataclass(frozen=True)
class FieldSpec:
    types: tuple[str, ...]
    required: bool


@dataclass(frozen=True)
class MethodSpec:
    name: str
    returns: tuple[str, ...]
    fields: Mapping[str, FieldSpec]


@dataclass(frozen=True)
class _TypeSpec:
    name: str
    fields: Mapping[str, FieldSpec]
    subtypes: tuple[str, ...] | None
    required: tuple[str, ...] = ()  # the names of the required fields, in spec order


class _Mismatch(Exception):
    """Internal: a value does not match a type expression."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _parse_fields(raw: Mapping[str, Any]) -> dict[str, FieldSpec]:
    return {
        name: FieldSpec(types=tuple(item["types"]), required=bool(item["required"]))
        for name, item in raw.items()
    }


def _describe(value: Any) -> str:
    """Short human description of a JSON value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    if isinstance(value, str):
        shown = value if len(value) <= 30 else value[:27] + "..."
        return f"String {json.dumps(shown, ensure_ascii=False)}"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, UploadedFile):
        return "an uploaded file"
    return type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _string_only(types: Sequence[str]) -> bool:
    return "String" in types and not ({"Integer", "Float"} & set(types))


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class BotAPISpec:
    """The Bot API specification plus a strict validator of calls and values."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.version: str = str(raw.get("version", "unknown"))
        self.methods: dict[str, MethodSpec] = {
            name: MethodSpec(
                name=name, returns=tuple(item["returns"]), fields=_parse_fields(item["fields"])
            )
            for name, item in raw["methods"].items()
        }
        self.types: dict[str, _TypeSpec] = {
            name: _TypeSpec(
                name=name,
                fields=fields,
                subtypes=tuple(item["subtypes"]) if item.get("subtypes") else None,
                required=tuple(key for key, fspec in fields.items() if fspec.required),
            )
            for name, item in raw["types"].items()
            for fields in (_parse_fields(item["fields"]),)
        }
        self._by_lower = {name.lower(): name for name in self.methods}

    @classmethod
    def load(cls, path: Path | str = DEFAULT_SPEC_PATH) -> BotAPISpec:
        with open(path, encoding="utf-8") as fh:
            return cls(json.load(fh))

    # -- methods -----------------------------------------------------------------------

    def resolve_method(self, name: str) -> str | None:
        """The canonical method name (Telegram matches names case-insensitively)."""
        return self._by_lower.get(name.lower())

    def method(self, name: str) -> MethodSpec:
        canonical = self.resolve_method(name)
        if canonical is None:
            raise KeyError(name)
        return self.methods[canonical]

    def validate_call(
        self,
        method: str,
        params: Mapping[str, Any],
        files: Mapping[str, UploadedFile] | None = None,
    ) -> dict[str, Any]:
        """Validate and normalize the parameters of a call.

        Top-level values may be strings as sent in a query string or a form (numbers,
        booleans and JSON-serialized objects are decoded according to the parameter's
        types, like the Bot API server does); nested values must have proper JSON types.
        ``attach://<name>`` references are resolved against ``files``. Returns the
        parameters with decoded values; raises :class:`SpecError`.
        """
        spec = self.method(method)
        attachments = dict(files or {})
        unknown = sorted(set(params) - set(spec.fields))
        if unknown:
            raise SpecError(
                f'unknown parameter "{unknown[0]}" for method {spec.name} '
                "(the emulator rejects parameters Telegram would ignore)",
                path=unknown[0],
            )
        result: dict[str, Any] = {}
        for name, fspec in spec.fields.items():
            value = params.get(name)
            if value is None:
                if fspec.required:
                    raise SpecError(f'parameter "{name}" is required', path=name)
                continue
            if isinstance(value, str):
                value = self._decode_form_value(name, fspec.types, value)
            elif _is_number(value) and _string_only(fspec.types):
                # JSON numbers are accepted for String parameters, like Telegram does
                value = str(value)
            try:
                result[name] = self._check(fspec.types, value, name, attachments)
            except _Mismatch as exc:
                raise SpecError(
                    f'invalid parameter "{exc.path}": {exc.reason}', path=exc.path
                ) from None
        return result

    def validate_value(
        self,
        types: str | Sequence[str],
        value: Any,
        *,
        path: str = "value",
        files: Mapping[str, UploadedFile] | None = None,
    ) -> Any:
        """Strictly validate a JSON value against a type expression (or alternatives)."""
        alternatives = (types,) if isinstance(types, str) else tuple(types)
        try:
            return self._check(alternatives, value, path, dict(files or {}))
        except _Mismatch as exc:
            raise SpecError(f'invalid value "{exc.path}": {exc.reason}', path=exc.path) from None

    def check_result(self, method: str, result: Any) -> None:
        """Check that a method's result matches its declared return type."""
        self.validate_value(self.method(method).returns, result, path=f"{method} result")

    # -- decoding of form values ----------------------------------------------------------

    def _decode_form_value(self, name: str, types: Sequence[str], raw: str) -> Any:
        """Decode a string from a query string/form according to the declared types."""
        if raw.startswith(_ATTACH_PREFIX) and "InputFile" in types:
            return raw  # resolved by _check
        for type_expr in types:
            if type_expr == "Integer" and _INT_RE.fullmatch(raw):
                return int(raw)
            if type_expr == "Float":
                try:
                    number = float(raw)
                except ValueError:
                    continue
                if math.isfinite(number):
                    return number
            if type_expr == "Boolean" and raw.lower() in ("true", "false"):
                return raw.lower() == "true"
            if type_expr not in _PRIMITIVES and raw.lstrip()[:1] in ("{", "["):
                try:
                    return json.loads(raw)
                except json.JSONDecodeError:
                    raise SpecError(
                        f'can\'t parse parameter "{name}": not a valid JSON {type_expr}',
                        path=name,
                    ) from None
        return raw

    # -- the recursive checker --------------------------------------------------------------

    def _check(
        self, alternatives: Sequence[str], value: Any, path: str, files: Mapping[str, UploadedFile]
    ) -> Any:
        is_attach = isinstance(value, str) and value.startswith(_ATTACH_PREFIX)
        if is_attach and "InputFile" in alternatives:
            return self._check_file(value, path, files)
        if len(alternatives) == 1:
            return self._check_one(alternatives[0], value, path, files)
        failures: list[tuple[str, _Mismatch]] = []
        for type_expr in alternatives:
            try:
                return self._check_one(type_expr, value, path, files)
            except _Mismatch as exc:
                failures.append((type_expr, exc))
        raise self._best_failure(failures, value, path)

    def _best_failure(
        self, failures: Sequence[tuple[str, _Mismatch]], value: Any, path: str
    ) -> _Mismatch:
        """Pick the most helpful error among the failed alternatives of a union."""
        if isinstance(value, dict):
            scored = []
            for type_expr, exc in failures:
                spec = self.types.get(type_expr)
                if spec is not None:
                    known = sum(1 for key in value if key in spec.fields)
                    scored.append((known, exc))
            if scored:
                best = max(scored, key=lambda item: item[0])
                if best[0] > 0:
                    return best[1]
        if isinstance(value, list):
            for type_expr, exc in failures:
                if type_expr.startswith(_ARRAY_PREFIX):
                    return exc
        expected = " or ".join(type_expr for type_expr, _ in failures)
        return _Mismatch(path, f"expected {expected}, got {_describe(value)}")

    def _check_one(
        self, type_expr: str, value: Any, path: str, files: Mapping[str, UploadedFile]
    ) -> Any:
        if type_expr.startswith(_ARRAY_PREFIX):
            if not isinstance(value, list):
                raise _Mismatch(path, f"expected {type_expr}, got {_describe(value)}")
            item_type = type_expr[len(_ARRAY_PREFIX) :]
            return [
                self._check_one(item_type, item, f"{path}[{index}]", files)
                for index, item in enumerate(value)
            ]
        if type_expr == "Integer":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        elif type_expr == "Float":
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return value
        elif type_expr == "Boolean":
            if isinstance(value, bool):
                return value
        elif type_expr == "String":
            if isinstance(value, str):
                return value
        elif type_expr == "InputFile":
            return self._check_file(value, path, files)
        else:
            return self._check_object(type_expr, value, path, files)
        raise _Mismatch(path, f"expected {type_expr}, got {_describe(value)}")

    def _check_file(self, value: Any, path: str, files: Mapping[str, UploadedFile]) -> Any:
        if isinstance(value, UploadedFile):
            return value
        if isinstance(value, str) and value.startswith(_ATTACH_PREFIX):
            key = value[len(_ATTACH_PREFIX) :]
            if key in files:
                return files[key]
            raise _Mismatch(path, f'refers to "{value}" but no file part "{key}" was uploaded')
        raise _Mismatch(path, f"expected an uploaded file (InputFile), got {_describe(value)}")

    def _check_object(
        self, type_name: str, value: Any, path: str, files: Mapping[str, UploadedFile]
    ) -> Any:
        spec = self.types.get(type_name)
        if spec is None:
            raise _Mismatch(path, f"unknown type {type_name} in the specification")
        if spec.subtypes is not None:
            return self._check(self._subtype_candidates(spec, value), value, path, files)
        if not isinstance(value, dict):
            raise _Mismatch(path, f"expected {type_name} object, got {_describe(value)}")
        for key in value:
            if key not in spec.fields:
                raise _Mismatch(f"{path}.{key}", f"unknown field of {type_name}")
        for key in spec.required:
            if value.get(key) is None:
                raise _Mismatch(f"{path}.{key}", f"required field of {type_name} is missing")
        # Only the fields present are checked: objects like Message have ~100 optional ones.
        return {
            key: self._check(spec.fields[key].types, item, f"{path}.{key}", files)
            for key, item in value.items()
            if item is not None
        }

    def _subtype_candidates(self, spec: _TypeSpec, value: Any) -> tuple[str, ...]:
        """Subtypes worth trying, using the ``type`` discriminator when there is one.

        ``BotCommandScopeAllPrivateChats`` has ``type`` "all_private_chats": the snake-cased
        suffix after the parent's name (or its tail, for e.g. InlineQueryResultCachedAudio
        whose type is "audio").
        """
        subtypes = spec.subtypes or ()
        discriminator = value.get("type") if isinstance(value, dict) else None
        if not isinstance(discriminator, str):
            return subtypes
        matching = []
        for subtype in subtypes:
            sub = self.types.get(subtype)
            if sub is None or "type" not in sub.fields:
                matching.append(subtype)
                continue
            suffix = _snake(subtype.removeprefix(spec.name))
            if suffix == discriminator or suffix.endswith("_" + discriminator):
                matching.append(subtype)
        return tuple(matching) or subtypes
