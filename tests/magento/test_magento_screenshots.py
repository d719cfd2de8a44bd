"""The README's screenshots of the module's widget on a product page and the home page: the
script that makes them works (real dmfrec app and Redis, headless Chromium), and the committed
pictures are small and referenced."""

from __future__ import annotations

from pathlib import Path

from benchmarks import magento_screenshots as shots
from tests.conftest import TEST_REDIS_URL

README = shots.REPO / "magento-module/README.md"
LIMIT = 200_000  # bytes per picture: the README stays light


def test_the_script_shows_the_guest_popular_and_the_customer_their_list(r, tmp_path: Path):
    made = {(s.page, s.who): s for s in shots.run(tmp_path, TEST_REDIS_URL)}
    assert sorted(made) == sorted((p, w) for p in shots.PAGES for w in ("guest", "customer"))
    for page in shots.PAGES:  # below a product and as a CMS widget on the home page
        assert made[page, "guest"].state == "popular"
        assert made[page, "guest"].cards == shots.POPULAR[:shots.LIMIT]
        assert made[page, "customer"].state == "personal"
        assert made[page, "customer"].cards == shots.PERSONAL[:shots.LIMIT]
    for shot in made.values():
        assert shot.path.name == f"widget-{shot.page}-{shot.who}.png"
        assert shot.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.bytes < LIMIT
        width, height = shot.size
        assert width == shots.WIDTH and 600 < height < 2000  # the whole page, widget included
    assert r.dbsize() == 0  # what it published is gone again


def test_the_home_page_widget_is_the_cms_widget_with_its_own_title():
    html = shots.home_page(shots.cached_block("https://reco.example", shots.LIMIT, "",
                                              title=shots.HOME_TITLE), "guest.json", None)
    assert f"<h2>{shots.HOME_TITLE}</h2>" in html and "Recommended for you" not in html
    assert '"limit":6' in html and 'class="dmfrec-placeholder"' in html


def test_the_committed_screenshots_are_small_and_in_the_readme():
    readme = README.read_text()
    assert "Screenshots: not included yet" not in readme
    for page in shots.PAGES:
        for who in ("guest", "customer"):
            path = shots.DEFAULT_OUT / f"widget-{page}-{who}.png"
            data = path.read_bytes()
            assert len(data) < LIMIT
            assert shots.png_size(data)[0] == shots.WIDTH
            assert f"docs/{path.name}" in readme
