-- Replays pre-generated requests from a file (benchmarks.live writes it), cycling through them.
--   wrk -t T -c C -d 10s -s benchmarks/wrk/cycle.lua http://host:port -- FILE PREFIX T
-- One request per line, tab-separated: METHOD, PATH, BODY (may be empty), then header
-- name/value pairs. PREFIX is prepended to every path (the bare apps live under /bare).
-- Thread k of T replays lines k, k+T, k+2T, ... so threads never send the same request; a
-- thread that runs out starts over (counted in "wraps": repeats of already sent requests).
-- done() prints one line "WRKJSON {...}": totals, p50/p99 latency (us), counts by status.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local file, prefix, nthreads = args[1], args[2] or "", tonumber(args[3]) or 1
  reqs, nreqs, idx, wraps, statuses = {}, 0, 0, 0, {}
  local line_no = 0
  for line in io.lines(file) do
    if line_no % nthreads == id then
      local f = {}
      for field in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = field end
      local headers = {}
      for k = 4, #f - 1, 2 do headers[f[k]] = f[k + 1] end
      local body = nil
      if f[3] ~= "" then body = f[3] end
      nreqs = nreqs + 1
      reqs[nreqs] = wrk.format(f[1], prefix .. f[2], headers, body)
    end
    line_no = line_no + 1
  end
end

function request()
  idx = idx + 1
  if idx > nreqs then
    idx = 1
    wraps = wraps + 1
  end
  return reqs[idx]
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local counts, wrapped = {}, 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do counts[k] = (counts[k] or 0) + v end
    wrapped = wrapped + t:get("wraps")
  end
  local parts = {}
  for k, v in pairs(counts) do parts[#parts + 1] = string.format('"%s":%d', k, v) end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d,"wraps":%d,"statuses":{%s}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), wrapped, table.concat(parts, ",")))
end
