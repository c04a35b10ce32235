"""Article bodies: Markdown rendered on the server and sanitized with nh3, and their plain text."""

from __future__ import annotations

import html
import re
import threading

import markdown
import nh3

# What an article may contain once rendered: text structure, tables, links.
ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "u", "s", "del", "ins", "mark",
        "sub", "sup", "blockquote", "code", "pre", "ul", "ol", "li", "dl", "dt", "dd", "table", "thead", "tbody",
        "tr", "th", "td", "a", "abbr",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "th": {"align"}, "td": {"align"}, "ol": {"start"}}
# No javascript:, data: or protocol-relative links; relative links stay.
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})

_SPACE = re.compile(r"\s+")


_local = threading.local()


def _converter() -> markdown.Markdown:
    # Building a Markdown instance loads its extensions: one per thread, reset between texts.
    converter = getattr(_local, "converter", None)
    if converter is None:
        converter = _local.converter = markdown.Markdown(extensions=["extra", "sane_lists"], output_format="html")
    return converter


def render(source: str) -> str:
    """Markdown → sanitized HTML, safe to show as-is."""
    raw = _converter().reset().convert(source or "")
    return nh3.clean(
        raw,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
    )


def plain_text(source: str) -> str:
    """The words of a Markdown body without any markup (what search indexes)."""
    return text_of_html(render(source))


def text_of_html(rendered: str) -> str:
    """The words of already rendered HTML (a version's ``body_html``), without tags."""
    text = nh3.clean(rendered.replace("</", " </"), tags=set())
    return _SPACE.sub(" ", html.unescape(text)).strip()
