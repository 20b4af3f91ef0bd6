"""The LTSI item bank: content/ltsi/factors.yaml and items.yaml, checked when loaded.

Scoring rule (see bot/domain/ltsi.py and the files' headers): `reverse: true` marks an item
that is bad for transfer when agreed with; its answer counts as 6 - x, so a high factor score
always means good for transfer, supervisor_sanctions and negative_outcomes included.

Every problem raises ContentError naming the file, the line and the dotted key
(`items.sup1.en`, `factors.peer_support.action`, `thresholds.barrier_below` ...).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from bot.content.errors import ContentError
from bot.content.texts import DEFAULT_LOCALE, LOCALES
from bot.content.yamlfile import load_yaml
from bot.domain.ltsi import SCALE_MAX, SCALE_MIN, ItemSpec, LtsiAction

ITEM_TEXT_MAX = 200  # an item is one Telegram message with the scale buttons under it
SCALE_LABEL_MAX = 20  # a button
NAME_MAX = 40
DESCRIPTION_MAX = 160
SUGGESTION_MAX = 400
NOTE_MAX = 300
ITEM_ID_MAX = 16  # bytes; item ids travel in callback data (64 bytes at most)
FACTOR_ID_MAX = 32
FULL_ITEMS_PER_FACTOR = 3
QUICK_ITEMS_PER_FACTOR = 1

_ID = re.compile(r"[a-z][a-z0-9_]*")
_HTML_SPECIAL = re.compile(r"[<>&]")


class LtsiForm(StrEnum):
    QUICK = "quick"  # course end, 1 item per factor
    FULL = "full"  # day 30 and day 60, 3 items per factor


LocaleTexts = Mapping[str, str]  # locale → text


def _pick(texts: LocaleTexts, locale: str | None) -> str:
    return texts.get(locale or DEFAULT_LOCALE) or texts[DEFAULT_LOCALE]


@dataclass(frozen=True, slots=True)
class LtsiGroup:
    id: str
    names: LocaleTexts

    def name(self, locale: str | None) -> str:
        return _pick(self.names, locale)


@dataclass(frozen=True, slots=True)
class LtsiFactor:
    id: str
    group: str
    names: LocaleTexts
    descriptions: LocaleTexts
    suggestions: LocaleTexts
    action: LtsiAction

    def name(self, locale: str | None) -> str:
        return _pick(self.names, locale)

    def description(self, locale: str | None) -> str:
        return _pick(self.descriptions, locale)

    def suggestion(self, locale: str | None) -> str:
        return _pick(self.suggestions, locale)


@dataclass(frozen=True, slots=True)
class LtsiItem:
    id: str
    factor: str
    group: str
    reverse: bool
    forms: frozenset[LtsiForm]
    texts: LocaleTexts

    def text(self, locale: str | None) -> str:
        return _pick(self.texts, locale)

    def spec(self) -> ItemSpec:
        return ItemSpec(id=self.id, factor=self.factor, group=self.group, reverse=self.reverse)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """A factor below `barrier_below` is a barrier, at or above `catalyst_at_least` a catalyst.
    The project's own rule of thumb, not an official LTSI norm (`note` says so to the reader)."""

    barrier_below: float
    catalyst_at_least: float
    notes: LocaleTexts

    def note(self, locale: str | None) -> str:
        return _pick(self.notes, locale)


@dataclass(frozen=True, slots=True)
class LtsiBank:
    groups: tuple[LtsiGroup, ...]
    factors: tuple[LtsiFactor, ...]
    items: tuple[LtsiItem, ...]  # in file order
    thresholds: Thresholds
    scale: Mapping[int, LocaleTexts]  # 1..5 → label per locale

    def group(self, group_id: str) -> LtsiGroup:
        for group in self.groups:
            if group.id == group_id:
                return group
        raise KeyError(f"no LTSI group {group_id!r}")

    def factor(self, factor_id: str) -> LtsiFactor:
        for factor in self.factors:
            if factor.id == factor_id:
                return factor
        raise KeyError(f"no LTSI factor {factor_id!r}")

    def item(self, item_id: str) -> LtsiItem:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(f"no LTSI item {item_id!r}")

    def factors_of(self, group_id: str) -> tuple[LtsiFactor, ...]:
        return tuple(f for f in self.factors if f.group == group_id)

    def items_of(self, factor_id: str, form: LtsiForm) -> tuple[LtsiItem, ...]:
        return tuple(i for i in self.items if i.factor == factor_id and form in i.forms)

    def quick_form(self) -> tuple[LtsiItem, ...]:
        """One item per factor, in the factors' order."""
        return tuple(item for f in self.factors for item in self.items_of(f.id, LtsiForm.QUICK))

    def full_form(self) -> tuple[LtsiItem, ...]:
        """Three rounds over the factors: every factor's 1st item, then 2nd, then 3rd."""
        per_factor = [self.items_of(f.id, LtsiForm.FULL) for f in self.factors]
        return tuple(items[n] for n in range(FULL_ITEMS_PER_FACTOR) for items in per_factor)

    def form(self, form: LtsiForm | str) -> tuple[LtsiItem, ...]:
        return self.quick_form() if LtsiForm(form) is LtsiForm.QUICK else self.full_form()

    def specs(self, items: tuple[LtsiItem, ...] | None = None) -> tuple[ItemSpec, ...]:
        """What bot.domain.ltsi.score() needs, for `items` (default: the whole bank)."""
        return tuple(item.spec() for item in (self.items if items is None else items))

    @property
    def scale_values(self) -> tuple[int, ...]:
        return tuple(range(SCALE_MIN, SCALE_MAX + 1))

    def scale_label(self, locale: str | None, value: int) -> str:
        if value not in self.scale:
            raise ValueError(f"{value!r} is not on the {SCALE_MIN}..{SCALE_MAX} scale")
        return _pick(self.scale[value], locale)


# --- loading -------------------------------------------------------------------------------


class _File:
    """One YAML file with its line map: raises ContentError at the right place."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data, self.lines = load_yaml(path)
        _refuse_duplicate_keys(path)

    def line(self, key: str) -> int | None:
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key.rpartition(".")[0]
        return None

    def fail(self, key: str, message: str) -> ContentError:
        return ContentError(self.path, f"{key}: {message}", self.line(key))

    def mapping(self, value: Any, key: str, *, required: tuple[str, ...] = ()) -> dict[str, Any]:
        if not isinstance(value, dict) or not value:
            raise self.fail(key, "expected a non-empty mapping")
        for name in value:
            if not isinstance(name, str):
                # YAML 1.1 reads yes/no/on/off as booleans and 1 as a number: quote such keys.
                raise self.fail(key, f"key {name!r} is not text")
        for name in required:
            if name not in value:
                raise self.fail(key, f"{name!r} is missing")
        return value

    def only(self, value: dict[str, Any], key: str, allowed: tuple[str, ...]) -> None:
        for name in value:
            if name not in allowed:
                expected = ", ".join(allowed)
                raise self.fail(f"{key}.{name}", f"unknown key (expected {expected})")

    def ident(self, value: Any, key: str, max_bytes: int) -> str:
        if not isinstance(value, str) or not _ID.fullmatch(value):
            raise self.fail(key, f"id {value!r} must be lowercase letters, digits and _")
        if len(value.encode()) > max_bytes:
            raise self.fail(key, f"id {value!r} is too long ({max_bytes} bytes at most)")
        return value

    def texts(self, value: Any, key: str, limit: int) -> dict[str, str]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a text per locale ({', '.join(LOCALES)})")
        out: dict[str, str] = {}
        for locale in LOCALES:
            out[locale] = self.text(value.get(locale), f"{key}.{locale}", limit)
        for name in value:
            if name not in LOCALES:
                raise self.fail(f"{key}.{name}", f"unknown locale (expected {', '.join(LOCALES)})")
        return out

    def text(self, value: Any, key: str, limit: int) -> str:
        if value is None:
            raise self.fail(key, "text is missing")
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "expected non-empty text")
        text = value.strip()
        if "\n" in text:
            raise self.fail(key, "must be one line")
        if len(text) > limit:
            raise self.fail(key, f"text is {len(text)} characters long ({limit} at most)")
        if _HTML_SPECIAL.search(text):
            raise self.fail(key, "must not contain the HTML special characters < > &")
        return text


def _refuse_duplicate_keys(path: Path) -> None:
    """PyYAML keeps the last of two equal keys silently; a duplicate id must not vanish."""
    node = yaml.compose(path.read_text(encoding="utf-8"))
    for problem in _duplicates(node, ""):
        key, line = problem
        raise ContentError(path, f"{key}: appears twice (ids must be unique)", line)


def _duplicates(node: yaml.Node | None, prefix: str) -> Iterator[tuple[str, int]]:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = f"{prefix}{key_node.value}"
            if key in seen:
                yield key, key_node.start_mark.line + 1
            seen.add(key)
            yield from _duplicates(value_node, key + ".")
    elif isinstance(node, yaml.SequenceNode):
        for child in node.value:
            yield from _duplicates(child, prefix)


def _load_factors(
    path: Path,
) -> tuple[tuple[LtsiGroup, ...], tuple[LtsiFactor, ...], Mapping[int, LocaleTexts], Thresholds]:
    f = _File(path)
    top = f.mapping(f.data, "top", required=("groups", "factors", "scale", "thresholds"))
    f.only(top, "top", ("groups", "factors", "scale", "thresholds"))

    groups: list[LtsiGroup] = []
    for group_id, body in f.mapping(top["groups"], "groups").items():
        key = f"groups.{group_id}"
        f.ident(group_id, key, FACTOR_ID_MAX)
        body = f.mapping(body, key, required=("name",))
        f.only(body, key, ("name",))
        groups.append(LtsiGroup(id=group_id, names=f.texts(body["name"], f"{key}.name", NAME_MAX)))
    group_ids = {g.id for g in groups}

    factors: list[LtsiFactor] = []
    fields = ("group", "name", "description", "suggestion", "action")
    for factor_id, body in f.mapping(top["factors"], "factors").items():
        key = f"factors.{factor_id}"
        f.ident(factor_id, key, FACTOR_ID_MAX)
        body = f.mapping(body, key, required=fields)
        f.only(body, key, fields)
        if body["group"] not in group_ids:
            raise f.fail(f"{key}.group", f"unknown group {body['group']!r}")
        try:
            action = LtsiAction(body["action"])
        except ValueError:
            known = ", ".join(a.value for a in LtsiAction)
            raise f.fail(
                f"{key}.action", f"unknown action {body['action']!r} (expected one of {known})"
            ) from None
        factors.append(
            LtsiFactor(
                id=factor_id,
                group=body["group"],
                names=f.texts(body["name"], f"{key}.name", NAME_MAX),
                descriptions=f.texts(body["description"], f"{key}.description", DESCRIPTION_MAX),
                suggestions=f.texts(body["suggestion"], f"{key}.suggestion", SUGGESTION_MAX),
                action=action,
            )
        )
    for group in groups:
        if not any(factor.group == group.id for factor in factors):
            raise f.fail(f"groups.{group.id}", "no factor belongs to this group")

    scale = top["scale"]
    if not isinstance(scale, dict) or set(scale) != set(range(SCALE_MIN, SCALE_MAX + 1)):
        keys = sorted(map(str, scale)) if isinstance(scale, dict) else scale
        raise f.fail("scale", f"expected labels for 1..5 exactly, got {keys}")
    labels = {
        value: f.texts(scale[value], f"scale.{value}", SCALE_LABEL_MAX)
        for value in range(SCALE_MIN, SCALE_MAX + 1)
    }

    body = f.mapping(
        top["thresholds"], "thresholds", required=("barrier_below", "catalyst_at_least", "note")
    )
    f.only(body, "thresholds", ("barrier_below", "catalyst_at_least", "note"))
    bounds: dict[str, float] = {}
    for name in ("barrier_below", "catalyst_at_least"):
        value = body[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise f.fail(f"thresholds.{name}", f"expected a number, got {value!r}")
        bounds[name] = float(value)
    barrier, catalyst = bounds["barrier_below"], bounds["catalyst_at_least"]
    if not SCALE_MIN <= barrier < catalyst <= SCALE_MAX:
        bad = "barrier_below" if not SCALE_MIN <= barrier < SCALE_MAX else "catalyst_at_least"
        raise f.fail(
            f"thresholds.{bad}",
            f"thresholds must satisfy {SCALE_MIN} <= barrier_below < catalyst_at_least"
            f" <= {SCALE_MAX}, got {barrier} and {catalyst}",
        )
    thresholds = Thresholds(
        barrier_below=barrier,
        catalyst_at_least=catalyst,
        notes=f.texts(body["note"], "thresholds.note", NOTE_MAX),
    )
    return tuple(groups), tuple(factors), labels, thresholds


def _load_items(path: Path, factors: tuple[LtsiFactor, ...]) -> tuple[LtsiItem, ...]:
    f = _File(path)
    top = f.mapping(f.data, "top", required=("items",))
    f.only(top, "top", ("items",))
    group_of = {factor.id: factor.group for factor in factors}
    fields = ("factor", "reverse", "forms", *LOCALES)

    items: list[LtsiItem] = []
    for item_id, body in f.mapping(top["items"], "items").items():
        key = f"items.{item_id}"
        f.ident(item_id, key, ITEM_ID_MAX)
        body = f.mapping(body, key, required=("factor", "reverse", "forms"))
        f.only(body, key, fields)
        factor = body["factor"]
        if factor not in group_of:
            raise f.fail(f"{key}.factor", f"unknown factor {factor!r}")
        if not isinstance(body["reverse"], bool):
            raise f.fail(f"{key}.reverse", f"expected true or false, got {body['reverse']!r}")
        forms = body["forms"]
        known = [form.value for form in LtsiForm]
        if (
            not isinstance(forms, list)
            or not forms
            or any(form not in known for form in forms)
            or len(set(forms)) != len(forms)
        ):
            raise f.fail(f"{key}.forms", f"expected a list of {' / '.join(known)}, got {forms!r}")
        items.append(
            LtsiItem(
                id=item_id,
                factor=factor,
                group=group_of[factor],
                reverse=body["reverse"],
                forms=frozenset(LtsiForm(form) for form in forms),
                texts={
                    loc: f.text(body.get(loc), f"{key}.{loc}", ITEM_TEXT_MAX) for loc in LOCALES
                },
            )
        )

    for factor in factors:
        mine = [item for item in items if item.factor == factor.id]
        where = f"items.{mine[0].id}" if mine else "items"
        for form, wanted in (
            (LtsiForm.QUICK, QUICK_ITEMS_PER_FACTOR),
            (LtsiForm.FULL, FULL_ITEMS_PER_FACTOR),
        ):
            chosen = [item.id for item in mine if form in item.forms]
            if len(chosen) != wanted:
                raise f.fail(
                    where,
                    f"factor {factor.id!r} has {len(chosen)} item(s) in the {form} form"
                    f" ({', '.join(chosen) or 'none'}); it needs exactly {wanted}",
                )
    return tuple(items)


def load_ltsi(content_dir: Path) -> LtsiBank:
    """Load content_dir/ltsi/{factors,items}.yaml; ContentError names the first problem."""
    groups, factors, scale, thresholds = _load_factors(content_dir / "ltsi" / "factors.yaml")
    items = _load_items(content_dir / "ltsi" / "items.yaml", factors)
    return LtsiBank(groups=groups, factors=factors, items=items, thresholds=thresholds, scale=scale)
