"""`dmfrec evaluate` through its own parser: tables, JSON rows, and clear errors."""

import argparse
import csv
import json

import numpy as np
import pytest

from cli import evaluate
from cli.errors import CliError
from model.datasets import synthetic_shop


def _run(argv):
    parser = argparse.ArgumentParser(prog="dmfrec")
    evaluate.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["evaluate", *argv, "--quiet"])
    return args.func(args)


@pytest.fixture
def orders_csv(tmp_path):
    shop = synthetic_shop(n_customers=150, n_skus=160, seed=2)
    path = tmp_path / "orders.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["customer_id", "sku", "qty", "amount", "ordered_at"])
        w.writerows(zip(shop.customer_id, shop.sku, shop.qty, shop.amount, shop.ordered_at,
                        strict=True))
    return path


def test_loo_table_and_json(orders_csv, tmp_path, capsys):
    out = tmp_path / "out" / "rows.json"
    assert _run(["--data", str(orders_csv), "--format", "csv", "--protocol", "loo",
                 "--models", "pop,ItemKNN", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "ItemPop" in table and "HR@10" in table and "fit_seconds" in table
    rows = json.loads(out.read_text())
    assert [r["model"] for r in rows] == ["ItemPop", "ItemKNN"]
    base = {"model", "HR@10", "NDCG@10", "fit_seconds", "unseen_held_out", "unseen_negatives"}
    assert base <= set(rows[0]) and "params" not in rows[0]  # ItemPop: nothing to tune
    assert base | {"params", "val_NDCG@10"} <= set(rows[1])  # tuned on validation


def test_ncf_data_by_its_common_prefix(tmp_path, capsys):
    """`--data DIR/NAME` for DIR/NAME.train.rating, .test.rating and .test.negative."""
    rng = np.random.default_rng(0)
    n_users, n_items = 60, 150
    train = [(u, int(i), 1, 0) for u in range(n_users)
             for i in rng.choice(n_items, size=8, replace=False)]
    (tmp_path / "Toy.train.rating").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n"
                                                       for u, i, r, t in train))
    bought = {u: {i for v, i, _, _ in train if v == u} for u in range(n_users)}
    tests = [(u, next(i for i in range(n_items) if i not in bought[u])) for u in range(n_users)]
    (tmp_path / "Toy.test.rating").write_text("".join(f"{u}\t{i}\t1\t0\n" for u, i in tests))
    neg = [[j for j in range(n_items) if j not in bought[u] and j != i][:99] for u, i in tests]
    (tmp_path / "Toy.test.negative").write_text("".join(
        f"({u},{i})\t" + "\t".join(map(str, n)) + "\n" for (u, i), n in zip(tests, neg,
                                                                             strict=True)))
    assert _run(["--data", str(tmp_path / "Toy"), "--format", "ncf", "--protocol", "loo",
                 "--models", "pop"]) == 0
    assert "ItemPop" in capsys.readouterr().out


def test_time_protocol_with_cutoff_and_two_ks(orders_csv, tmp_path, capsys):
    out = tmp_path / "rows.json"
    assert _run(["--data", str(orders_csv), "--format", "csv", "--protocol", "time",
                 "--test-days", "40", "-k", "10,20", "--models", "pop",
                 "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    assert {"Recall@10", "NDCG@20", "HR@20"} <= set(row)
    assert _run(["--format", "synthetic", "--protocol", "time", "--cutoff", "2023-12-01",
                 "--models", "pop"]) == 0
    assert "Recall@10" in capsys.readouterr().out


def test_ncf_folder(tmp_path, capsys):
    (tmp_path / "Toy.train.rating").write_text(
        "".join(f"{u}\t{i}\t4\n" for u in range(3) for i in range(u, u + 3)))
    (tmp_path / "Toy.test.rating").write_text("0\t5\t5\n1\t6\t5\n2\t7\t5\n")
    (tmp_path / "Toy.test.negative").write_text(
        "(0,5)\t6\t7\n(1,6)\t5\t7\n(2,7)\t5\t6\n")
    assert _run(["--data", str(tmp_path), "--format", "ncf", "--protocol", "full",
                 "--models", "pop,ease"]) == 0
    assert "EASE" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--data", "/nonexistent/x.csv", "--format", "csv"], "does not exist"),
        (["--format", "csv"], "--data is required"),
        (["--format", "synthetic", "--models", "pop,magic"], "unknown model(s) magic"),
        (["--format", "synthetic", "--models", ","], "--models is empty"),
        (["--format", "synthetic", "-k", "ten"], "-k must be positive"),
        (["--format", "synthetic", "--cutoff", "soon", "--protocol", "time"], "--cutoff must"),
        (["--format", "synthetic", "--test-days", "3"], "apply to --protocol time only"),
    ],
)
def test_errors(argv, message):
    with pytest.raises(CliError) as err:
        _run(argv)
    assert message in str(err.value)


def test_missing_column_and_empty_data(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,sku,qty,ordered_at\n1,a,1,2024-01-01\n")
    with pytest.raises(CliError, match=r"missing column.*amount"):
        _run(["--data", str(bad), "--format", "csv"])
    empty = tmp_path / "empty.csv"
    empty.write_text("customer_id,sku,qty,amount,ordered_at\n")
    with pytest.raises(CliError, match="no usable rows"):
        _run(["--data", str(empty), "--format", "csv"])
    retail = tmp_path / "retail.csv"
    retail.write_text("InvoiceNo,StockCode,Quantity\n")
    with pytest.raises(CliError, match="CustomerID"):
        _run(["--data", str(retail), "--format", "online-retail", "--protocol", "time"])


def test_main_entry_point_runs_evaluate(capsys):
    from cli.main import main

    assert main(["evaluate", "--format", "synthetic", "--models", "pop", "--quiet"]) == 0
    assert "ItemPop" in capsys.readouterr().out
    assert main(["evaluate", "--format", "synthetic", "--models", "nope", "--quiet"]) == 2
    assert "unknown model" in capsys.readouterr().err
