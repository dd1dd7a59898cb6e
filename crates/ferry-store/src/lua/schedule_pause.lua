-- Pauses a schedule (out of the due set) or resumes it (due at ARGV[3]).
-- KEYS: 1 schedule (hash)  2 due (sorted set)
-- ARGV: 1 member  2 paused (1 or 0)  3 next due ms when resuming
-- Returns 1 when the schedule exists.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'paused', ARGV[2])
if ARGV[2] == '1' then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
return 1
