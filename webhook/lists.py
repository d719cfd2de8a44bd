"""A storefront list in one Redis round trip: a Lua script, registered once per client.

The script follows the active-version pointer, reads the customer's (or SKU's) list, falls
back to the popular list, drops hidden SKUs, the customer's bought SKUs, the request's
``exclude`` and, with ``?website=<id>``, SKUs known not to be on that website, and returns the
kept items already encoded as the answer's JSON ``items`` array: no round trip per filter and
no decode/re-encode of the whole list, in Python or in Lua (the stored JSON is scanned only as
far as the answer needs, each SKU's and score's text copied as published). Lua blocks Redis
while it runs: a scan stops at the requested limit, with up to three set/hash lookups per SKU
it passes (tens of microseconds; decoding a whole 100-pair list in Lua cost as much again).

Answers that take no per-request parameter but the limit -- the popular list, a SKU's similar
items -- are kept ready in one hash (``dmfrec:answers``, field per kind/limit/SKU, TTL
ANSWER_TTL_S): the script stores what it answered there in the same atomic step as its reads,
and every writer of what those answers depend on (the popular list, the hidden set, the active
version, an active version's similar lists: worker.publish, webhook.catalog) deletes the hash
after writing, so an answer is never staler than the last write and a repeat request is one
HGET (`cached`).

List keys are built inside the script from the version it read (so the pointer and the list
come from one atomic step); that needs a single Redis server, not Redis Cluster, as before.

Kind ``native`` (issue 18's A/B arm ``magento``) is no published list: the script builds it
from Magento's own related/up-sell links (``dmfrec:native_links``, sent by the module with the
product states) of the SKUs in an anchor set -- the customer's bought set -- taking each
anchor's first link, then each one's second, and so on (anchors in SKU order, at most
NATIVE_ANCHORS of them, at most twice the limit and 20 SKUs), then filters it like any list;
without anchors or links it falls back to the popular list, as a customer without a model
list does.
"""

from __future__ import annotations

from typing import NamedTuple

import redis as redis_lib
from redis.commands.core import Script

from worker import publish

# Bounds the script's work for a customer who bought many SKUs: measured here (Redis on this
# machine, links of 10 SKUs, limit 20), about 0.09 ms a call for a model list, 0.13 ms for the
# links of 5 bought SKUs, 0.16-0.21 ms of 30, 0.24-0.32 ms of 300 (30 read).
NATIVE_ANCHORS = 30
# A ready answer lives this long at most (writers delete them all sooner: a safety net for a
# write made outside worker.publish).
ANSWER_TTL_S = 10
# KEYS: 1 active version, 2 popular list, 3 hidden set, 4 SKU -> websites hash,
#       5 the customer's bought set ('' when not filtered), 6 SKU -> native links hash,
#       7 the anchor set of kind 'native' ('' otherwise), 8 the ready answers hash ('': the
#       answer is not kept).
# ARGV: 1 version key prefix ('dmfrec:v:'), 2 list kind ('user', 'similar', 'native'; '' for
#       the popular list itself), 3 customer or SKU, 4 limit, 5 website id ('' for any),
#       6 the answer's field in KEYS[8], 7 its TTL (s), 8.. SKUs the request excludes.
# Returns {fallback 0/1, items JSON, version or ''}; kept as "fallback|version|items".
SOURCE = r"""
local function answer(fallback, items, version)
  if KEYS[8] ~= '' then
    redis.call('HSET', KEYS[8], ARGV[6], fallback .. '|' .. version .. '|' .. items)
    if redis.call('TTL', KEYS[8]) < 0 then redis.call('EXPIRE', KEYS[8], ARGV[7]) end
  end
  return {fallback, items, version}
end
local function native()
  local anchors = redis.call('SMEMBERS', KEYS[7])
  if #anchors == 0 then return false end
  table.sort(anchors)
  local fields = {}
  for i = 1, math.min(#anchors, NATIVE_ANCHORS) do fields[i] = anchors[i] end
  local lists = {}
  for _, stored in ipairs(redis.call('HMGET', KEYS[6], unpack(fields))) do
    if stored then lists[#lists + 1] = cjson.decode(stored) end
  end
  local parts, seen, round, more = {}, {}, 1, true
  local cap = 2 * tonumber(ARGV[4]) + 20  -- room for what the filters drop
  while more and #parts < cap do
    more = false
    for _, links in ipairs(lists) do
      local sku = links[round]
      if sku then
        more = true
        if not seen[sku] and #parts < cap then
          seen[sku] = true
          parts[#parts + 1] = '[' .. cjson.encode(sku) .. ',' .. (1 / round) .. ']'
        end
      end
    end
    round = round + 1
  end
  if #parts == 0 then return false end
  return '[' .. table.concat(parts, ',') .. ']'
end
local version = false
local raw = false
if ARGV[2] == 'native' then
  raw = native()
elseif ARGV[2] ~= '' then
  version = redis.call('GET', KEYS[1])
  if version then
    raw = redis.call('GET', ARGV[1] .. version .. ':' .. ARGV[2] .. ':' .. ARGV[3])
  end
end
local fallback = 0
if not raw then
  if ARGV[2] ~= '' then fallback = 1 end
  raw = redis.call('GET', KEYS[2])
end
if not raw then return answer(fallback, '[]', version or '') end
local excluded = {}
for i = 8, #ARGV do excluded[ARGV[i]] = true end
local limit = tonumber(ARGV[4])
local website = ARGV[5]
local out = {}
-- Scan the stored JSON ([["sku",score],...], written by worker.publish.encode) only as far as
-- the answer needs, instead of decoding all of it: each SKU's JSON text and score text are
-- copied into the answer as they are; only an escaped SKU is decoded, to look it up.
local pos = 1
while #out < limit do
  local s = string.find(raw, '["', pos, true)
  if not s then break end
  local i, escaped = s + 2, false
  while true do
    local j = string.find(raw, '["\\]', i)
    if not j then return answer(fallback, '[' .. table.concat(out, ',') .. ']', version or '') end
    if string.byte(raw, j) == 92 then escaped, i = true, j + 2 else i = j break end
  end
  local text = string.sub(raw, s + 1, i)
  local sku = escaped and cjson.decode(text) or string.sub(raw, s + 2, i - 1)
  local e = string.find(raw, ']', i + 2, true)
  if not e then break end
  local score = string.sub(raw, i + 2, e - 1)
  pos = e + 1
  local keep = not excluded[sku] and redis.call('SISMEMBER', KEYS[3], sku) == 0
  if keep and KEYS[5] ~= '' then keep = redis.call('SISMEMBER', KEYS[5], sku) == 0 end
  if keep and website ~= '' then
    local ids = redis.call('HGET', KEYS[4], sku)
    keep = not ids or string.find(',' .. ids .. ',', ',' .. website .. ',', 1, true) ~= nil
  end
  if keep then out[#out + 1] = '{"sku":' .. text .. ',"score":' .. score .. '}' end
end
return answer(fallback, '[' .. table.concat(out, ',') .. ']', version or '')
""".replace("NATIVE_ANCHORS", str(NATIVE_ANCHORS))


class Served(NamedTuple):
    """What the script kept: `items` is the JSON array text, ready to splice into an answer."""

    version: str | None
    fallback: bool
    items: str


def register(r: redis_lib.Redis) -> Script:
    """The script bound to `r` (EVALSHA, loaded again by redis-py after a Redis restart)."""
    return r.register_script(SOURCE)


def serve(script: Script, kind: str, key: str, *, limit: int, exclude: list[str],
          website: int | None, buyer: str | None, keep_as: str = "") -> Served:
    """One list, filtered: `kind` 'user' (key: customer), 'similar' (key: SKU), 'native'
    (key: customer, whose bought SKUs' native links make the list) or '' (the popular list);
    `buyer`: whose bought SKUs to drop (None: none); `keep_as`: the field under which the
    answer is kept ready (`answer_field`; only for an answer that depends on nothing else)."""
    keys = [publish.ACTIVE_VERSION, publish.POPULAR, publish.HIDDEN_SKUS, publish.SKU_WEBSITES,
            publish.bought_key(buyer) if buyer is not None else "", publish.NATIVE_LINKS,
            publish.bought_key(key) if kind == "native" else "",
            publish.ANSWERS if keep_as else ""]
    args = [publish.VERSION_PREFIX, kind, key, limit, "" if website is None else website,
            keep_as, ANSWER_TTL_S, *exclude]
    fallback, items, version = script(keys=keys, args=args)
    version = version.decode() if isinstance(version, bytes) else version
    items = items.decode() if isinstance(items, bytes) else items
    return Served(version or None, bool(fallback), items)


def answer_field(kind: str, key: str, limit: int) -> str:
    """The ready answer's field: the list kind, the limit, the customer or SKU."""
    return f"{kind}:{limit}:{key}"


def cached(r: redis_lib.Redis, field: str) -> Served | None:
    """The answer kept under `field`, or None (then `serve` with `keep_as=field`)."""
    kept = r.hget(publish.ANSWERS, field)
    if kept is None:
        return None
    kept = kept.decode() if isinstance(kept, bytes) else kept
    fallback, version, items = kept.split("|", 2)
    return Served(version or None, fallback == "1", items)
