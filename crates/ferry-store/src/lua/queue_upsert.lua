-- Creates a queue or changes its settings, then admits what now has room.
-- KEYS: 1 queue  2 waiting  3 ready
-- ARGV: 1 parallelism  2 paused ('1' or '0')  3 now_ms
redis.call('HSETNX', KEYS[1], 'created_at', ARGV[3])
redis.call('HSETNX', KEYS[1], 'active', 0)
redis.call('HSET', KEYS[1], 'parallelism', ARGV[1], 'paused', ARGV[2], 'updated_at', ARGV[3])
queue_dispatch(KEYS[1], KEYS[2], KEYS[3])
return 1
