"""What no log line may carry: a citizen's phone in a query string, a chat token in a path.

Two uses, one rule:

- ``loggable_path`` for daphne's access log (``hotline.serve``): the path without
  its query string (tracking and the search by caller carry a phone there) and
  without the chat token (``/ws/chat/<token>/`` is a bearer credential);
- ``RedactFilter`` on the project's log handler (``settings.LOGGING``): Django
  logs the path of every 4xx/5xx (``django.request``: "Not Found: /ws/chat/…/"),
  and any message may quote a URL; chat tokens and ``phone=`` values are replaced
  in the message and its arguments.
"""

from __future__ import annotations

import logging
import re

_CHAT_TOKEN = re.compile(r"(/ws/chat/)[^/?#\s\"']+")
_PHONE_PARAMETER = re.compile(r"([?&](?:phone|citizen_phone|From|To)=)[^&#\s\"']*")
HIDDEN = "…"


def loggable_path(uri: str) -> str:
    """``uri`` as an access log may show it: no query string, no chat token."""
    return _CHAT_TOKEN.sub(r"\1" + HIDDEN, uri.split("?", 1)[0])


def redact(text: str) -> str:
    """Chat tokens and phone parameters in ``text`` replaced by ``…``."""
    if "/ws/chat/" in text:
        text = _CHAT_TOKEN.sub(r"\1" + HIDDEN, text)
    if "=" in text:
        text = _PHONE_PARAMETER.sub(r"\1" + HIDDEN, text)
    return text


class RedactFilter(logging.Filter):
    """A handler filter: every record's message and string arguments go through ``redact``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: redact(value) if isinstance(value, str) else value for key, value in record.args.items()}
        return True
