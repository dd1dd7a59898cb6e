-- Deletes a queue and cancels its waiting messages; admitted ones finish.
-- The caller read the waiting list and declares those messages' keys; if
-- the list changed since, nothing is done and -1 asks it to read again.
-- KEYS: 1 queue  2 waiting  3 events  4 backlog counts, then one msg key per
--       waiting message
-- ARGV: 1 events_retention, then the waiting message ids, in list order
-- Returns 1 when the queue existed, 0 otherwise, -1 when the list changed.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local waiting = redis.call('LRANGE', KEYS[2], 0, -1)
if #waiting ~= #ARGV - 1 then return -1 end
for i, id in ipairs(waiting) do
  if ARGV[i + 1] ~= id then return -1 end
end
for i, id in ipairs(waiting) do
  local msg = KEYS[4 + i]
  local fields = redis.call('HMGET', msg, 'ev', 'b', 'tenant')
  backlog_uncount(KEYS[4], fields[2], fields[3])
  redis.call('DEL', msg)
  log_event(KEYS[3], id, 'CANCELED', fields[1] or '', ARGV[1])
end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
