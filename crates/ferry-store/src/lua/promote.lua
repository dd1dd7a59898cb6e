-- Moves due delayed messages to the ready stream, a bounded batch per call.
-- KEYS: 1 delayed  2 ready
-- ARGV: 1 now_ms  2 batch
-- Returns {moved, next_due_ms or -1}
local ids = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  redis.call('XADD', KEYS[2], '*', 'm', id)
end
if #ids > 0 then
  redis.call('ZREM', KEYS[1], unpack(ids))
end
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local next_due = -1
if #head > 0 then next_due = tonumber(head[2]) end
return {#ids, next_due}
