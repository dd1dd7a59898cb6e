-- Promotes the next signing key to current and installs a new next key, and
-- announces the rotation so deliverers drop the keys they cached.
-- KEYS: 1 keys  ARGV: 1 new_next  2 rotation channel  3 tenant
-- Returns {current, next}, or nil when the tenant has no keys.
local next_key = redis.call('HGET', KEYS[1], 'next')
if not next_key then return nil end
redis.call('HSET', KEYS[1], 'current', next_key, 'next', ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return {next_key, ARGV[1]}
