"""What the web tier lets out of a URL path: ids within 64 bits, segments that stay one segment."""

from __future__ import annotations

import random
import re

import pytest

from lakefront.web import paths


@pytest.mark.parametrize("bound", [1, 9, 10, 99, 100, 1009, 2**31 - 1, paths.MAX_ID])
def test_the_id_pattern_matches_exactly_one_to_the_bound(bound: int) -> None:
    pattern = re.compile(paths.decimal_at_most(bound) + r"\Z")
    rng = random.Random(bound)
    candidates = [*range(0, 1100), bound - 1, bound, bound + 1, *(rng.randrange(10 * bound) for _ in range(3000))]
    for value in candidates:
        assert bool(pattern.match(str(value))) == (1 <= value <= bound), value
    assert not pattern.match("01")  # one id, one URL


@pytest.mark.parametrize(("value", "safe"), [
    ("kitchen", True), ("garden-tools", True), ("caf\u00e9", True), ("a?b", True), ("a#b", True),
    ("", False), (".", False), ("..", False), ("a/b", False), ("a\x00b", False), ("a\nb", False),
    ("a\x85b", False), ("x" * 201, False),
])
def test_which_path_segments_the_web_tier_forwards(value: str, safe: bool) -> None:
    assert paths.safe_segment(value) is safe


def test_forwarded_segments_are_percent_encoded_so_they_stay_one_segment() -> None:
    assert paths.name_part("a?b#c d%2F") == "a%3Fb%23c%20d%252F"
    assert paths.key_part("products/ab/c d.jpg") == "products/ab/c%20d.jpg"
