"""One logging format for every Lakefront process: one line per event, naming the process.

    2026-11-27T12:00:00.123Z web-1 INFO request rid=4f2c... GET /p/12 200 3.1ms

Values in a message often come from outside (a URL path, a header, an exception's text): control
characters in them are written as visible escapes (``\\n``, ``\\x00``, ``\\x85``), so a request for
``/x%0aFORGED`` cannot start a line of its own. A traceback's lines follow their event, each behind
``TRACEBACK_PREFIX``, which no event line starts with.
"""

from __future__ import annotations

import logging
import sys
import time

_FORMAT = "%(asctime)s.%(msecs)03dZ %(process_name)s %(levelname)s %(message)s"
TRACEBACK_PREFIX = "    | "

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0, DEL and C1, plus the characters str.splitlines() and some log viewers also break lines at.
_ESCAPES = {
    code: _NAMED.get(chr(code), f"\\x{code:02x}")
    for code in (*range(0x00, 0x20), *range(0x7F, 0xA0))
} | {0x2028: "\\u2028", 0x2029: "\\u2029"}


def escape(text: str) -> str:
    """`text` with every control or line-breaking character replaced by a visible escape."""
    return text.translate(_ESCAPES)


class OneLineFormatter(logging.Formatter):
    """The event on one line, escaped; an exception's traceback after it, every line prefixed."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = escape(self.formatMessage(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        for block in (record.exc_text, self.formatStack(record.stack_info) if record.stack_info else ""):
            if block:
                # Only "\n" separates a traceback's own lines; anything else in them is escaped,
                # so an exception message with a forged line in it stays inside the traceback.
                line += "".join(f"\n{TRACEBACK_PREFIX}{escape(part)}" for part in block.split("\n"))
        return line


class _ProcessName(logging.Filter):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.process_name = name

    def filter(self, record: logging.LogRecord) -> bool:
        record.process_name = self.process_name
        return True


def configure(process_name: str, level: str = "info") -> None:
    """Send every log record to stderr as one line; the supervisor captures it into var/log/."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = OneLineFormatter(_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_ProcessName(process_name))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Each tier logs its own request line; uvicorn's access log would be a second one.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
