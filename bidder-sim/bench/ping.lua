-- wrk script: POSTs a valid contract-v1 ping to the URL given on the command line, e.g.
--   wrk -t1 -c64 -d10s -s bidder-sim/bench/ping.lua http://127.0.0.1:9001/b0/ping
-- Every request carries a new ping_id, as the engine's would.

local counter = 0
local tail = '","vertical":"auto_insurance","attributes":{"zip":"98004","state":"WA",'
  .. '"credit_tier":"good","age":42,"homeowner":true},"tmax_ms":100,"test":false}'

request = function()
  counter = counter + 1
  local body = '{"ping_id":"pg_wrk_' .. counter .. tail
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, body)
end

-- Any status other than 200 is a failure of the bench setup: report it.
response = function(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
