-- Mixed traffic for benches/soak.sh: 90 % downloads of random stored hashes, 9 % uploads of
-- new distinct torrents, 1 % bad requests. Counts 5xx and upload results per thread.
local hashes = {}
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(os.getenv("SOAK_HASHES")) do
    hashes[#hashes + 1] = line
  end
  seq = 0
  err5xx, stored, failed, bad = 0, 0, 0, 0
  math.randomseed(tid * 7919 + os.time())
  run = os.getenv("SOAK_RUN") or "0"
  out = io.open(os.getenv("SOAK_OUT") .. "." .. run .. "." .. tid, "w")
end

local function torrent(name)
  local info = "d6:lengthi1000e4:name" .. #name .. ":" .. name ..
               "12:piece lengthi16384e6:pieces20:" .. string.rep("x", 20) .. "e"
  return "d8:announce31:http://tracker.example/announce4:info" .. info .. "e"
end

function request()
  local r = math.random(100)
  if r <= 90 then
    return wrk.format("GET", "/torrent/" .. hashes[math.random(#hashes)] .. ".torrent")
  elseif r <= 99 then
    seq = seq + 1
    local body = torrent(string.format("soak-%s-%d-%d", run, tid, seq))
    return wrk.format("POST", "/api/upload",
      { ["Content-Type"] = "application/x-bittorrent" }, body)
  else
    return wrk.format("GET", "/torrent/not-a-hash.torrent")
  end
end

function response(status, headers, body)
  if status >= 500 then err5xx = err5xx + 1 end
  local res = headers["X-Thetorrent-Result"]
  if res == "stored" then
    stored = stored + 1
    out:write(headers["X-Thetorrent-Hash"], "\n")
    out:flush()
  elseif res == "failed" then failed = failed + 1 end
  if status == 400 then bad = bad + 1 end
end

function done(summary, latency, requests)
  local e, s, f, b = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    e = e + t:get("err5xx"); s = s + t:get("stored"); f = f + t:get("failed"); b = b + t:get("bad")
  end
  io.write(string.format("SOAK requests=%d 5xx=%d uploads_stored=%d uploads_failed=%d bad=%d p99_ms=%.2f rps=%.0f\n",
    summary.requests, e, s, f, b, latency:percentile(99) / 1000, summary.requests / (summary.duration / 1e6)))
end
