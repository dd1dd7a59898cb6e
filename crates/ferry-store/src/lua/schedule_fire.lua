-- Fires one tick of a schedule: only when its due time is still the one the
-- caller read (otherwise another deliverer fired it), moves it to its next
-- tick, remembers the tick, and creates the tick's message with the
-- schedule's body, all in one step.
-- A message of a schedule with a queue is enqueued; one with a flow-control
-- key waits for room under its key (the schedule lives in that queue's or
-- key's partition).
-- KEYS: 1 due (sorted set)  2 schedule (hash)  3 msg  4 ready  5 delayed  6 events
--       7 queue  8 queue waiting  9 flow  10 flow waiting  11 flow wake
-- ARGV: 1 member  2 expected due ms  3 next due ms ('' for none)  4 id
--       5 tenant  6 spec  7 message due ms  8 now ms  9 events retention
--       10 event detail  11 message ids kept  12 queue name ('' for none)
--       13 flow member ('' for none)  14 parallelism  15 rate  16 period ms
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
if ARGV[12] ~= '' then
  enqueue_message(KEYS[3], KEYS[4], KEYS[6], KEYS[7], KEYS[8], ARGV[4], ARGV[5], ARGV[6], body, ARGV[8], ARGV[9],
    ARGV[10], ARGV[12])
elseif ARGV[13] ~= '' then
  flow_create(KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[9], KEYS[10], KEYS[11], ARGV[4], ARGV[5], ARGV[6], body,
    ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[13], ARGV[14], ARGV[15], ARGV[16])
else
  create_message(KEYS[3], KEYS[4], KEYS[5], KEYS[6], ARGV[4], ARGV[5], ARGV[6], body, ARGV[7], ARGV[8], ARGV[9],
    ARGV[10])
end
return 1
