-- wrk script: DynamoDB PutItem with unique keys, for bench_throughput.py.
--
--   wrk -t2 -c64 -d3s -s wrk_putitem.lua http://127.0.0.1:PORT/ -- TABLE MODE GROUP PREFIX
--
-- MODE: "put"  unconditional put, a fresh key per request
--       "cond" put guarded by attribute_not_exists(#k), a fresh key per request (always succeeds)
--       "race" the registration race: GROUP consecutive requests of a thread share one key, each
--              guarded by attribute_not_exists(#k) with ALL_OLD on failure (1 success, GROUP-1
--              ConditionalCheckFailed per key: the same request mix as the harness)
-- DynamoDB Local does not verify signatures, only reads the access key (and region) from the
-- Authorization header to pick its database, so a fixed header with the harness's access key works.
-- At the end one line "WRKJSON {...}" reports the totals for the benchmark to parse.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

local tbl, mode, group, prefix
local counter = 0
local headers = {
   ["Content-Type"] = "application/x-amz-json-1.0",
   ["X-Amz-Target"] = "DynamoDB_20120810.PutItem",
   ["X-Amz-Date"] = "20240101T000000Z",
   ["Authorization"] = "AWS4-HMAC-SHA256 Credential=ddbstress/20240101/us-east-1/dynamodb/aws4_request, "
      .. "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0000000000000000",
}

function init(args)
   tbl = args[1] or "bench"
   mode = args[2] or "put"
   group = tonumber(args[3] or "64")
   prefix = args[4] or "k"
end

local function body(key, writer)
   local item = '{"Username":{"S":"' .. key .. '"},"Email":{"S":"w' .. writer .. '.' .. key
      .. '@example.com"},"RequestId":{"S":"' .. prefix .. '/' .. key .. '/w' .. writer .. '"}}'
   local doc = '{"TableName":"' .. tbl .. '","Item":' .. item
   if mode ~= "put" then
      doc = doc .. ',"ConditionExpression":"attribute_not_exists(#k)",'
         .. '"ExpressionAttributeNames":{"#k":"Username"},"ReturnValuesOnConditionCheckFailure":"ALL_OLD"'
   end
   return doc .. '}'
end

function request()
   counter = counter + 1
   local key, writer
   if mode == "race" then
      key = prefix .. "-t" .. id .. "-" .. math.floor(counter / group)
      writer = counter % group
   else
      key = prefix .. "-t" .. id .. "-" .. counter
      writer = 0
   end
   return wrk.format("POST", "/", headers, body(key, writer))
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"non2xx":%d,'
         .. '"connect":%d,"read":%d,"write":%d,"timeout":%d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      e.status, e.connect, e.read, e.write, e.timeout))
end
