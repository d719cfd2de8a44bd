"""The `dmfrec` command: train, recommend, evaluate, and their errors, run in-process."""

import csv
import json

import pytest

from cli.main import main
from model.datasets import synthetic_shop


@pytest.fixture
def orders_csv(tmp_path):
    shop = synthetic_shop(n_customers=120, n_skus=60, seed=2)
    path = tmp_path / "orders.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["customer_id", "sku", "qty", "amount", "ordered_at"])
        for row in zip(shop.customer_id, shop.sku, shop.qty, shop.amount, shop.ordered_at,
                       strict=True):
            w.writerow(row)
    return path


def test_train_then_recommend(orders_csv, tmp_path, capsys):
    out = tmp_path / "model"
    rc = main(["train", "--data", str(orders_csv), "--format", "csv", "--out", str(out),
               "--epochs", "2", "--device", "cpu"])
    assert rc == 0
    assert "trained DMF on 120 customers x 60 SKUs" in capsys.readouterr().out
    assert main(["recommend", "--model", str(out), "--customer", "c00007", "-n", "4",
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 4 and all(r["sku"].startswith("SKU-") for r in rows)
    assert main(["recommend", "--model", str(out), "--similar-to", rows[0]["sku"]]) == 0
    assert "similar to" in capsys.readouterr().out
    assert main(["recommend", "--model", str(out), "--customer", "nobody"]) == 2
    assert "not in the model" in capsys.readouterr().err


def test_evaluate_prints_a_table_and_writes_json_rows(tmp_path, capsys):
    out = tmp_path / "rows.json"
    rc = main(["evaluate", "--format", "synthetic", "--protocol", "time",
               "--models", "pop,itemknn,ease", "--json", str(out), "--quiet"])
    assert rc == 0
    table = capsys.readouterr().out
    assert "ItemKNN" in table and "Recall@10" in table
    rows = json.loads(out.read_text())
    assert [r["model"] for r in rows] == ["ItemPop", "ItemKNN", "EASE"]
    for r in rows:
        assert {"model", "Recall@10", "NDCG@10", "HR@10", "fit_seconds"} <= set(r)
        assert 0.0 <= r["HR@10"] <= 1.0
    # A real model beats popularity on a shop with taste groups.
    assert rows[1]["NDCG@10"] > rows[0]["NDCG@10"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--data", "/nonexistent/x.csv", "--format", "csv"], "does not exist"),
        (["--format", "csv"], "--data is required"),
        (["--format", "synthetic", "--models", "pop,magic"], "unknown model"),
    ],
)
def test_evaluate_errors(argv, message, capsys):
    assert main(["evaluate", *argv, "--quiet"]) == 2
    assert message in capsys.readouterr().err


def test_missing_column_and_empty_data(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,sku,qty\n1,a,1\n")
    assert main(["train", "--data", str(bad), "--out", str(tmp_path / "m")]) == 2
    assert "missing column(s) amount, ordered_at" in capsys.readouterr().err
    empty = tmp_path / "empty.csv"
    empty.write_text("customer_id,sku,qty,amount,ordered_at\n")
    assert main(["train", "--data", str(empty), "--out", str(tmp_path / "m")]) == 2
    assert "no usable rows" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
