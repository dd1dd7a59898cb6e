-- Stores (or replaces) a schedule and makes it due at its next tick; the
-- last tick's time and message ids of a replaced schedule are kept.
-- KEYS: 1 schedule (hash)  2 due (sorted set)
-- ARGV: 1 member  2 def JSON  3 body  4 next due ms
redis.call('HSET', KEYS[1], 'def', ARGV[2], 'body', ARGV[3], 'paused', 0)
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
return 1
