"""The one log format: every event on one line, whatever its values hold; tracebacks marked as such."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from lakefront import logs


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.OneLineFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("lakefront.test-logs")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        yield logger, out
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize(("raw", "shown"), [
    ("/x\nFORGED line", "/x\\nFORGED line"),
    ("a\r\nb", "a\\r\\nb"),
    ("nul\x00", "nul\\x00"),
    ("esc\x1b[31m", "esc\\x1b[31m"),
    ("del\x7f", "del\\x7f"),
    ("nel\x85", "nel\\x85"),
    ("ls\u2028ps\u2029", "ls\\u2028ps\\u2029"),
    ("tab\there", "tab\\there"),
    ("caf\u00e9 \u00fcber", "caf\u00e9 \u00fcber"),  # printable text outside ASCII stays as it is
])
def test_control_characters_in_a_value_become_visible_escapes(
    captured: tuple[logging.Logger, io.StringIO], raw: str, shown: str
) -> None:
    logger, out = captured
    logger.info("request GET %s 404", raw)
    assert out.getvalue() == f"INFO request GET {shown} 404\n"


def test_a_traceback_follows_its_event_with_every_line_prefixed(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = captured
    try:
        raise ValueError("bad value\n2026-01-01T00:00:00.000Z web-1 INFO forged")
    except ValueError:
        logger.exception("unhandled error rid=%s", "r1")
    first, *rest = out.getvalue().rstrip("\n").split("\n")
    assert first == "ERROR unhandled error rid=r1"
    assert rest and all(line.startswith(logs.TRACEBACK_PREFIX) for line in rest)
    assert rest[0] == f"{logs.TRACEBACK_PREFIX}Traceback (most recent call last):"
    # The exception's forged line is still there to read, but inside the traceback.
    assert f"{logs.TRACEBACK_PREFIX}2026-01-01T00:00:00.000Z web-1 INFO forged" in rest


def test_configure_names_the_process_and_escapes(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logs.configure("web-9")
        logging.getLogger("lakefront.web").info("request GET %s", "/a\nb")
        err = capsys.readouterr().err
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
    assert err.count("\n") == 1
    assert err.endswith(" web-9 INFO request GET /a\\nb\n")
