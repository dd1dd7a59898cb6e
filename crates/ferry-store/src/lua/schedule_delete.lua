-- Deletes a schedule and its due-set entry.
-- KEYS: 1 schedule (hash)  2 due (sorted set)
-- ARGV: 1 member
-- Returns 1 when the schedule existed.
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
