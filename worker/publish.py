"""The Redis layout the storefront reads, and the functions that write and read it.

Keys (all under ``dmfrec:``; lists are JSON arrays of ``[sku, score]`` pairs, best first)::

    dmfrec:active_version              string  the model version readers use
    dmfrec:versions                    zset    version -> Unix time it was activated
    dmfrec:v:<version>:user:<customer> string  JSON top-N of one customer under that version
    dmfrec:v:<version>:similar:<sku>   string  JSON SKUs similar to <sku> under that version
    dmfrec:v:<version>:meta            hash    activated_at, n_users, n_items
    dmfrec:popular                     string  JSON popular SKUs (no model needed), replaced whole
    dmfrec:hidden_skus                 set     disabled / out-of-stock SKUs, never shown
    dmfrec:sku_websites                hash    SKU -> its website ids "1,2" (catalogue sync)
    dmfrec:native_links                hash    SKU -> JSON array of its Magento related, then
                                               up-sell SKUs (catalogue sync; A/B arm magento)
    dmfrec:bought:<customer>           set     SKUs the customer bought (read-time exclusion;
                                               expires a training window after the purchase)
    dmfrec:intact                      string  Redis holds the rebuilt state (worker.recovery)
    dmfrec:popular:lock                string  throttles popular-list recomputation (TTL)
    dmfrec:enqueued:<event_id>         string  event sent again by the pending sweep recently
                                               (TTL)
    dmfrec:answers                     hash    ready storefront answers of the popular list and
                                               similar items (webhook.lists; TTL): every
                                               writer here of what they read deletes it after

A full model publish writes every ``dmfrec:v:<new>:*`` key first (with a pending TTL, so an
interrupted publish cleans itself up), then `activate_version` removes that TTL, switches
``dmfrec:active_version`` in one SET and gives every other version's keys a TTL. A reader
follows the pointer once per request, so it sees one version whole, never a mix; the old
version stays readable until its TTL for requests that read the pointer just before the switch.
Lists are stored longer than served (``DMFREC_PUBLISH_N``) and filtered at read time.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence

import redis as redis_lib

PREFIX = "dmfrec"
ACTIVE_VERSION = f"{PREFIX}:active_version"
VERSIONS = f"{PREFIX}:versions"
RETIRED_GRACE_S = 60  # a retired version's lists outlive the switch this long (requests in flight)
POPULAR = f"{PREFIX}:popular"
POPULAR_LOCK = f"{PREFIX}:popular:lock"
HIDDEN_SKUS = f"{PREFIX}:hidden_skus"
SKU_WEBSITES = f"{PREFIX}:sku_websites"  # hash: SKU -> "1,2" (its website ids, catalogue sync)
NATIVE_LINKS = f"{PREFIX}:native_links"  # hash: SKU -> '["B","C"]' (Magento's own links)
VERSION_PREFIX = f"{PREFIX}:v:"  # every key of a model version starts with this
ANSWERS = f"{PREFIX}:answers"  # ready answers (webhook.lists), deleted by the writers below

_VERSION_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
Pairs = Sequence[tuple[str, float]]

# Write one customer's list only while `version` is still the active one: a fold-in computed
# with an old model must not land in (or resurrect) a replaced version.
_SET_IF_ACTIVE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[2]) else redis.call('SET', KEYS[2], ARGV[2]) end
return 1
"""

# The same for several customers in one round trip (KEYS[2..], ARGV[2..]); returns how many.
_SET_MANY_IF_ACTIVE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
for i = 2, #KEYS do
  if ARGV[i] == '' then redis.call('DEL', KEYS[i]) else redis.call('SET', KEYS[i], ARGV[i]) end
end
return #KEYS - 1
"""


def check_version(version: str) -> str:
    """Versions go into key names and SCAN patterns: letters, digits, ``_ . -`` only."""
    if not _VERSION_RE.match(version):
        raise ValueError(f"invalid model version {version!r}")
    return version


def user_key(version: str, customer_id: str) -> str:
    return f"{VERSION_PREFIX}{version}:user:{customer_id}"


def similar_key(version: str, sku: str) -> str:
    return f"{VERSION_PREFIX}{version}:similar:{sku}"


def meta_key(version: str) -> str:
    return f"{PREFIX}:v:{version}:meta"


def bought_key(customer_id: str) -> str:
    return f"{PREFIX}:bought:{customer_id}"


def encode(pairs: Iterable[tuple[str, float]]) -> str:
    return json.dumps([[str(sku), round(float(score), 6)] for sku, score in pairs],
                      separators=(",", ":"))


def decode(raw: str | bytes | None) -> list[tuple[str, float]] | None:
    if raw is None:
        return None
    return [(str(sku), float(score)) for sku, score in json.loads(raw)]


# ---------------------------------------------------------------- writing


def _publish_lists(r: redis_lib.Redis, keys_and_lists: Iterable[tuple[str, Pairs]],
                   ttl_s: int | None, chunk: int) -> int:
    count = 0
    pipe = r.pipeline(transaction=False)
    for key, pairs in keys_and_lists:
        if pairs:
            pipe.set(key, encode(pairs), ex=ttl_s)
        else:
            pipe.delete(key)
        count += 1
        if count % chunk == 0:
            pipe.execute()
    pipe.execute()
    return count


def _ttl_for(r: redis_lib.Redis, version: str, pending_ttl_s: int) -> int | None:
    """No TTL for the active version; a pending TTL for one being published."""
    active = r.get(ACTIVE_VERSION)
    return None if active is not None and _text(active) == version else pending_ttl_s


def publish_user_lists(r: redis_lib.Redis, version: str,
                       lists: Mapping[str, Pairs] | Iterable[tuple[str, Pairs]], *,
                       pending_ttl_s: int = 2 * 86400, chunk: int = 1000) -> int:
    """Write each customer's list under `version` (pipelined); an empty list deletes the key.
    `lists`: a mapping, or (customer, list) pairs streamed as they are computed. Returns the
    number of customers written."""
    check_version(version)
    ttl = _ttl_for(r, version, pending_ttl_s)
    pairs = lists.items() if isinstance(lists, Mapping) else lists
    return _publish_lists(r, ((user_key(version, str(c)), p) for c, p in pairs), ttl, chunk)


def publish_similar(r: redis_lib.Redis, version: str, lists: Mapping[str, Pairs], *,
                    pending_ttl_s: int = 2 * 86400, chunk: int = 1000) -> int:
    """Write each SKU's similar-SKU list under `version` (pipelined)."""
    check_version(version)
    ttl = _ttl_for(r, version, pending_ttl_s)
    count = _publish_lists(r, ((similar_key(version, str(s)), p) for s, p in lists.items()),
                           ttl, chunk)
    if ttl is None:  # the active version's lists changed under the ready answers
        r.delete(ANSWERS)
    return count


def publish_user_if_active(r: redis_lib.Redis, version: str, customer_id: str,
                           pairs: Pairs) -> bool:
    """Replace one customer's list in `version` only if it is still active (atomic, Lua)."""
    check_version(version)
    done = r.eval(_SET_IF_ACTIVE, 2, ACTIVE_VERSION, user_key(version, str(customer_id)),
                  version, encode(pairs) if pairs else "")
    return bool(done)


def publish_users_if_active(r: redis_lib.Redis, version: str,
                            lists: Mapping[str, Pairs]) -> int:
    """`publish_user_if_active` for several customers in one script (one round trip, the
    version checked once for all): how many lists were replaced (0: not active)."""
    check_version(version)
    if not lists:
        return 0
    keys = [user_key(version, str(c)) for c in lists]
    values = [encode(pairs) if pairs else "" for pairs in lists.values()]
    return int(r.eval(_SET_MANY_IF_ACTIVE, 1 + len(keys), ACTIVE_VERSION, *keys,
                      version, *values))


def publish_popular(r: redis_lib.Redis, pairs: Pairs) -> None:
    """Replace the popular list in one SET (readers see the old or the new list whole), then
    drop the ready answers (in the same MULTI)."""
    pipe = r.pipeline(transaction=True)
    if pairs:
        pipe.set(POPULAR, encode(pairs))
    else:
        pipe.delete(POPULAR)
    pipe.delete(ANSWERS)
    pipe.execute()


def set_hidden_skus(r: redis_lib.Redis, skus: Iterable[str]) -> int:
    """Replace the set of SKUs never shown (disabled or out of stock), atomically."""
    members = sorted({str(s) for s in skus})
    tmp = f"{HIDDEN_SKUS}:tmp:{time.time_ns()}"
    pipe = r.pipeline(transaction=True)
    if members:
        pipe.sadd(tmp, *members)
        pipe.rename(tmp, HIDDEN_SKUS)
    else:
        pipe.delete(HIDDEN_SKUS)
    pipe.delete(ANSWERS)
    pipe.execute()
    return len(members)


def set_native_links(pipe: redis_lib.client.Pipeline, links: Mapping[str, Sequence[str]]
                     ) -> None:
    """Queue on `pipe` each SKU's native links (an empty sequence: none, the field goes)."""
    kept = {sku: json.dumps(list(skus), ensure_ascii=False, separators=(",", ":"))
            for sku, skus in links.items() if skus}
    if kept:
        pipe.hset(NATIVE_LINKS, mapping=kept)
    gone = [sku for sku, skus in links.items() if not skus]
    if gone:
        pipe.hdel(NATIVE_LINKS, *gone)


def hide_skus(r: redis_lib.Redis, skus: Iterable[str], hidden: bool = True) -> None:
    """Add SKUs to (or take them out of) the hidden set."""
    members = [str(s) for s in skus]
    if members:
        pipe = r.pipeline(transaction=True)
        (pipe.sadd if hidden else pipe.srem)(HIDDEN_SKUS, *members)
        pipe.delete(ANSWERS)
        pipe.execute()


def set_bought(r: redis_lib.Redis, customer_id: str, skus: Iterable[str],
               ttl_s: int | None = None) -> None:
    """Replace the set of SKUs `customer_id` currently owns (after cancels and refunds);
    with `ttl_s`, it expires then (the training window after the last purchase)."""
    set_bought_many(r, {customer_id: skus}, ttl_s)


def set_bought_many(r: redis_lib.Redis, bought: Mapping[str, Iterable[str]],
                    ttl_s: int | None = None) -> None:
    """`set_bought` for several customers in one MULTI/EXEC (one round trip per batch)."""
    pipe = r.pipeline(transaction=True)
    for customer_id, skus in bought.items():
        members = sorted({str(s) for s in skus})
        key = bought_key(str(customer_id))
        pipe.delete(key)
        if members:
            pipe.sadd(key, *members)
            if ttl_s is not None and ttl_s > 0:
                pipe.expire(key, int(ttl_s))
    if bought:
        pipe.execute()


def activate_version(r: redis_lib.Redis, version: str, *, ttl_old: int = 7 * 86400,
                     keep: int = 2, meta: Mapping[str, str | int | float] | None = None
                     ) -> str | None:
    """Make `version` the one readers use; return the version it replaced.

    Its keys lose their pending TTL first, then the pointer switches in one SET. The `keep`
    versions activated last before it stay readable for `ttl_old` (a rollback); versions
    activated earlier expire within RETIRED_GRACE_S: with fine-tunes publishing several
    versions a day, a week of them would hold many copies of every list. Keys of versions
    never activated (a publish in progress, a rejected candidate) keep their pending TTL.
    """
    check_version(version)
    _apply_to_keys(r, f"{PREFIX}:v:{version}:*", lambda pipe, key: pipe.persist(key))
    now = int(time.time())
    pipe = r.pipeline(transaction=True)
    pipe.get(ACTIVE_VERSION)
    pipe.set(ACTIVE_VERSION, version)
    pipe.zadd(VERSIONS, {version: now})
    pipe.hset(meta_key(version), mapping={"activated_at": now, **(meta or {})})
    pipe.delete(ANSWERS)
    previous = pipe.execute()[0]
    earlier = [_text(v) for v in r.zrevrange(VERSIONS, 0, -1) if _text(v) != version]
    retired = set(earlier[max(keep, 0):])
    start = len(f"{PREFIX}:v:")

    def expire_other(pipe: redis_lib.client.Pipeline, key: str) -> None:
        owner = key[start:].split(":", 1)[0]
        if owner == version:
            return
        if owner in retired:
            pipe.expire(key, RETIRED_GRACE_S, lt=True)  # shortens; never lengthens
        else:
            pipe.expire(key, ttl_old, nx=True)

    _apply_to_keys(r, f"{PREFIX}:v:*", expire_other)
    return None if previous is None else _text(previous)


def _apply_to_keys(r: redis_lib.Redis, pattern: str, action, chunk: int = 1000) -> None:
    pipe = r.pipeline(transaction=False)
    for n, key in enumerate(r.scan_iter(match=pattern, count=chunk), 1):
        action(pipe, _text(key))
        if n % chunk == 0:
            pipe.execute()
    pipe.execute()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


# ---------------------------------------------------------------- reading


def active_version(r: redis_lib.Redis) -> str | None:
    value = r.get(ACTIVE_VERSION)
    return None if value is None else _text(value)


def read_user_list(r: redis_lib.Redis, customer_id: str
                   ) -> tuple[str | None, list[tuple[str, float]] | None]:
    """(active version, the customer's list or None when the customer has none)."""
    version = active_version(r)
    if version is None:
        return None, None
    return version, decode(r.get(user_key(version, str(customer_id))))


def read_similar(r: redis_lib.Redis, sku: str
                 ) -> tuple[str | None, list[tuple[str, float]] | None]:
    version = active_version(r)
    if version is None:
        return None, None
    return version, decode(r.get(similar_key(version, str(sku))))


def read_popular(r: redis_lib.Redis) -> list[tuple[str, float]]:
    return decode(r.get(POPULAR)) or []


def filter_pairs(r: redis_lib.Redis, pairs: Pairs, *, limit: int,
                 exclude: Iterable[str] = (), customer_id: str | None = None
                 ) -> list[tuple[str, float]]:
    """Drop hidden SKUs, `exclude`, and (with `customer_id`) what the customer bought.

    One round trip: SMISMEMBER against the hidden set and the customer's bought set.
    """
    excluded = set(exclude)
    candidates = [(s, score) for s, score in pairs if s not in excluded]
    if not candidates:
        return []
    skus = [s for s, _ in candidates]
    pipe = r.pipeline(transaction=False)
    pipe.smismember(HIDDEN_SKUS, skus)
    if customer_id is not None:
        pipe.smismember(bought_key(str(customer_id)), skus)
    flags = pipe.execute()
    drop = [bool(h) for h in flags[0]]
    if customer_id is not None:
        drop = [d or bool(b) for d, b in zip(drop, flags[1], strict=True)]
    kept = [pair for pair, d in zip(candidates, drop, strict=True) if not d]
    return kept[:limit]
