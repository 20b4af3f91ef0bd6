"""Message templates per locale, Jinja2 rendered to Telegram HTML: content/i18n/<locale>.yaml
and, one file per feature, content/i18n/<locale>/<feature>.yaml (a key lives in one file)."""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from bot.content.errors import ContentError
from bot.content.mentoring import Strength, factor_ids, load_strengths
from bot.content.yamlfile import load_yaml

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"


@dataclass(frozen=True, slots=True)
class Choice:
    """An item of a list in content (areas, ...): a stable id and a label per locale."""

    id: str
    labels: dict[str, str]

    def label(self, locale: str) -> str:
        return self.labels.get(locale) or self.labels[DEFAULT_LOCALE]


class Texts:
    """All user-facing text. `render(locale, key, **params)` gives ready-to-send HTML."""

    def __init__(
        self,
        templates: dict[str, dict[str, jinja2.Template]],
        areas: tuple[Choice, ...],
        default_locale: str = DEFAULT_LOCALE,
        strengths: tuple[Strength, ...] = (),
    ) -> None:
        self._templates = templates
        self.areas = areas
        self.default_locale = default_locale
        self.strengths = strengths  # content/mentoring.yaml: what mentors coach well

    @property
    def locales(self) -> tuple[str, ...]:
        return tuple(self._templates)

    def locale_or_default(self, locale: str | None) -> str:
        return locale if locale in self._templates else self.default_locale

    def render(self, locale: str | None, key: str, **params: Any) -> str:
        return self.render_exact(locale, key, **params).strip()

    def render_exact(self, locale: str | None, key: str, **params: Any) -> str:
        """As written, spaces at the ends kept (a list separator such as ", ")."""
        templates = self._templates[self.locale_or_default(locale)]
        try:
            template = templates[key]
        except KeyError:
            raise KeyError(f"no message {key!r} in content") from None
        return template.render(**params)

    def plain(self, locale: str | None, key: str, **params: Any) -> str:
        """Text for places that show no HTML (button labels, toasts, document captions)."""
        return html.unescape(self.render(locale, key, **params))

    def area_ids(self) -> tuple[str, ...]:
        return tuple(a.id for a in self.areas)

    def area_label(self, locale: str | None, area_id: str) -> str:
        for area in self.areas:
            if area.id == area_id:
                return area.label(self.locale_or_default(locale))
        return area_id

    def strength_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.strengths)

    def strength_label(self, locale: str | None, strength_id: str) -> str:
        for strength in self.strengths:
            if strength.id == strength_id:
                return strength.label(self.locale_or_default(locale), DEFAULT_LOCALE)
        return strength_id

    def strength_factors(self, strength_ids: Iterable[str]) -> frozenset[str]:
        """The LTSI factor ids that these strengths cover (unknown ids cover nothing)."""
        wanted = set(strength_ids)
        covered: set[str] = set()
        for strength in self.strengths:
            if strength.id in wanted:
                covered |= strength.factors
        return frozenset(covered)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )


def _flatten(data: Any, path: Path, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            if not isinstance(key, str):
                # YAML 1.1 reads yes/no/on/off/true as booleans: quote such keys.
                raise ContentError(path, f"key {key!r} under {prefix or 'top'} is not text")
            out.update(_flatten(value, path, f"{prefix}{key}."))
    else:
        out[prefix.rstrip(".")] = data
    return out


def _load_locale(
    env: jinja2.Environment, path: Path
) -> tuple[dict[str, jinja2.Template], dict[str, int]]:
    data, lines = load_yaml(path)
    if not isinstance(data, dict):
        raise ContentError(path, "expected a mapping of message keys")
    templates = {}
    for key, source in _flatten(data, path).items():
        if not isinstance(source, str):
            raise ContentError(path, f"message {key!r} must be text", lines.get(key))
        try:
            templates[key] = env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise ContentError(
                path, f"message {key!r}: template error: {exc.message}", lines.get(key)
            ) from exc
    return templates, lines


def _load_areas(path: Path) -> tuple[Choice, ...]:
    data, lines = load_yaml(path)
    items = data.get("areas") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise ContentError(path, "expected a non-empty list under 'areas'")
    seen: set[str] = set()
    areas = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise ContentError(path, f"area #{index + 1} needs an 'id'", lines.get("areas"))
        area_id = item["id"]
        if area_id in seen:
            raise ContentError(path, f"area id {area_id!r} appears twice", lines.get("areas"))
        seen.add(area_id)
        missing = [loc for loc in LOCALES if not isinstance(item.get(loc), str) or not item[loc]]
        if missing:
            raise ContentError(
                path, f"area {area_id!r} has no label for {', '.join(missing)}", lines.get("areas")
            )
        if len(area_id.encode()) > 24:
            raise ContentError(path, f"area id {area_id!r} is too long (24 bytes at most)")
        areas.append(Choice(id=area_id, labels={loc: item[loc] for loc in LOCALES}))
    return tuple(areas)


def _locale_files(content_dir: Path, locale: str) -> list[Path]:
    """content/i18n/<locale>.yaml, then one file per feature in content/i18n/<locale>/."""
    main = content_dir / "i18n" / f"{locale}.yaml"
    return [main, *sorted((content_dir / "i18n" / locale).glob("*.yaml"))]


def _counterpart(path: Path, locale: str, other: str) -> Path:
    """The file of `other` locale that should hold what `path` holds for `locale`."""
    if path.name == f"{locale}.yaml":
        return path.with_name(f"{other}.yaml")
    return path.parent.parent / other / path.name


def load_texts(content_dir: Path, default_locale: str = DEFAULT_LOCALE) -> Texts:
    """Load and check every locale; raise ContentError naming the first problem found."""
    env = _environment()
    templates: dict[str, dict[str, jinja2.Template]] = {}
    lines: dict[str, dict[str, int]] = {}
    where: dict[str, dict[str, Path]] = {}  # locale → key → the file that defines it
    for locale in LOCALES:
        templates[locale], lines[locale], where[locale] = {}, {}, {}
        for path in _locale_files(content_dir, locale):
            file_templates, file_lines = _load_locale(env, path)
            for key in file_templates:
                if key in where[locale]:
                    raise ContentError(
                        path,
                        f"message {key!r} is also in {where[locale][key].name}",
                        file_lines.get(key),
                    )
                where[locale][key] = path
            templates[locale].update(file_templates)
            lines[locale].update(file_lines)
    reference = templates[DEFAULT_LOCALE]
    for locale in LOCALES:
        for key in sorted(set(reference) - set(templates[locale])):
            path = _counterpart(where[DEFAULT_LOCALE][key], DEFAULT_LOCALE, locale)
            raise ContentError(path, f"message {key!r} is missing (it is in {DEFAULT_LOCALE})")
        for key in sorted(set(templates[locale]) - set(reference)):
            raise ContentError(
                where[locale][key],
                f"message {key!r} is not in {DEFAULT_LOCALE}",
                lines[locale].get(key),
            )
    if default_locale not in templates:
        raise ContentError(content_dir, f"default locale {default_locale!r} has no messages")
    strengths = load_strengths(
        content_dir / "mentoring.yaml",
        factor_ids(content_dir / "ltsi" / "factors.yaml"),
        LOCALES,
    )
    return Texts(templates, _load_areas(content_dir / "areas.yaml"), default_locale, strengths)


class Translator:
    """Texts bound to one person's language: what a handler uses to speak."""

    def __init__(self, texts: Texts, locale: str | None) -> None:
        self.texts = texts
        self.locale = texts.locale_or_default(locale)

    def __call__(self, key: str, **params: Any) -> str:
        return self.texts.render(self.locale, key, **params)

    def plain(self, key: str, **params: Any) -> str:
        return self.texts.plain(self.locale, key, **params)

    def date(self, value: date) -> str:
        return self.plain("format.date", d=value)

    def moment(self, value: datetime, timezone: str) -> str:
        return self.plain("format.datetime", d=value.astimezone(ZoneInfo(timezone)))

    def join(self, items: list[str] | tuple[str, ...]) -> str:
        separator = html.unescape(self.texts.render_exact(self.locale, "format.list_separator"))
        return separator.join(items)

    def area(self, area_id: str) -> str:
        return self.texts.area_label(self.locale, area_id)

    def strength(self, strength_id: str) -> str:
        return self.texts.strength_label(self.locale, strength_id)
