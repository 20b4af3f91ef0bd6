"""The strict Telegram HTML parser of the Bot API emulator."""

from __future__ import annotations

import pytest

from bot.telegram_html import (
    Entity,
    HTMLParseError,
    entities_to_html,
    escape,
    parse_html,
    utf16_len,
)


def spans(source: str) -> list[tuple[str, int, int]]:
    return [(e.type, e.offset, e.length) for e in parse_html(source).entities]


def test_plain_text_and_entities_decode() -> None:
    parsed = parse_html("a &lt;b&gt; &amp; &quot;c&quot; &#20320;&#x597D; &#128512;")
    assert parsed.text == 'a <b> & "c" 你好 😀'
    assert parsed.entities == ()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("<b>x</b><strong>y</strong>", [("bold", 0, 1), ("bold", 1, 1)]),
        ("<i>x</i><em>y</em>", [("italic", 0, 1), ("italic", 1, 1)]),
        ("<u>x</u><ins>y</ins>", [("underline", 0, 1), ("underline", 1, 1)]),
        (
            "<s>x</s><strike>y</strike><del>z</del>",
            [("strikethrough", 0, 1), ("strikethrough", 1, 1), ("strikethrough", 2, 1)],
        ),
        (
            '<span class="tg-spoiler">x</span><tg-spoiler>y</tg-spoiler>',
            [("spoiler", 0, 1), ("spoiler", 1, 1)],
        ),
        ("<code>x</code>", [("code", 0, 1)]),
        ("<blockquote>q</blockquote>", [("blockquote", 0, 1)]),
        ("<blockquote expandable>q</blockquote>", [("expandable_blockquote", 0, 1)]),
        ("<B>x</B>", [("bold", 0, 1)]),
    ],
)
def test_supported_tags(source: str, expected: list[tuple[str, int, int]]) -> None:
    assert spans(source) == expected


def test_nested_entities_are_ordered_outer_first_with_utf16_offsets() -> None:
    parsed = parse_html("😀 <b>粗体 <i>斜体😀</i></b>!")
    assert parsed.text == "😀 粗体 斜体😀!"
    # the emoji before the bold text counts as two UTF-16 code units
    assert [(e.type, e.offset, e.length) for e in parsed.entities] == [
        ("bold", 3, 7),
        ("italic", 6, 4),
    ]
    assert parsed.utf16_length == utf16_len(parsed.text) == 11


def test_links_pre_and_custom_emoji() -> None:
    parsed = parse_html(
        '<a href="https://example.com/?a=1&amp;b=2">链接</a>'
        '<pre><code class="language-python">print(1)</code></pre>'
        "<pre>raw</pre>"
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>'
    )
    assert parsed.text == "链接print(1)raw👍"
    assert parsed.entities_api() == [
        {"offset": 0, "length": 2, "type": "text_link", "url": "https://example.com/?a=1&b=2"},
        {"offset": 2, "length": 8, "type": "pre", "language": "python"},
        {"offset": 10, "length": 3, "type": "pre"},
        {
            "offset": 13,
            "length": 2,
            "type": "custom_emoji",
            "custom_emoji_id": "5368324170671202286",
        },
    ]


def test_empty_entities_are_dropped_and_unknown_attributes_ignored() -> None:
    assert parse_html("<b></b>x").entities == ()
    assert spans('<b class="whatever">x</b>') == [("bold", 0, 1)]


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<p>x</p>", 'Unsupported start tag "p" at byte offset 0'),
        ("<br/>", 'Unsupported start tag "br/"'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("a <b", "Unclosed start tag at byte offset 2"),
        ("<b>x</b", "Unclosed end tag"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
        ('<a href="x>y</a>', "Unclosed start tag"),
        ("<tg-emoji>x</tg-emoji>", "Invalid custom emoji identifier"),
        ("Q&A", "Character '&' in text at byte offset 1"),
        ("&nbsp;", 'Unsupported HTML entity "&nbsp;"'),
        ("&#0;", 'Unsupported HTML entity "&#0;"'),
        ("&#xD800;", "Unsupported HTML entity"),
        ('<a href="?a=1&b=2">x</a>', "Character '&' in attribute value"),
        ("<blockquote foo>x</blockquote>", "Expected equal sign"),
    ],
)
def test_malformed_html_is_rejected(source: str, reason: str) -> None:
    with pytest.raises(HTMLParseError) as caught:
        parse_html(source)
    assert reason in caught.value.reason
    assert caught.value.description.startswith("Bad Request: can't parse entities: ")


def test_byte_offsets_in_errors_count_utf8_bytes() -> None:
    with pytest.raises(HTMLParseError, match="at byte offset 6"):
        parse_html("你好<x>")


def test_lenient_ampersand_mode_matches_telegram() -> None:
    assert parse_html("Q&A &nbsp;", strict_ampersand=False).text == "Q&A &nbsp;"


def test_escape_makes_any_text_safe() -> None:
    nasty = '<script>alert("x")</script> & &amp; 😀'
    assert parse_html(escape(nasty)).text == nasty


@pytest.mark.parametrize(
    "source",
    [
        "<b>粗 <i>斜</i></b> &lt;tag&gt; &amp;",
        '<a href="https://example.com/a?b=1&amp;c=&quot;2&quot;">x</a>',
        '<pre><code class="language-py">a &lt; b</code></pre><blockquote expandable>q</blockquote>',
        '😀<tg-spoiler>s</tg-spoiler><tg-emoji emoji-id="1">👍</tg-emoji><u><s>us</s></u>',
    ],
)
def test_entities_to_html_round_trips(source: str) -> None:
    parsed = parse_html(source)
    rendered = entities_to_html(parsed.text, parsed.entities)
    assert parse_html(rendered) == parsed


def test_entities_to_html_accepts_api_dicts_and_skips_plain_kinds() -> None:
    entities = [
        {"type": "bot_command", "offset": 0, "length": 6},
        {"type": "bold", "offset": 7, "length": 3},
    ]
    assert entities_to_html("/start <x>", entities) == "/start <b>&lt;x&gt;</b>"
    assert Entity.from_api(entities[1]) == Entity("bold", 7, 3)
