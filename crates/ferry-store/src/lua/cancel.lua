-- Cancels a message that has not been delivered or dead-lettered yet. A ready
-- stream entry may remain; the deliverer skips entries whose message is gone,
-- and an attempt already in flight records nothing once the message is gone.
-- A queue message leaves its queue: off the waiting list, or, when it was
-- admitted, out of its slot (admitting the next).
-- A flow-controlled message leaves its key's waiting list; when it was
-- already admitted, the slot is freed by whoever next handles its entry.
-- KEYS: 1 msg  2 delayed  3 events  4 queue  5 waiting  6 ready (of the queue
--       the caller read from the hash's `q`)  7 flow waiting (of the key
--       read from `fc`)  8 backlog counts
-- ARGV: 1 tenant  2 id  3 events_retention  4 queue name ('' for none)
--       5 flow member ('' for none)
-- Returns 1 cancelled, 0 not found (or not this tenant's, or dead-lettered).
local fields = redis.call('HMGET', KEYS[1], 'tenant', 'state', 'ev', 'q', 'fc', 'b')
if fields[1] ~= ARGV[1] or fields[2] == 'dead' then return 0 end
if fields[4] and fields[4] == ARGV[4] then
  if redis.call('LREM', KEYS[5], 1, ARGV[2]) == 0 then
    queue_release(KEYS[4], KEYS[5], KEYS[6])
  end
end
if fields[5] and fields[5] == ARGV[5] then
  redis.call('LREM', KEYS[7], 1, ARGV[2])
end
redis.call('ZREM', KEYS[2], ARGV[2])
backlog_uncount(KEYS[8], fields[6], fields[1])
redis.call('DEL', KEYS[1])
log_event(KEYS[3], ARGV[2], 'CANCELED', fields[3] or '', ARGV[3])
return 1
