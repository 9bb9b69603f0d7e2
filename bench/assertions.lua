-- wrk script: POST client_credentials with pre-signed client assertions (RFC 7523), one per
-- request in turn, read from the file in $ASSERTIONS (one JWS a line). wrk cannot sign, so
-- the assertions are made beforehand (examples/sign_assertions --print) and cycled: the
-- server must not refuse a repeated jti (serve --fault skip-assertion-replay-check).
local path = os.getenv("ASSERTIONS")
local bodies = {}
for line in io.lines(path) do
  bodies[#bodies + 1] = "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=" .. line
end
local next_body = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

request = function()
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[next_body])
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_us=%d p99_us=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status))
end
