-- wrk script: POST a form body with an Authorization header, both from the environment.
-- Counts non-2xx answers so a benchmark of errors is never mistaken for throughput; with
-- EXPECT set, also every 200 whose body lacks that text (introspection: '"active":true', so
-- an expired token's cheaper answer is never measured as introspection).
wrk.method = "POST"
wrk.body = os.getenv("BODY") or ""
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local auth = os.getenv("AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
local expect = os.getenv("EXPECT")
if expect == "" then expect = nil end

local bad = 0
response = function(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
  elseif expect and not string.find(body, expect, 1, true) then
    bad = bad + 1
  end
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_us=%d p99_us=%d errors=%d non200=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status,
    bad, summary.requests))
end
