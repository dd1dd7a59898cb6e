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
enqueue_message(KEYS[1], KEYS[2], KEYS[4], KEYS[5], KEYS[6], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[7],
  ARGV[9], ARGV[10])
return {'ok'}
