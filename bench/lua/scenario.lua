-- One wrk script for every scenario, configured by bench/load.py through the
-- environment. Requests are spread over many users' tokens (round-robin per thread,
-- so concurrent requests come from different users), money requests carry a unique
-- Idempotency-Key (and receipt), and every response status is counted. done()
-- writes the figures as JSON to BENCH_OUT.
--
-- Receipts are signed (HMAC-SHA256), which LuaJIT cannot compute: bench_seed mints
-- a pool per buyer into <tokens file>-receipts.txt (or BENCH_RECEIPTS), buyer by
-- buyer, and a body's {receipt} takes the next unused one of the request's buyer.
-- Later runs of a scenario start after the receipts earlier runs used, kept in
-- <receipts file>.used, so a receipt is never sent twice.

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH")
local body_template = os.getenv("BENCH_BODY") or ""
local if_none_match = os.getenv("BENCH_IF_NONE_MATCH") or ""
local send_key = os.getenv("BENCH_IDEMPOTENCY") == "1"
local run_id = os.getenv("BENCH_RUN") or "run"
local out_path = os.getenv("BENCH_OUT")
local tokens_path = os.getenv("BENCH_TOKENS") or ""
local receipts_path = os.getenv("BENCH_RECEIPTS") or ""
if receipts_path == "" then
  receipts_path = tokens_path:gsub("%.txt$", "") .. "-receipts.txt"
end
local used_path = receipts_path .. ".used"
local uses_receipts = body_template:find("{receipt}", 1, true) ~= nil

local threads = {}
local thread_count = 0

local function lines(file_name)
  local items = {}
  if file_name == nil or file_name == "" then
    return items
  end
  for line in io.lines(file_name) do
    if line ~= "" then
      items[#items + 1] = line
    end
  end
  return items
end

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
  threads[#threads + 1] = thread
end

local function receipts_used()
  local file = io.open(used_path, "r")
  if file == nil then
    return 0
  end
  local used = tonumber(file:read("*l")) or 0
  file:close()
  return used
end

-- statuses and receipt_uses are global: done() reads them with thread:get.
local tokens, creators, sent, receipts, per_buyer, first_use

function init(args)
  tokens = lines(tokens_path)
  creators = lines(os.getenv("BENCH_CREATORS"))
  nthreads = tonumber(os.getenv("BENCH_THREADS"))
  sent = 0
  statuses = {}
  receipt_uses = 0
  if #tokens == 0 then
    error("BENCH_TOKENS names no tokens")
  end
  if uses_receipts then
    receipts = lines(receipts_path)
    per_buyer = math.floor(#receipts / #tokens)
    if per_buyer == 0 or #receipts ~= per_buyer * #tokens then
      error(receipts_path .. ": not a pool of receipts per token")
    end
    first_use = receipts_used()
  end
end

-- The next unused receipt of the buyer in `slot`: its use number in this run is
-- how many times the round-robin came round to it before.
local function receipt_for(slot)
  local buyer = slot % #tokens
  local use = first_use + math.floor(slot / #tokens)
  if use >= per_buyer then
    error("receipt pool used up: raise bench_seed --receipts")
  end
  receipt_uses = math.max(receipt_uses, use - first_use + 1)
  return receipts[buyer * per_buyer + use + 1]
end

function request()
  -- Thread t uses tokens t, t + T, t + 2T, ...: threads never share a user, and
  -- a thread's connections take consecutive users.
  local slot = tid + sent * nthreads
  local headers = {["Authorization"] = "Token " .. tokens[slot % #tokens + 1]}
  local body = nil
  local key = run_id .. "-" .. tid .. "-" .. sent
  if send_key then
    headers["Idempotency-Key"] = key
  end
  if if_none_match ~= "" then
    headers["If-None-Match"] = if_none_match
  end
  if body_template ~= "" then
    headers["Content-Type"] = "application/json"
    local creator = ""
    if #creators > 0 then
      creator = creators[slot % #creators + 1]
    end
    body = body_template
    if uses_receipts then
      -- Receipts are base64url and a dot: no "%" to escape in a gsub replacement.
      local receipt = receipt_for(slot)
      body = body:gsub("{receipt}", receipt)
    end
    body = body:gsub("{creator}", creator):gsub("{key}", key)
  end
  sent = sent + 1
  return wrk.format(method, path, headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  local uses = 0
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
    uses = math.max(uses, thread:get("receipt_uses") or 0)
  end
  if uses_receipts then
    local used = assert(io.open(used_path, "w"))
    used:write(string.format("%d\n", receipts_used() + uses))
    used:close()
  end
  local parts = {}
  for status, count in pairs(counts) do
    parts[#parts + 1] = string.format('"%d": %d', status, count)
  end
  local errors = summary.errors
  local file = assert(io.open(out_path, "w"))
  file:write(string.format(
    '{"duration_us": %d, "requests": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, ' ..
    '"timeout": %d}, "latency_us": {"p50": %d, "p90": %d, "p99": %d, ' ..
    '"max": %d, "mean": %.1f}, "statuses": {%s}}\n',
    summary.duration, summary.requests, summary.bytes,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, table.concat(parts, ", ")))
  file:close()
end
