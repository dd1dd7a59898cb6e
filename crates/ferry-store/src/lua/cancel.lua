-- Cancels a message that has not been delivered or dead-lettered yet. A ready
-- stream entry may remain; the deliverer skips entries whose message is gone,
-- and an attempt already in flight records nothing once the message is gone.
-- KEYS: 1 msg  2 delayed  3 events
-- ARGV: 1 tenant  2 id  3 events_maxlen
-- Returns 1 cancelled, 0 not found (or not this tenant's, or dead-lettered).
local fields = redis.call('HMGET', KEYS[1], 'tenant', 'state', 'ev')
if fields[1] ~= ARGV[1] or fields[2] == 'dead' then return 0 end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[1])
log_event(KEYS[3], ARGV[2], 'CANCELED', fields[3] or '', ARGV[3])
return 1
