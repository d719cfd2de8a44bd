"""Loaders on tiny files written here, their error messages, and the synthetic shop."""

import numpy as np
import pytest

from model.datasets import (
    load,
    load_csv,
    load_movielens,
    load_ncf,
    load_online_retail,
    synthetic_shop,
)
from model.datasets.online_retail import is_product

RETAIL_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def test_movielens_u_data_and_ratings_dat(tmp_path):
    (tmp_path / "u.data").write_text("196\t242\t3\t881250949\n186\t302\t5\t891717742\n")
    p = load_movielens(tmp_path)  # a folder finds u.data
    assert p.customer_id.tolist() == [196, 186] and p.sku.tolist() == [242, 302]
    assert p.qty.tolist() == [3.0, 5.0] and p.amount.tolist() == [3.0, 5.0]
    assert p.ordered_at.tolist() == [881250949, 891717742]
    dat = tmp_path / "ratings.dat"
    dat.write_text("1::1193::5::978300760\n1::661::3::978302109\n\n")
    p = load_movielens(dat)
    assert p.sku.tolist() == [1193, 661] and p.qty.tolist() == [5.0, 3.0]


def test_movielens_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_movielens(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match=r"neither u\.data nor ratings\.dat"):
        load_movielens(tmp_path)
    bad = tmp_path / "u.data"
    bad.write_text("1\t2\t3\n")
    with pytest.raises(ValueError, match=r"u.data:1: expected user, item, rating, timestamp"):
        load_movielens(bad)
    bad.write_text("\n")
    with pytest.raises(ValueError, match="no usable rows"):
        load_movielens(bad)


def _ncf(tmp_path, negatives="(0,3)\t1\t2\n(1,4)\t2\t0\n"):
    (tmp_path / "Toy.train.rating").write_text("0\t0\t5\n0\t1\t3\n1\t2\t4\n")
    (tmp_path / "Toy.test.rating").write_text("0\t3\t5\n1\t4\t1\n")
    (tmp_path / "Toy.test.negative").write_text(negatives)
    return tmp_path / "Toy"


def test_ncf_by_folder_prefix_or_file(tmp_path):
    prefix = _ncf(tmp_path)
    for path in (tmp_path, prefix, tmp_path / "Toy.test.negative"):
        d = load_ncf(path)
        assert d.train.customer_id.tolist() == [0, 0, 1] and d.train.sku.tolist() == [0, 1, 2]
        assert d.train.qty.tolist() == [5.0, 3.0, 4.0]
        assert d.train.ordered_at.tolist() == [0, 1, 2]  # line order stands in for time
        assert d.test_users.tolist() == [0, 1] and d.test_items.tolist() == [3, 4]
        # User 1's negative 2 is in its train row: kept as given.
        assert d.negatives.tolist() == [[1, 2], [2, 0]]


def test_ncf_errors(tmp_path):
    _ncf(tmp_path, negatives="(0,3)\t1\t2\n(1,9)\t2\t0\n")
    with pytest.raises(ValueError, match="keys do not match"):
        load_ncf(tmp_path)
    (tmp_path / "Toy.test.rating").unlink()
    with pytest.raises(FileNotFoundError, match=r"Toy.test.rating is missing"):
        load_ncf(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no \*.train.rating"):
        load_ncf(tmp_path / "empty")


def _retail(path, lines):
    path.write_text("\n".join([RETAIL_HEADER, *lines]) + "\n")
    return path


def test_online_retail_rules(tmp_path):
    _retail(tmp_path / "a.csv", [
        "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom",
        "536366,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,,United Kingdom",  # guest
        "536367,POST,POSTAGE,1,2010-12-01 08:30:00,18.0,12583.0,France",  # fee
        "536368,gift_0001_20,VOUCHER,1,2010-12-01 08:31:00,20.0,12583.0,France",  # voucher
        "536369,m,Manual,1,2010-12-01 08:32:00,2.0,12583.0,France",  # lower-case manual
        "536370,22139,FREE,3,2010-12-01 08:33:00,0.0,12583.0,France",  # zero price
        "536371,85123a,WHITE HANGING HEART,2,2010-12-02 09:00:00,2.55,12583.0,France",
    ])
    _retail(tmp_path / "b.csv", [
        "C536379,85123A,WHITE HANGING HEART,-2,2010-12-03 09:41:00,2.55,17850.0,United Kingdom",
    ])
    p = load_online_retail(tmp_path)  # both CSVs of the folder
    assert p.customer_id.tolist() == ["17850", "12583", "17850"]
    assert p.sku.tolist() == ["85123A", "85123A", "85123A"]
    assert p.qty.tolist() == [6.0, 2.0, -2.0]
    assert p.amount == pytest.approx([15.3, 5.1, -5.1])
    assert p.ordered_at[0] == 1291191960  # 2010-12-01 08:26 UTC
    # The cancellation nets out against the purchase when aggregated.
    inter = p.to_interactions("quantity")
    assert inter.matrix[inter.user_index("17850"), 0] == 4.0
    assert load_online_retail(tmp_path / "b.csv").qty.tolist() == [-2.0]


def test_online_retail_product_codes():
    for code in ("85123A", "22633", "DCGSSGIRL", "15056bl"):
        assert is_product(code)
    for code in ("POST", "D", "M", "m", "DOT", "BANK CHARGES", "C2", "CRUK", "PADS",
                 "AMAZONFEE", "S", "B", "gift_0001_10", ""):
        assert not is_product(code)


def test_online_retail_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_online_retail(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match=r"no \.csv files"):
        load_online_retail(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice\n1,2,3,4,5\n")
    with pytest.raises(ValueError, match="missing column"):
        load_online_retail(bad)
    with pytest.raises(ValueError, match="CustomerID"):
        load_online_retail(bad)
    guests = _retail(tmp_path / "guests.csv",
                     ["536366,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,,United Kingdom"])
    with pytest.raises(ValueError, match="no usable rows"):
        load_online_retail(guests)


def test_generic_csv(tmp_path):
    f = tmp_path / "orders.csv"
    f.write_text("order,customer_id,sku,qty,amount,ordered_at\n"
                 "1,C-1,SKU 7,2,19.90,2024-03-01T10:00:00Z\n"
                 "2,,SKU 7,1,9.95,2024-03-01\n"  # guest: dropped
                 "3,C-2,sku-8,1,,1709287200\n")
    p = load_csv(f)
    assert p.customer_id.tolist() == ["C-1", "C-2"] and p.sku.tolist() == ["SKU 7", "sku-8"]
    assert p.qty.tolist() == [2.0, 1.0] and p.amount.tolist() == [19.9, 0.0]
    assert p.ordered_at.tolist() == [1709287200, 1709287200]


def test_generic_csv_errors(tmp_path):
    f = tmp_path / "orders.csv"
    f.write_text("customer_id,sku,qty\n1,a,1\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) amount, ordered_at"):
        load_csv(f)
    f.write_text("customer_id,sku,qty,amount,ordered_at\n1,a,two,1,2024-01-01\n")
    with pytest.raises(ValueError, match=r"orders\.csv:2"):
        load_csv(f)
    f.write_text("customer_id,sku,qty,amount,ordered_at\n")
    with pytest.raises(ValueError, match="no usable rows"):
        load_csv(f)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_csv(tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError, match="not a file"):
        load_csv(tmp_path)


def test_load_dispatch(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(tmp_path / "x", "csv")
    with pytest.raises(ValueError, match="unknown format"):
        load(tmp_path, "parquet")
    with pytest.raises(ValueError, match="--data is required"):
        load(None, "movielens")
    assert len(load(None, "synthetic", seed=3)) == len(synthetic_shop(seed=3))


def test_synthetic_shop_is_seeded_and_structured():
    a, b = synthetic_shop(seed=1), synthetic_shop(seed=1)
    assert all(np.array_equal(getattr(a, f), getattr(b, f))
               for f in ("customer_id", "sku", "qty", "amount", "ordered_at"))
    assert not np.array_equal(a.sku, synthetic_shop(seed=2).sku)
    shop = synthetic_shop(n_customers=400, n_skus=200, purchases_per_customer=12, days=90,
                          seed=0)
    assert len(np.unique(shop.customer_id)) == 400 and len(shop) > 400 * 8
    assert shop.ordered_at.max() - shop.ordered_at.min() <= 90 * 86_400
    assert (shop.qty >= 1).all() and (shop.amount > 0).all()
    inter = shop.to_interactions("binary")
    # Popularity skew: the top 10% of SKUs hold well over 10% of the buyers.
    buyers = np.sort(np.asarray(inter.matrix.sum(axis=0)).ravel())[::-1]
    assert buyers[:20].sum() / buyers.sum() > 0.25
    # Repeat purchases: fewer distinct (customer, SKU) pairs than lines.
    assert inter.nnz < len(shop)
    # Taste groups: item co-occurrence is concentrated, so the matrix is far from random.
    x = inter.matrix.toarray()
    co = x.T @ x
    np.fill_diagonal(co, 0)
    assert (co == 0).mean() > 0.3
    with pytest.raises(ValueError):
        synthetic_shop(n_customers=0)


@pytest.mark.slow
def test_real_data_sets_match_their_source_notes(shared_data):
    ml = load(shared_data / "ml-100k", "movielens")
    assert len(ml) == 100_000
    assert len(np.unique(ml.customer_id)) == 943 and len(np.unique(ml.sku)) == 1682
    music = load(shared_data / "amazon-music", "ncf")
    assert len(music.train) == 44_311 and len(music.test_users) == 1_776
    assert music.negatives.shape == (1_776, 99)
    train_pairs = set(zip(music.train.customer_id.tolist(), music.train.sku.tolist(),
                          strict=True))
    in_train = sum((u, j) in train_pairs
                   for u, row in zip(music.test_users.tolist(), music.negatives.tolist(),
                                     strict=True) for j in row)
    assert in_train == 348  # the file's quirk, kept as given
    retail = load(shared_data / "online-retail", "online-retail")
    assert 400_000 < len(retail) < 410_000
    assert len(np.unique(retail.customer_id)) < 4_372  # guests and fee-only customers gone
    assert (retail.qty < 0).sum() > 8_000  # cancellations kept as negative lines
