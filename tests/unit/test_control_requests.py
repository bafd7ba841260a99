"""Control requests (control/requests.py): written whole, taken once, and a request written while the
previous one is being handled is kept for the next signal."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakefront.control import requests


def test_a_submitted_request_is_claimed_once(tmp_path: Path) -> None:
    requests.submit(tmp_path, requests.SCALE, {"id": "a", "tier": "web", "desired": 2})
    assert requests.claim(tmp_path, requests.SCALE) == {"id": "a", "tier": "web", "desired": 2}
    assert requests.claim(tmp_path, requests.SCALE) is None
    assert list(tmp_path.iterdir()) == []  # no temporary or claimed file left


def test_a_request_written_while_the_last_one_is_handled_is_not_lost(tmp_path: Path) -> None:
    requests.submit(tmp_path, requests.CACHE, {"id": "first"})
    # `up` has claimed the first (renamed it away) and is handling it when the second command writes.
    claimed = tmp_path / ".claimed-by-test"
    (tmp_path / requests.CACHE).rename(claimed)
    requests.submit(tmp_path, requests.CACHE, {"id": "second"})
    claimed.unlink()  # the first is done
    assert requests.claim(tmp_path, requests.CACHE) == {"id": "second"}


def test_kinds_do_not_share_a_file(tmp_path: Path) -> None:
    for kind in requests.KINDS:
        requests.submit(tmp_path, kind, {"id": kind})
    assert [requests.claim(tmp_path, kind) for kind in requests.KINDS] == [{"id": k} for k in requests.KINDS]


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
def test_an_unreadable_request_is_refused_and_removed(tmp_path: Path, text: str) -> None:
    (tmp_path / requests.DEPLOY).write_text(text)
    with pytest.raises(requests.UnreadableRequest, match=r"deploy-request\.json"):
        requests.claim(tmp_path, requests.DEPLOY)
    assert list(tmp_path.iterdir()) == []
