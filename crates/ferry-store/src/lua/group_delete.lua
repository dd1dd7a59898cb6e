-- Deletes a URL group. KEYS: 1 group names  2 group. ARGV: 1 group name.
-- Returns 1 when it existed.
redis.call('SREM', KEYS[1], ARGV[1])
return redis.call('DEL', KEYS[2])
