-- Deletes one dead letter of a tenant.
-- KEYS: 1 msg  2 dlq
-- ARGV: 1 tenant
-- Returns 1 deleted, 0 not found.
local fields = redis.call('HMGET', KEYS[1], 'tenant', 'state', 'dlq_entry')
if fields[1] ~= ARGV[1] or fields[2] ~= 'dead' then return 0 end
redis.call('XDEL', KEYS[2], fields[3])
redis.call('DEL', KEYS[1])
return 1
