"""One logging format for every Lakefront process: one line per event, naming the process.

    2026-11-27T12:00:00.123Z web-1 INFO request rid=4f2c... GET /p/12 200 3.1ms
"""

from __future__ import annotations

import logging
import sys
import time

_FORMAT = "%(asctime)s.%(msecs)03dZ %(process_name)s %(levelname)s %(message)s"


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
    formatter = logging.Formatter(_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_ProcessName(process_name))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Each tier logs its own request line; uvicorn's access log would be a second one.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
