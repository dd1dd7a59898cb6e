-- Fires one tick of a schedule: only when its due time is still the one the
-- caller read (otherwise another deliverer fired it), moves it to its next
-- tick, remembers the tick, and creates the tick's message with the
-- schedule's body, all in one step.
-- KEYS: 1 due (sorted set)  2 schedule (hash)  3 msg  4 ready  5 delayed  6 events
-- ARGV: 1 member  2 expected due ms  3 next due ms ('' for none)  4 id
--       5 tenant  6 spec  7 message due ms  8 now ms  9 events retention
--       10 event detail  11 message ids kept
-- Returns 1 when fired, 0 when not.
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
local last = redis.call('HGET', KEYS[2], 'last_ids')
local ids = {}
if last then ids = cjson.decode(last) end
table.insert(ids, ARGV[4])
while #ids > tonumber(ARGV[11]) do table.remove(ids, 1) end
redis.call('HSET', KEYS[2], 'last_time', ARGV[8], 'last_ids', cjson.encode(ids))
local body = redis.call('HGET', KEYS[2], 'body') or ''
create_message(KEYS[3], KEYS[4], KEYS[5], KEYS[6], ARGV[4], ARGV[5], ARGV[6], body, ARGV[7], ARGV[8], ARGV[9],
  ARGV[10])
return 1
