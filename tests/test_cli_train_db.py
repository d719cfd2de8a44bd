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
