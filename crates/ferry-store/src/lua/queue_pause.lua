-- Pauses or resumes a queue's admission; resuming admits what has room.
-- KEYS: 1 queue  2 waiting  3 ready
-- ARGV: 1 paused ('1' or '0')  2 now_ms
-- Returns 1 when the queue exists, 0 otherwise.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'paused', ARGV[1], 'updated_at', ARGV[2])
queue_dispatch(KEYS[1], KEYS[2], KEYS[3])
return 1
