"""Product states as stored (storage.catalog) on MariaDB and SQLite: a field left out keeps what
was known, website ids included; a deleted SKU is on no website."""

from __future__ import annotations

from sqlalchemy import Engine, text
from storage_dbs import fresh_url

from storage import schema
from storage.catalog import apply_catalog, parse_catalog
from storage.db import make_engine


def _apply(engine: Engine, at: str, *products: dict) -> dict[str, tuple[int, ...] | None]:
    event = parse_catalog({"event_id": f"products-{at}", "occurred_at": at,
                           "products": list(products)})
    return {s.sku: s.website_ids for s in apply_catalog(engine, event)}


def _unknown_websites(engine: Engine) -> set[str]:
    """SKUs whose website ids are SQL NULL (never JSON null: that would be a value)."""
    with engine.connect() as conn:
        return set(conn.scalars(text("SELECT sku FROM products WHERE website_ids IS NULL")))


def test_a_state_without_website_ids_keeps_the_known_ones(engine):
    _apply(engine, "2026-12-01T10:00:00Z", {"sku": "A", "enabled": True, "website_ids": [2, 1]},
           {"sku": "B", "enabled": True})
    assert _unknown_websites(engine) == {"B"}  # never sent: unknown, stored as SQL NULL
    stored = _apply(engine, "2026-12-01T10:00:01Z", {"sku": "A", "in_stock": False},
                    {"sku": "B", "visible": True})
    assert stored == {"A": (1, 2), "B": None}
    assert _apply(engine, "2026-12-01T10:00:02Z", {"sku": "A", "website_ids": []}) == {"A": ()}
    # A deleted SKU is on no website: what was known of its websites goes with it.
    _apply(engine, "2026-12-01T10:00:03Z", {"sku": "B", "website_ids": [3]})
    assert _apply(engine, "2026-12-01T10:00:04Z", {"sku": "B", "deleted": True}) == {"B": ()}
    assert _apply(engine, "2026-12-01T10:00:05Z", {"sku": "B", "enabled": True}) == {"B": ()}
    assert _unknown_websites(engine) == set()


def test_migration_0008_makes_stored_json_nulls_unknown(backend, mariadb, sqlite_dir):
    """Rows stored before the fix hold JSON null for left-out website ids: 0008 makes them SQL
    NULL, so a later state's website ids replace them and `IS NULL` finds them."""
    url = fresh_url(backend, mariadb, sqlite_dir, "json_null_")
    schema.upgrade(url, "0007")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO products (sku, website_ids, info_at, updated_at) VALUES "
                "('A', 'null', '2026-12-01 00:00:00', '2026-12-01 00:00:00'), "
                "('B', '[1]', '2026-12-01 00:00:00', '2026-12-01 00:00:00')"))
        assert _unknown_websites(engine) == set()
        schema.upgrade(url)
        assert _unknown_websites(engine) == {"A"}
        assert _apply(engine, "2026-12-01T10:00:00Z", {"sku": "A", "enabled": True},
                      {"sku": "B", "enabled": True}) == {"A": None, "B": (1,)}
    finally:
        engine.dispose()
