"""Recovery after Redis lost its data (restarted without persistence, FLUSHALL, a new node).

Redis holds nothing the database cannot rebuild. ``dmfrec:intact`` marks a Redis that holds
the rebuilt state; beat's ``restore-active-version`` checks it every minute and, when it is
gone, queues one `restore` (claimed, so checks meanwhile queue nothing). `restore` rebuilds:

- every bought set (``dmfrec:bought:*``) from the ``interactions`` table, for each customer
  who bought within the training window (customers of `dmfrec import magento` included), with
  the TTL that customer's last purchase leaves in the window;
- every SKU's native Magento links (``dmfrec:native_links``, the A/B arm ``magento``) from
  the ``products`` table, where the catalogue sync stored them;
- the A/B experiment the storefront serves (``dmfrec:experiment``: the running one, or the
  last one's winner), from the ``experiments`` table (issue 18);
- the database's active model version, published again when Redis lost it; then every
  customer with an order applied since the version's data was read gets a fold-in of
  today's rows (`worker.versions.publish_model_version`), not the artifact's training-time row.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from sqlalchemy import func, select

from storage import experiments
from storage.catalog import all_native_links
from storage.ingestion import utcnow
from storage.models import Interaction, ModelVersion
from worker import publish
from worker.runtime import Runtime
from worker.versions import publish_model_version

log = logging.getLogger("dmfrec.worker")
INTACT = f"{publish.PREFIX}:intact"
CLAIM = f"{publish.PREFIX}:restore:queued"  # one restore at a time (TTL: the claim's lifetime)
BATCH = 10_000


def redis_lost(rt: Runtime, claim_ttl_s: int = 600) -> bool:
    """Whether Redis lost its state and a restore should be queued now (claimed: True once
    per loss until the claim expires, so a restore killed half-way is queued again)."""
    if rt.redis.exists(INTACT):
        return False
    if not rt.redis.set(CLAIM, "1", nx=True, ex=claim_ttl_s):
        return False
    log.warning("Redis lost its state; queueing a restore from the database")
    return True


def restore(rt: Runtime) -> dict:
    """Rebuild the bought sets, and the active version's lists when Redis lost them."""
    started = time.monotonic()
    bought = rebuild_bought_sets(rt)
    links = rebuild_native_links(rt)
    experiment = experiments.republish(rt.engine, rt.redis)
    version = publish.active_version(rt.redis)
    republished = None
    if version is None:
        version = _database_active_version(rt)
        if version is not None:
            republished = publish_model_version(rt, version)
    rt.redis.set(INTACT, str(int(time.time())))
    rt.redis.delete(CLAIM)
    summary = {"bought_sets": bought, "native_links": links, "version": version,
               "experiment": experiment["name"] if experiment else None,
               "folded_in": (republished or {}).get("folded_in", 0),
               "seconds": round(time.monotonic() - started, 3)}
    log.info("Redis state restored", extra=summary)
    return summary


def _database_active_version(rt: Runtime) -> str | None:
    """The newest version the database records as active, if its artifact is on disk."""
    with rt.reading() as session:
        version = session.scalar(select(ModelVersion.version)
                                 .where(ModelVersion.status == "active")
                                 .order_by(ModelVersion.activated_at.desc()).limit(1))
    if version is None or not rt.model_path(version).exists():
        return None
    return version


def rebuild_native_links(rt: Runtime) -> int:
    """Replace the native-links hash with the database's; returns the SKUs with links."""
    with rt.reading() as session:
        links = all_native_links(session)
    pipe = rt.redis.pipeline(transaction=True)
    pipe.delete(publish.NATIVE_LINKS)
    publish.set_native_links(pipe, links)
    pipe.execute()
    return len(links)


def rebuild_bought_sets(rt: Runtime, chunk: int = 1000) -> int:
    """Every customer with a purchase in the window gets their whole bought set, expiring
    when that purchase leaves the window. Streams the table; returns the customers written."""
    days = rt.settings.window_days
    now = utcnow()
    since = now - timedelta(days=days) if days > 0 else None
    recent = (select(Interaction.customer_key).where(Interaction.qty > 0)
              .group_by(Interaction.customer_key))
    if since is not None:
        recent = recent.having(func.max(Interaction.last_purchase_at) >= since)
    query = (select(Interaction.customer_key, Interaction.sku, Interaction.last_purchase_at)
             .where(Interaction.qty > 0, Interaction.customer_key.in_(recent.scalar_subquery()))
             .order_by(Interaction.customer_key))
    written = 0
    pipe = rt.redis.pipeline(transaction=False)
    current, skus, last = None, [], None

    def flush() -> None:
        nonlocal written
        if current is None:
            return
        ttl = None if since is None else int((last - since).total_seconds())
        key = publish.bought_key(current)
        pipe.delete(key)
        pipe.sadd(key, *skus)
        if ttl is not None:
            pipe.expire(key, max(ttl, 1))
        written += 1
        if written % chunk == 0:
            pipe.execute()

    with rt.engine.connect().execution_options(stream_results=True, yield_per=BATCH,
                                               sqlite_begin="DEFERRED") as conn:
        for customer, sku, at in conn.execute(query):
            if customer != current:
                flush()
                current, skus, last = customer, [], at
            skus.append(sku)
            last = max(last, at)
    flush()
    pipe.execute()
    return written
