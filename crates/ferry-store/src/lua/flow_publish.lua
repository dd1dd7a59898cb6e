-- Stores a message published with a flow-control key, in the key's
-- partition, unless the backlog is full or it is a duplicate. The message's
-- limits become the key's (except pinned ones). Due now, it joins the key's
-- waiting list and is admitted if the limits allow; delayed, it waits in the
-- delayed set and joins the list when it becomes ready (flow_wait).
-- KEYS: 1 msg  2 ready  3 delayed  4 events  5 flow  6 waiting  7 wake  [8 dedup]
-- ARGV: 1 id  2 tenant  3 spec  4 body  5 due_ms  6 now_ms  7 max_backlog
--       8 events_retention  9 dedup_ttl_ms  10 event detail  11 member
--       12 parallelism  13 rate  14 period_ms (0 for an unset limit)
-- Returns {'ok'} | {'dup', original_id} | {'full'}
local refused = publish_refusal(KEYS[2], KEYS[3], ARGV[7], KEYS[8], ARGV[1], ARGV[9])
if refused then return refused end
local now = tonumber(ARGV[6])
redis.call('HSETNX', KEYS[5], 'created', now)
local pins = redis.call('HMGET', KEYS[5], 'pinp', 'pinr')
if pins[1] ~= '1' then redis.call('HSET', KEYS[5], 'par', ARGV[12]) end
if pins[2] ~= '1' then redis.call('HSET', KEYS[5], 'rate', ARGV[13], 'period', ARGV[14]) end
if tonumber(ARGV[5]) > now then
  create_message(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6],
    ARGV[8], ARGV[10])
  -- Kept until a later admission finds it idle, so the limits are there
  -- when the message becomes due.
  redis.call('PERSIST', KEYS[5])
else
  redis.call('HSET', KEYS[1], 'tenant', ARGV[2], 'spec', ARGV[3], 'body', ARGV[4], 'retried', 0,
    'state', 'pending', 'ev', ARGV[10])
  log_event(KEYS[4], ARGV[1], 'CREATED', ARGV[10], ARGV[8])
  redis.call('RPUSH', KEYS[6], ARGV[1])
  flow_dispatch(KEYS[5], KEYS[6], KEYS[2], KEYS[7], ARGV[11], now)
end
redis.call('HSET', KEYS[1], 'fc', ARGV[11])
return {'ok'}
