"""Erasing one customer from the shop database (a deletion request, a Magento customer deleted).

A customer is a key: a registered customer's id, or a guest's salted email hash ("g:...").
One transaction deletes the customer's orders, their lines, their interactions and every event
that carries them: events applied under the key (``events.customer_key``), events of their
orders, and events not applied yet (raw payloads, pending or failed) whose snapshot names the
customer id, the guest key or the email. Their storefront analytics go too: the attributed
lines of those orders, and the impressions and clicks reported under the customer's id or under
a browser session one of their orders was placed from (`orders.session_id`: erasing the order
is what ties that random id to a person). Nothing records the erasure itself: a log of erased
customers would be a trace. A snapshot of the same order that Magento sends later is a new
event and is applied as usual.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from storage.analytics_models import AttributedLine, RecEvent
from storage.db import run_transaction
from storage.ingestion import EVENTS, LINES, ORDERS, PAIRS, Policy, customer_key, guest_key
from storage.snapshot import SnapshotError, parse_event
from storage.upsert import chunks

ATTRIBUTED = AttributedLine.__table__
REC_EVENTS = RecEvent.__table__


@dataclass
class Erased:
    """What one erasure removed from the database."""

    key: str
    orders: int = 0
    lines: int = 0
    interactions: int = 0
    events: list[str] = field(default_factory=list)
    analytics: int = 0  # attributed lines, impressions and clicks


def key_of(customer_id: str | None = None, email: str | None = None,
           policy: Policy | None = None) -> str:
    """The customer key of a registered customer's id or of a guest's email."""
    if (customer_id is None) == (email is None):
        raise ValueError("give exactly one of customer_id and email")
    if customer_id is not None:
        cid = str(customer_id).strip()
        if not (cid.isascii() and cid.isdigit() and 0 < int(cid) < 2**63):
            raise ValueError(f"customer_id must be a positive integer, not {customer_id!r}")
        return str(int(cid))
    address = (email or "").strip()
    if "@" not in address or len(address) > 255:
        raise ValueError("email must be an email address")
    return guest_key(address, (policy or Policy.from_settings()).guest_salt)


def erase(engine_or_url: Engine | str | None, key: str, policy: Policy | None = None,
          email: str | None = None) -> Erased:
    """Delete everything the database holds of `key` (and, with `email`, every raw event that
    carries that address) in one transaction."""
    policy = policy or Policy.from_settings()
    address = (email or "").strip().lower() or None

    def work(session: Session) -> Erased:
        out = Erased(key)
        orders = session.execute(
            select(ORDERS.c.entity_id, ORDERS.c.session_id).where(ORDERS.c.customer_key == key)
            .order_by(ORDERS.c.entity_id).with_for_update()).all()
        order_ids = [o.entity_id for o in orders]
        subjects = sorted({key} | {o.session_id for o in orders if o.session_id})
        events = set(session.scalars(select(EVENTS.c.event_id)
                                     .where(EVENTS.c.customer_key == key)))
        for part in chunks(order_ids):
            events.update(session.scalars(select(EVENTS.c.event_id)
                                          .where(EVENTS.c.order_id.in_(part))))
        events.update(_raw_events_of(session, key, address, policy))
        out.events = sorted(events)
        for part in chunks(out.events):
            session.execute(delete(EVENTS).where(EVENTS.c.event_id.in_(part)))
        for part in chunks(order_ids):
            out.lines += session.execute(
                delete(LINES).where(LINES.c.order_id.in_(part))).rowcount
            out.orders += session.execute(
                delete(ORDERS).where(ORDERS.c.entity_id.in_(part))).rowcount
        out.interactions = session.execute(
            delete(PAIRS).where(PAIRS.c.customer_key == key)).rowcount
        for part in chunks(order_ids):
            out.analytics += session.execute(
                delete(ATTRIBUTED).where(ATTRIBUTED.c.order_id.in_(part))).rowcount
        for part in chunks(subjects):
            out.analytics += session.execute(
                delete(REC_EVENTS).where(REC_EVENTS.c.subject.in_(part))).rowcount
        return out

    return run_transaction(engine_or_url, work)


def _raw_events_of(session: Session, key: str, email: str | None, policy: Policy,
                   batch: int = 500) -> list[str]:
    """Events not applied yet (no customer_key recorded; the payload is raw) that carry the
    customer: by key, customer id or email. Few: events are applied within seconds."""
    found, last = [], 0
    while True:
        rows = session.execute(
            select(EVENTS.c.id, EVENTS.c.event_id, EVENTS.c.payload)
            .where(EVENTS.c.customer_key.is_(None), EVENTS.c.id > last)
            .order_by(EVENTS.c.id).limit(batch)).all()
        if not rows:
            return found
        found += [r.event_id for r in rows if _names(r.payload, key, email, policy)]
        last = rows[-1].id


def _names(payload: str, key: str, email: str | None, policy: Policy) -> bool:
    """Whether a raw snapshot names the customer: its key, or the email (any case)."""
    try:
        order = parse_event(payload).order
    except SnapshotError:
        return False
    if customer_key(order, policy.guest_salt)[0] == key:
        return True
    return bool(email) and (order.customer_email or "").strip().lower() == email
