"""A strict parser of Telegram's HTML parse mode (and the reverse, entities -> HTML).

Used by the emulator (to answer as the Bot API would) and by the handlers (to tell whether
an edit would change what a message shows).

The parser follows the algorithm of TDLib's ``parse_html`` (which is what the Bot API
server runs for ``parse_mode=HTML``), including its error messages, with one deliberate
difference: a ``&`` that does not start a supported entity is an error here, whereas
Telegram silently keeps it. An unescaped ``&`` almost always means some text was put
into the message without ``html.escape``; the next such text may contain a ``<``.

Offsets and lengths of entities are counted in UTF-16 code units, like Telegram does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Entity",
    "HTMLParseError",
    "ParsedText",
    "entities_to_html",
    "escape",
    "parse_html",
    "utf16_len",
]

# Tag name -> entity type. ``span`` (with class="tg-spoiler"), ``a``, ``code``, ``pre``,
# ``blockquote``, ``tg-emoji`` and ``tg-time`` are handled specially.
_SIMPLE_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
}
_SUPPORTED_TAGS = frozenset(
    [*_SIMPLE_TAGS, "span", "a", "code", "pre", "blockquote", "tg-emoji", "tg-time"]
)
_NAMED_ENTITIES: dict[str, str] = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
# Something that looks like an entity: ``&name;``, ``&#123;`` or ``&#x1F600;``.
_ENTITY_RE = re.compile(r"&(#[xX][0-9A-Za-z]*|#[0-9A-Za-z]*|[A-Za-z][A-Za-z0-9]*);")
_SPACES = " \t\n\r\f\v"
_MAX_CODE_POINT = 0x10FFFF


class HTMLParseError(ValueError):
    """The text is not valid Telegram HTML; ``description`` is the Bot API error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def description(self) -> str:
        return f"Bad Request: can't parse entities: {self.reason}"


@dataclass(frozen=True)
class Entity:
    """A MessageEntity; ``offset`` and ``length`` are in UTF-16 code units."""

    type: str
    offset: int
    length: int
    url: str | None = None
    language: str | None = None
    custom_emoji_id: str | None = None
    unix_time: int | None = None
    date_time_format: str | None = None

    def to_api(self) -> dict[str, Any]:
        """The entity as the Bot API serializes it (absent fields omitted)."""
        data: dict[str, Any] = {"offset": self.offset, "length": self.length, "type": self.type}
        for key in ("url", "language", "custom_emoji_id", "unix_time", "date_time_format"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Entity:
        return cls(
            type=str(data["type"]),
            offset=int(data["offset"]),
            length=int(data["length"]),
            url=data.get("url"),
            language=data.get("language"),
            custom_emoji_id=data.get("custom_emoji_id"),
            unix_time=data.get("unix_time"),
            date_time_format=data.get("date_time_format"),
        )


@dataclass(frozen=True)
class ParsedText:
    """What the user sees (``text``) and how it is formatted (``entities``)."""

    text: str
    entities: tuple[Entity, ...]

    @property
    def utf16_length(self) -> int:
        return utf16_len(self.text)

    def entities_api(self) -> list[dict[str, Any]]:
        return [entity.to_api() for entity in self.entities]


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (how Telegram measures text)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def escape(text: str) -> str:
    """Escape text for Telegram HTML (the minimal escaping Telegram itself uses)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attribute(value: str) -> str:
    return escape(value).replace('"', "&quot;")


@dataclass
class _OpenTag:
    name: str
    argument: str
    offset: int  # UTF-16 offset of the tag's content in the output text
    char_index: int  # the same position counted in Python characters
    expandable: bool = False
    time_format: str | None = None


class _Parser:
    def __init__(self, source: str, *, strict_ampersand: bool) -> None:
        self.src = source
        self.pos = 0
        self.strict_ampersand = strict_ampersand
        self.out: list[str] = []
        self.utf16_offset = 0
        self.char_count = 0
        self.stack: list[_OpenTag] = []
        # (entity, order of closing) - the order breaks ties between nested entities
        self.entities: list[tuple[Entity, int]] = []

    # -- helpers ---------------------------------------------------------------------

    def byte_offset(self, index: int) -> int:
        return len(self.src[:index].encode("utf-8", "surrogatepass"))

    def error(self, message: str) -> HTMLParseError:
        return HTMLParseError(message)

    def emit(self, text: str) -> None:
        self.out.append(text)
        self.utf16_offset += utf16_len(text)
        self.char_count += len(text)

    def at_end(self) -> bool:
        return self.pos >= len(self.src)

    def skip_spaces(self) -> None:
        while not self.at_end() and self.src[self.pos] in _SPACES:
            self.pos += 1

    def decode_entity(self, start: int) -> tuple[str, int] | None:
        """Decode the entity at ``start`` (an ``&``): (character, index after it)."""
        match = _ENTITY_RE.match(self.src, start)
        if match is None:
            return None
        body = match.group(1)
        if body.startswith("#"):
            digits, base = (body[2:], 16) if body[1:2] in ("x", "X") else (body[1:], 10)
            try:
                code = int(digits, base)
            except ValueError:
                return None
            if code == 0 or code > _MAX_CODE_POINT or 0xD800 <= code <= 0xDFFF:
                return None
            return chr(code), match.end()
        if body in _NAMED_ENTITIES:
            return _NAMED_ENTITIES[body], match.end()
        return None

    def read_ampersand(self, *, in_attribute: bool) -> str:
        start = self.pos
        decoded = self.decode_entity(start)
        if decoded is not None:
            char, self.pos = decoded
            return char
        if self.strict_ampersand:
            looks_like = _ENTITY_RE.match(self.src, start)
            where = "attribute value" if in_attribute else "text"
            if looks_like is not None:
                raise self.error(
                    f'Unsupported HTML entity "{looks_like.group(0)}" at byte offset '
                    f"{self.byte_offset(start)}; only &lt; &gt; &amp; &quot; and numeric "
                    "entities are supported"
                )
            raise self.error(
                f"Character '&' in {where} at byte offset {self.byte_offset(start)} must be "
                "escaped as &amp; (the emulator is stricter than Telegram here)"
            )
        self.pos += 1
        return "&"

    # -- main loop -------------------------------------------------------------------

    def parse(self) -> ParsedText:
        src = self.src
        while not self.at_end():
            ch = src[self.pos]
            if ch == "&":
                self.emit(self.read_ampersand(in_attribute=False))
            elif ch == "<":
                if src.startswith("</", self.pos):
                    self.parse_end_tag()
                else:
                    self.parse_start_tag()
            else:
                # copy a run of ordinary characters at once
                end = self.pos + 1
                while end < len(src) and src[end] not in "&<":
                    end += 1
                self.emit(src[self.pos : end])
                self.pos = end
        if self.stack:
            raise self.error(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"'
            )
        ordered = sorted(
            self.entities, key=lambda item: (item[0].offset, -item[0].length, -item[1])
        )
        return ParsedText("".join(self.out), tuple(entity for entity, _ in ordered))

    def parse_start_tag(self) -> None:
        src = self.src
        begin = self.pos
        self.pos += 1
        name_start = self.pos
        while not self.at_end() and src[self.pos] not in _SPACES and src[self.pos] != ">":
            self.pos += 1
        if self.at_end():
            raise self.error(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
        name = src[name_start : self.pos].lower()
        if name not in _SUPPORTED_TAGS:
            raise self.error(
                f'Unsupported start tag "{name}" at byte offset {self.byte_offset(begin)}'
            )
        tag = _OpenTag(name=name, argument="", offset=self.utf16_offset, char_index=self.char_count)
        has_class = False
        while True:
            self.skip_spaces()
            if self.at_end():
                raise self.error(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
            if src[self.pos] == ">":
                self.pos += 1
                break
            attr_start = self.pos
            while not self.at_end() and src[self.pos] not in _SPACES and src[self.pos] not in "=>":
                self.pos += 1
            attr_name = src[attr_start : self.pos].lower()
            if not attr_name:
                raise self.error(
                    f'Empty attribute name in the tag "{name}" at byte offset '
                    f"{self.byte_offset(begin)}"
                )
            self.skip_spaces()
            if self.at_end() or src[self.pos] != "=":
                if name == "blockquote" and attr_name == "expandable":
                    tag.expandable = True
                    continue
                raise self.error(
                    f'Expected equal sign in declaration of an attribute of the tag "{name}" '
                    f"at byte offset {self.byte_offset(begin)}"
                )
            self.pos += 1
            self.skip_spaces()
            if self.at_end():
                raise self.error(
                    f'Unclosed start tag "{name}" at byte offset {self.byte_offset(begin)}'
                )
            value = self.read_attribute_value(name, begin)
            if name == "a" and attr_name == "href":
                tag.argument = value
            elif name == "code" and attr_name == "class":
                if value.startswith("language-"):
                    tag.argument = value[len("language-") :]
            elif name == "span" and attr_name == "class":
                has_class = True
                tag.argument = value
            elif (name, attr_name) in (("tg-emoji", "emoji-id"), ("tg-time", "unix")):
                tag.argument = value
            elif name == "tg-time" and attr_name == "format":
                tag.time_format = value
            # Like Telegram, other attributes are ignored.
        if name == "span" and (not has_class or tag.argument != "tg-spoiler"):
            raise self.error(
                f'Tag "span" must have class "tg-spoiler" at byte offset {self.byte_offset(begin)}'
            )
        if name == "tg-emoji" and not _is_positive_int64(tag.argument):
            raise self.error("Invalid custom emoji identifier specified")
        if name == "tg-time" and not re.fullmatch(r"-?\d{1,12}", tag.argument):
            raise self.error("Invalid Unix time specified in the tag tg-time")
        self.stack.append(tag)

    def read_attribute_value(self, tag_name: str, begin: int) -> str:
        src = self.src
        quote = src[self.pos]
        if quote not in "'\"":
            # an unquoted "name token"
            start = self.pos
            while not self.at_end() and (src[self.pos].isalnum() or src[self.pos] in ".-"):
                self.pos += 1
            value = src[start : self.pos]
            if not value:
                raise self.error(
                    f'Expected quotation mark before attribute value in the tag "{tag_name}" '
                    f"at byte offset {self.byte_offset(begin)}"
                )
            if not self.at_end() and src[self.pos] not in _SPACES and src[self.pos] != ">":
                raise self.error(
                    f"Unexpected end of name token at byte offset {self.byte_offset(self.pos)}"
                )
            return value
        self.pos += 1
        parts: list[str] = []
        while not self.at_end() and src[self.pos] != quote:
            if src[self.pos] == "&":
                parts.append(self.read_ampersand(in_attribute=True))
            else:
                parts.append(src[self.pos])
                self.pos += 1
        if self.at_end():
            raise self.error(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
        self.pos += 1  # the closing quote
        return "".join(parts)

    def parse_end_tag(self) -> None:
        src = self.src
        begin = self.pos
        if not self.stack:
            raise self.error(f"Unexpected end tag at byte offset {self.byte_offset(begin)}")
        close = src.find(">", begin + 2)
        if close < 0:
            raise self.error(f"Unclosed end tag at byte offset {self.byte_offset(begin)}")
        name = src[begin + 2 : close].rstrip(_SPACES).lower()
        expected = self.stack[-1].name
        if name and name != expected:
            raise self.error(
                f"Unmatched end tag at byte offset {self.byte_offset(begin)}, "
                f'expected "</{expected}>", found "</{name}>"'
            )
        self.pos = close + 1
        self.close_tag(self.stack.pop())

    def close_tag(self, tag: _OpenTag) -> None:
        offset = tag.offset
        length = self.utf16_offset - offset
        if length <= 0:
            return  # Telegram drops empty entities
        entity: Entity | None = None
        if tag.name in _SIMPLE_TAGS:
            entity = Entity(_SIMPLE_TAGS[tag.name], offset, length)
        elif tag.name == "span":
            entity = Entity("spoiler", offset, length)
        elif tag.name == "a":
            url = tag.argument or "".join(self.out)[tag.char_index :]
            if url.strip():
                entity = Entity("text_link", offset, length, url=url)
        elif tag.name == "code":
            entity = Entity("code", offset, length, language=tag.argument or None)
        elif tag.name == "pre":
            entity = self.merge_pre(offset, length)
        elif tag.name == "blockquote":
            kind = "expandable_blockquote" if tag.expandable else "blockquote"
            entity = Entity(kind, offset, length)
        elif tag.name == "tg-emoji":
            entity = Entity("custom_emoji", offset, length, custom_emoji_id=tag.argument)
        elif tag.name == "tg-time":
            entity = Entity(
                "date_time",
                offset,
                length,
                unix_time=int(tag.argument),
                date_time_format=tag.time_format or None,
            )
        if entity is not None:
            self.entities.append((entity, len(self.entities)))

    def merge_pre(self, offset: int, length: int) -> Entity:
        """``<pre><code class="language-x">...</code></pre>`` is one ``pre`` entity."""
        if self.entities:
            last, _ = self.entities[-1]
            if last.type == "code" and last.offset == offset and last.length == length:
                self.entities.pop()
                return Entity("pre", offset, length, language=last.language)
        return Entity("pre", offset, length)


def _is_positive_int64(value: str) -> bool:
    return re.fullmatch(r"\d{1,19}", value) is not None and 0 < int(value) < 2**63


def parse_html(source: str, *, strict_ampersand: bool = True) -> ParsedText:
    """Parse Telegram HTML into plain text and entities.

    Raises :class:`HTMLParseError` on an unsupported tag, an unclosed or mismatched tag,
    a bare ``<``, or (with ``strict_ampersand``) an ``&`` that is not a supported entity.
    """
    return _Parser(source, strict_ampersand=strict_ampersand).parse()


# -- entities -> HTML ---------------------------------------------------------------------

_TAG_FOR_TYPE: dict[str, str] = {
    "bold": "b",
    "italic": "i",
    "underline": "u",
    "strikethrough": "s",
    "spoiler": "tg-spoiler",
    "code": "code",
    "blockquote": "blockquote",
}


def _open_close(entity: Entity) -> tuple[str, str] | None:
    kind = entity.type
    if kind in _TAG_FOR_TYPE:
        tag = _TAG_FOR_TYPE[kind]
        return f"<{tag}>", f"</{tag}>"
    if kind == "pre":
        if entity.language:
            lang = _escape_attribute(entity.language)
            return f'<pre><code class="language-{lang}">', "</code></pre>"
        return "<pre>", "</pre>"
    if kind == "text_link" and entity.url is not None:
        return f'<a href="{_escape_attribute(entity.url)}">', "</a>"
    if kind == "expandable_blockquote":
        return "<blockquote expandable>", "</blockquote>"
    if kind == "custom_emoji" and entity.custom_emoji_id:
        return f'<tg-emoji emoji-id="{_escape_attribute(entity.custom_emoji_id)}">', "</tg-emoji>"
    if kind == "date_time" and entity.unix_time is not None:
        fmt = (
            f' format="{_escape_attribute(entity.date_time_format)}"'
            if entity.date_time_format
            else ""
        )
        return f'<tg-time unix="{entity.unix_time}"{fmt}>', "</tg-time>"
    return None  # url, mention, bot_command, hashtag, ...: plain text in HTML


def entities_to_html(text: str, entities: Iterable[Entity | Mapping[str, Any]]) -> str:
    """Render text + entities back to Telegram HTML (assumes properly nested entities)."""
    items = [e if isinstance(e, Entity) else Entity.from_api(e) for e in entities]
    tagged = [(e, tags) for e in items if (tags := _open_close(e)) is not None]
    tagged.sort(key=lambda item: (item[0].offset, -item[0].length))
    units = text.encode("utf-16-le", "surrogatepass")
    total = len(units) // 2
    out: list[str] = []
    stack: list[tuple[int, str]] = []  # (end offset, closing tag)
    index = 0
    position = 0

    def flush_text(upto: int) -> None:
        nonlocal position
        if upto > position:
            chunk = units[position * 2 : upto * 2].decode("utf-16-le", "surrogatepass")
            out.append(escape(chunk))
            position = upto

    boundaries = sorted(
        {0, total} | {e.offset for e, _ in tagged} | {e.offset + e.length for e, _ in tagged}
    )
    for boundary in boundaries:
        flush_text(min(boundary, total))
        while stack and stack[-1][0] <= boundary:
            out.append(stack.pop()[1])
        while index < len(tagged) and tagged[index][0].offset == boundary:
            entity, (opening, closing) = tagged[index]
            out.append(opening)
            stack.append((entity.offset + entity.length, closing))
            index += 1
    while stack:
        out.append(stack.pop()[1])
    return "".join(out)


def entities_from_api(data: Sequence[Mapping[str, Any]] | None) -> tuple[Entity, ...]:
    """Entities given as Bot API dicts (e.g. a sendMessage ``entities`` parameter)."""
    return tuple(Entity.from_api(item) for item in data or ())
