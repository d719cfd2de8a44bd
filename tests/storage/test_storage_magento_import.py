"""`dmfrec import magento` on a Magento-shaped MariaDB database filled from Online Retail: the
result equals the direct aggregation of the CSV; training input reads it back."""

from __future__ import annotations

import argparse
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy import func, select
from storage_dbs import url_of
from storage_oracle import normalise, stored_pairs

from benchmarks.magento_fixture import build_magento_db, csv_files, read_csv
from cli import import_cmd
from cli.errors import CliError
from storage import schema
from storage.db import make_engine
from storage.ingestion import Policy, guest_key
from storage.magento_import import import_magento, parse_since
from storage.models import Order
from storage.training_data import load_interactions

ROWS = 25_000  # 2010-12-01 .. 2010-12-10: 958 invoices, 43 credit memos
POLICY = Policy()


@pytest.fixture(scope="module")
def csv_rows(shared_data):
    return list(read_csv(csv_files(shared_data / "online-retail"), max_rows=ROWS))


@pytest.fixture(scope="module")
def magento(mariadb, csv_rows):
    """The Magento database (Magento's table and column names) on the real MariaDB."""
    engine = make_engine(mariadb.new_database("magento_"))
    summary = build_magento_db(engine, csv_rows)
    assert summary.creditmemos > 0 and summary.orders > 900
    yield engine
    engine.dispose()


def direct_aggregation(rows, since: datetime | None = None, until: datetime | None = None):
    """Per customer x SKU straight from the CSV: purchases, less cancellations taken from the
    customer's latest earlier purchases of that SKU (what a credit memo does)."""
    lots: dict[tuple[str, str], list[list]] = defaultdict(list)
    placed: dict[str, datetime] = {}  # an order has one time: its invoice's first row's
    for r in rows:
        if r.invoice.startswith("C"):
            if r.customer is None or r.qty >= 0:
                continue
            left = Decimal(-r.qty)
            for lot in reversed(lots.get((str(r.customer), r.sku), [])):
                take = min(left, lot[0])
                lot[0] -= take
                left -= take
        elif r.qty > 0 and r.price >= 0:
            key = str(r.customer) if r.customer is not None else guest_key(
                f"guest-{r.invoice}@example.invalid", POLICY.guest_salt)
            at = placed.setdefault(r.invoice, r.at)
            lots[(key, r.sku)].append([Decimal(r.qty), r.price, at, r.invoice])
    out = {}
    for pair, ls in lots.items():
        live = [lot for lot in ls if lot[0] > 0 and (since is None or lot[2] >= since)
                and (until is None or lot[2] < until)]
        if live:
            out[pair] = (sum(lot[0] for lot in live), sum(lot[0] * lot[1] for lot in live),
                         len({lot[3] for lot in live}), min(lot[2] for lot in live),
                         max(lot[2] for lot in live))
    return out


def test_import_equals_csv_aggregation(engine, magento, csv_rows):
    stats = import_magento(magento, engine, chunk_size=300, policy=POLICY, progress=False)
    assert stats.rejected == [] and stats.stale == 0
    assert stats.lines == sum(1 for r in csv_rows if not r.invoice.startswith("C")
                              and r.qty > 0 and r.price >= 0)
    want = direct_aggregation(csv_rows)
    assert len(want) > 10_000
    assert normalise(stored_pairs(engine)) == normalise(want)

    # Training input: a one-day window ending at a fixed time, and everything.
    until = datetime(2010, 12, 3)
    window = load_interactions(engine, window_days=1, value="quantity", until=until)
    want_window = direct_aggregation(csv_rows, until - timedelta(days=1), until)
    assert window.nnz == len(want_window)
    for (key, sku), (qty, *_r) in want_window.items():
        assert window.matrix[window.user_index(key), window.item_index(sku)] == float(qty)
    everything = load_interactions(engine, window_days=0, value="binary")
    assert everything.nnz == len(want)
    assert set(everything.user_ids.tolist()) == {k for k, _ in want}
    latest = load_interactions(engine, window_days=1, until="latest", value="log1p")
    assert 0 < latest.nnz < everything.nnz and np.all(latest.matrix.data > 0)


def test_refunds_from_credit_memos_only_and_reimport(mariadb, csv_rows, sqlite_dir):
    """Items whose qty_refunded was left at 0: the credit memos still count; importing again
    changes nothing."""
    magento = make_engine(mariadb.new_database("magento_norefund_"))
    build_magento_db(magento, csv_rows[:8000], item_qty_refunded=False)
    target = make_engine(f"sqlite:///{sqlite_dir / 'reimport.db'}")
    schema.upgrade(target)
    want = normalise(direct_aggregation(csv_rows[:8000]))
    for _ in range(2):
        import_magento(magento, target, policy=POLICY, progress=False)
        assert normalise(stored_pairs(target)) == want
    magento.dispose()
    target.dispose()


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="dmfrec")
    import_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_cli_since_migrate_and_errors(magento, sqlite_dir, capsys):
    target = f"sqlite:///{sqlite_dir / 'cli.db'}"
    with pytest.raises(CliError, match="no dmfrec tables"):
        _cli("import", "magento", "--db-url", url_of(magento), "--target-url", target)
    assert _cli("import", "magento", "--db-url", url_of(magento), "--target-url", target,
                "--since", "2010-12-10", "--migrate", "--no-progress") == 0
    assert "0 rejected" in capsys.readouterr().out
    engine = make_engine(target)
    with engine.connect() as conn:
        first = conn.execute(select(func.min(Order.__table__.c.created_at))).scalar()
    engine.dispose()
    assert first >= datetime(2010, 12, 10)
    with pytest.raises(CliError, match="--since"):
        _cli("import", "magento", "--db-url", url_of(magento), "--since", "soon")
    with pytest.raises(CliError, match="database error"):
        _cli("import", "magento", "--db-url", "mysql+pymysql://root@127.0.0.1:1/x",
             "--target-url", target, "--no-progress")


def test_parse_since():
    now = datetime(2024, 5, 31, 12)
    assert parse_since("3months", now) == datetime(2024, 2, 29, 12)
    assert parse_since("92days", now) == now - timedelta(days=92)
    assert parse_since("2w", now) == now - timedelta(weeks=2)
    assert parse_since("1year", now) == datetime(2023, 5, 31, 12)
    assert parse_since("2011-09-01", now) == datetime(2011, 9, 1)
    with pytest.raises(ValueError, match=r"expected e\.g\. 3months"):
        parse_since("three months", now)
