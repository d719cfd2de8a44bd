"""The README's screenshots of the module's widget: the script that makes them works (real
dmfrec app and Redis, headless Chromium), and the committed pictures are small and referenced."""

from __future__ import annotations

from pathlib import Path

from benchmarks import magento_screenshots as shots
from tests.conftest import TEST_REDIS_URL

README = shots.REPO / "magento-module/README.md"
LIMIT = 200_000  # bytes per picture: the README stays light


def test_the_script_shows_the_guest_popular_and_the_customer_their_list(r, tmp_path: Path):
    made = {s.who: s for s in shots.run(tmp_path, TEST_REDIS_URL)}
    assert made["guest"].state == "popular"
    assert made["guest"].cards == shots.POPULAR[:shots.LIMIT]
    assert made["customer"].state == "personal"
    assert made["customer"].cards == shots.PERSONAL[:shots.LIMIT]
    for shot in made.values():
        assert shot.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.bytes < LIMIT
        width, height = shot.size
        assert width == shots.WIDTH and 600 < height < 2000  # the whole page, widget included
    assert r.dbsize() == 0  # what it published is gone again


def test_the_committed_screenshots_are_small_and_in_the_readme():
    readme = README.read_text()
    assert "Screenshots: not included yet" not in readme
    for who in ("guest", "customer"):
        path = shots.DEFAULT_OUT / f"widget-product-{who}.png"
        data = path.read_bytes()
        assert len(data) < LIMIT
        assert shots.png_size(data)[0] == shots.WIDTH
        assert f"docs/{path.name}" in readme
