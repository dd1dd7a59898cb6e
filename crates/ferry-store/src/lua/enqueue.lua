-- Stores a message enqueued to a queue (creating the queue with parallelism
-- 1), unless the backlog is full or it is a duplicate, and admits it when the
-- queue has room.
-- KEYS: 1 msg  2 ready  3 delayed  4 events  5 queue  6 waiting  [7 dedup]
-- ARGV: 1 id  2 tenant  3 spec  4 body  5 now_ms  6 max_backlog  7 events_retention
--       8 dedup_ttl_ms  9 event detail  10 queue name
-- Returns {'ok'} | {'dup', original_id} | {'full'}
local max_backlog = tonumber(ARGV[6])
if max_backlog > 0 and redis.call('XLEN', KEYS[2]) + redis.call('ZCARD', KEYS[3]) >= max_backlog then
  return {'full'}
end
if KEYS[7] then
  local original = redis.call('SET', KEYS[7], ARGV[1], 'NX', 'PX', ARGV[8], 'GET')
  if original then return {'dup', original} end
end
if redis.call('EXISTS', KEYS[5]) == 0 then
  redis.call('HSET', KEYS[5], 'parallelism', 1, 'paused', 0, 'active', 0, 'created_at', ARGV[5],
    'updated_at', ARGV[5])
end
redis.call('HSET', KEYS[1], 'tenant', ARGV[2], 'spec', ARGV[3], 'body', ARGV[4], 'retried', 0,
  'state', 'pending', 'ev', ARGV[9], 'q', ARGV[10])
redis.call('RPUSH', KEYS[6], ARGV[1])
log_event(KEYS[4], ARGV[1], 'CREATED', ARGV[9], ARGV[7])
queue_dispatch(KEYS[5], KEYS[6], KEYS[2])
return {'ok'}
