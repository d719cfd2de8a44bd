"""`dmfrec train --db-url`: training input read from the shop database's interactions."""

import json

from cli.main import main
from storage import schema
from storage.db import make_engine
from storage.ingestion import ingest


def _event(n: int, customer: int, skus: list[str]) -> dict:
    return {
        "event_id": f"e{n}",
        "order": {
            "entity_id": n, "increment_id": f"{n:09d}", "customer_id": customer,
            "state": "processing", "created_at": "2024-01-01 10:00:00",
            "updated_at": "2024-01-01 10:00:00", "currency": "EUR",
            "items": [
                {"item_id": n * 10 + k, "sku": sku, "product_type": "simple", "qty_ordered": 1,
                 "price": 5, "row_total": 5}
                for k, sku in enumerate(skus)
            ],
        },
    }


def test_train_from_the_database_window(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    schema.upgrade(url)
    events = [
        _event(n, customer=n % 7 + 1, skus=[f"SKU-{(n * 3 + k) % 11}" for k in range(3)])
        for n in range(1, 40)
    ]
    ingest(make_engine(url), events)
    out = tmp_path / "model"
    argv = ["train", "--db-url", url, "--window-days", "30", "--out", str(out),
            "--epochs", "1", "--device", "cpu"]
    # The window ends now by default: orders from 2024 are outside it.
    assert main(argv) == 2
    assert "no interactions" in capsys.readouterr().err
    assert main([*argv, "--until", "latest"]) == 0
    assert "trained DMF on 7 customers x 11 SKUs" in capsys.readouterr().out
    meta = json.loads((out / "meta.json").read_text())
    assert sorted(meta["customer_ids"]) == [str(c) for c in range(1, 8)]


def test_a_database_password_is_never_printed(capsys):
    """--db-url's password is masked in every message (the server here refuses at once)."""
    from cli.data_args import masked

    url = "mysql+pymysql://shop:s3cr3t-P4ss@127.0.0.1:1/magento"
    assert main(["train", "--db-url", url, "--out", "unused", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "cannot read interactions from mysql+pymysql://shop:***@127.0.0.1:1/magento" in err
    assert "s3cr3t-P4ss" not in err
    assert main(["import", "magento", "--db-url", "mysql+pymysql://shop:s3cr3t-P4ss@[bad",
                 "--target-url", "sqlite://"]) == 2
    assert "s3cr3t-P4ss" not in capsys.readouterr().err
    assert masked("not a url://u:pw@host") == "not a url://u:***@host"
    assert masked("mysql://u:p%40ss@h/db") == "mysql://u:***@h/db"
