-- Requests for bench/booking_load.py, one script for every scenario:
--
--   wrk -t2 -c32 -d15s --latency -s bench/wrk/booking_load.lua URL -- MODE DATA_FILE THREADS TAG [THINK_MS]
--
-- MODE: healthz | clinics | slots | book. DATA_FILE (written by booking_load.py): clinic ids, one
-- a line (slots), or "token slot_id" lines (book); each wrk thread takes every THREADS-th line,
-- so no two threads send the same request. TAG makes the Idempotency-Keys unique to this run.
-- THINK_MS > 0 paces the load: each connection waits a random 0..2*THINK_MS ms after every answer,
-- so C connections send about C * 1000 / (THINK_MS + latency) requests a second.
-- At the end one line "BENCH_JSON {...}" carries the figures the Python side reads: latency
-- percentiles, counts per HTTP status and per problem code (409s), and how often a thread ran
-- out of its lines and started over ("wrapped", which must stay 0 for booking).

local threads = {}
local thread_count = 0

function setup(thread)
   thread:set("tid", thread_count)
   thread_count = thread_count + 1
   table.insert(threads, thread)
end

-- Per-thread state (each thread has its own Lua state; these globals are read back in done()).
statuses = {}
codes = {}
wrapped = 0

local mode, tag, items, position, sent, static_request

-- Where patients look from: the seeded cities, with a few kilometres of jitter.
local places = {
   {41.31, 69.28}, {41.29, 69.22}, {39.65, 66.96}, {39.77, 64.43}, {40.39, 71.78},
   {41.00, 71.67}, {40.79, 72.34}, {42.46, 59.61}, {38.86, 65.80}, {41.55, 60.63},
}

local function read_lines(path, every, offset)
   local lines, number = {}, 0
   for line in io.lines(path) do
      if number % every == offset then
         table.insert(lines, line)
      end
      number = number + 1
   end
   return lines
end

function init(args)
   mode, tag = args[1], args[4] or "t"
   local data, every = args[2], tonumber(args[3] or "1")
   position, sent = 0, 0
   math.randomseed(1000 + tid)
   local think = tonumber(args[5] or "0")
   if think > 0 then
      delay = function()
         return math.random(0, math.floor(2 * think))
      end
   end
   if mode == "healthz" then
      static_request = wrk.format("GET", "/healthz")
   elseif mode == "slots" or mode == "book" then
      items = read_lines(data, every, tid)
      -- Start the threads at different places of their lists.
      position = (tid * 7) % #items
   elseif mode ~= "clinics" then
      error("unknown mode " .. tostring(mode))
   end
end

local function next_item()
   position = position + 1
   if position > #items then
      position = 1
      wrapped = wrapped + 1
   end
   return items[position]
end

function request()
   if static_request then
      return static_request
   end
   if mode == "clinics" then
      local place = places[math.random(#places)]
      local lat = place[1] + (math.random() - 0.5) * 0.1
      local lon = place[2] + (math.random() - 0.5) * 0.1
      return wrk.format("GET", string.format("/v1/clinics?lat=%.4f&lon=%.4f&limit=20", lat, lon))
   end
   if mode == "slots" then
      return wrk.format("GET", "/v1/clinics/" .. next_item() .. "/slots?service=ecg&days=7")
   end
   local token, slot = next_item():match("^(%S+) (%S+)$")
   sent = sent + 1
   local headers = {
      ["Authorization"] = "Bearer " .. token,
      ["Content-Type"] = "application/json",
      ["Idempotency-Key"] = string.format("%s-%d-%d", tag, tid, sent),
   }
   return wrk.format("POST", "/v1/bookings", headers, '{"slot_id":"' .. slot .. '"}')
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   if status >= 400 and body then
      local code = body:match('"code":"([%w_]+)"') or "unknown"
      codes[code] = (codes[code] or 0) + 1
   end
end

local function json_counts(counts)
   local parts = {}
   for key, value in pairs(counts) do
      table.insert(parts, string.format('"%s":%d', tostring(key), value))
   end
   return "{" .. table.concat(parts, ",") .. "}"
end

local function add_into(total, counts)
   for key, value in pairs(counts or {}) do
      total[key] = (total[key] or 0) + value
   end
end

function done(summary, latency, requests)
   local all_statuses, all_codes, all_wrapped = {}, {}, 0
   for _, thread in ipairs(threads) do
      add_into(all_statuses, thread:get("statuses"))
      add_into(all_codes, thread:get("codes"))
      all_wrapped = all_wrapped + (thread:get("wrapped") or 0)
   end
   local errors = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f},' ..
      '"statuses":%s,"codes":%s,"wrapped":%d}\n',
      summary.requests, summary.duration, summary.bytes,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      latency:percentile(50), latency:percentile(75), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean,
      json_counts(all_statuses), json_counts(all_codes), all_wrapped))
end
