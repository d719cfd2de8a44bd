"""Tables of storefront analytics (issue 18): what was shown and clicked, what it sold, and
the A/B experiments that decide which arm a customer sees.

- `rec_events`: one row per (recommendation id, SKU, kind) -- an impression or a click, so a
  reload or a resent beacon cannot count twice. Kept raw for DMFREC_ANALYTICS_RAW_DAYS.
- `rec_daily`: the same, counted per day / experiment / arm / SKU / kind once raw rows age out:
  it grows with the catalogue and the days, not with traffic.
- `attributed_lines`: an order line credited to the click that led to it, recomputed from the
  order's newest snapshot (so cancels and refunds take it back exactly).
- `experiments`: arms, shares, salt, and the winner once stopped.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import KEY_LEN, SKU_LEN, TABLE_ARGS, Base, Money, Timestamp

REC_ID_LEN = 32
ARM_LEN = 16
NAME_LEN = 64
KINDS = ("impression", "click")


class RecEvent(Base):
    """An impression or click of one SKU of one served recommendation (deduplicated)."""

    __tablename__ = "rec_events"
    __table_args__ = (Index("ix_rec_events_subject_sku", "subject", "sku"),
                      Index("ix_rec_events_at", "at"), TABLE_ARGS)

    rec_id: Mapped[str] = mapped_column(String(REC_ID_LEN), primary_key=True)
    sku: Mapped[str] = mapped_column(String(SKU_LEN), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    # A customer id (as orders key it) or a guest's signed session id.
    subject: Mapped[str] = mapped_column(String(KEY_LEN))
    experiment: Mapped[str] = mapped_column(String(NAME_LEN))  # "" outside any experiment
    arm: Mapped[str] = mapped_column(String(ARM_LEN))
    version: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(Timestamp)


class RecDaily(Base):
    """Impressions or clicks per day / experiment / arm / SKU, once their raw rows expired."""

    __tablename__ = "rec_daily"
    __table_args__ = (TABLE_ARGS,)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    experiment: Mapped[str] = mapped_column(String(NAME_LEN), primary_key=True)
    arm: Mapped[str] = mapped_column(String(ARM_LEN), primary_key=True)
    sku: Mapped[str] = mapped_column(String(SKU_LEN), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    subjects: Mapped[int] = mapped_column(BigInteger)  # distinct subjects that day (visitors)


class AttributedLine(Base):
    """An order line credited to a recommendation click (amount in base currency, net)."""

    __tablename__ = "attributed_lines"
    __table_args__ = (Index("ix_attributed_lines_ordered_at", "ordered_at"), TABLE_ARGS)

    order_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    item_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # The order's customer key; a guest order without one: its session id.
    customer_key: Mapped[str] = mapped_column(String(KEY_LEN))
    sku: Mapped[str] = mapped_column(String(SKU_LEN))
    rec_id: Mapped[str] = mapped_column(String(REC_ID_LEN))
    experiment: Mapped[str] = mapped_column(String(NAME_LEN))
    arm: Mapped[str] = mapped_column(String(ARM_LEN))
    amount: Mapped[Decimal] = mapped_column(Money)
    ordered_at: Mapped[datetime] = mapped_column(Timestamp)
    clicked_at: Mapped[datetime] = mapped_column(Timestamp)


class Experiment(Base):
    """An A/B experiment: arms with shares, a salt for the stable hash, and its outcome."""

    __tablename__ = "experiments"
    __table_args__ = (TABLE_ARGS,)

    name: Mapped[str] = mapped_column(String(NAME_LEN), primary_key=True)
    salt: Mapped[str] = mapped_column(String(64))
    arms: Mapped[list[Any]] = mapped_column(JSON)  # [[arm, share], ...]
    status: Mapped[str] = mapped_column(String(16))  # running | stopped
    winner: Mapped[str | None] = mapped_column(String(ARM_LEN))
    started_at: Mapped[datetime] = mapped_column(Timestamp)
    stopped_at: Mapped[datetime | None] = mapped_column(Timestamp)
