-- Fires one tick of a schedule: only when its due time is still the one the
-- caller read (otherwise another deliverer fired it), moves it to its next
-- tick, remembers the tick, and creates the tick's messages (one, or one per
-- endpoint of a URL group) with the schedule's body, all in one step.
-- A message of a schedule with a queue is enqueued (with its flow-control
-- key, if any, see flow_hold in lib.lua); one with only a flow-control key
-- waits for room under it (the schedule lives in that queue's or key's
-- partition, its tenant's home).
-- KEYS: 1 due (sorted set)  2 schedule (hash)  3 ready  4 delayed  5 events
--       6 queue  7 queue waiting  8 flow  9 flow waiting  10 flow wake
--       11 backlog counts, then one msg key per message
-- ARGV: 1 member  2 expected due ms  3 next due ms ('' for none)  4 tenant
--       5 now ms  6 events retention  7 message ids kept  8 queue name ('' for
--       none)  9 flow member ('' for none)  10 parallelism  11 rate
--       12 period ms, then per message: id, spec, due ms, event detail
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
local body = redis.call('HGET', KEYS[2], 'body') or ''
local a = 13
for k = 12, #KEYS do
  local msg, id, spec, due, detail = KEYS[k], ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  if ARGV[8] ~= '' then
    enqueue_message(msg, KEYS[3], KEYS[5], KEYS[6], KEYS[7], id, ARGV[4], spec, body, ARGV[5], ARGV[6], detail,
      ARGV[8])
    if ARGV[9] ~= '' then flow_hold(msg, KEYS[8], ARGV[9], ARGV[5], ARGV[10], ARGV[11], ARGV[12]) end
  elseif ARGV[9] ~= '' then
    flow_create(msg, KEYS[3], KEYS[4], KEYS[5], KEYS[8], KEYS[9], KEYS[10], id, ARGV[4], spec, body, due, ARGV[5],
      ARGV[6], detail, ARGV[9], ARGV[10], ARGV[11], ARGV[12])
  else
    create_message(msg, KEYS[3], KEYS[4], KEYS[5], id, ARGV[4], spec, body, due, ARGV[5], ARGV[6], detail)
  end
  backlog_add(KEYS[11], ARGV[4])
  table.insert(ids, id)
  a = a + 4
end
while #ids > tonumber(ARGV[7]) do table.remove(ids, 1) end
redis.call('HSET', KEYS[2], 'last_time', ARGV[5])
-- cjson writes an empty table as an object; a tick of a URL group with no
-- endpoint left produces nothing and keeps the earlier ids.
if #ids > 0 then redis.call('HSET', KEYS[2], 'last_ids', cjson.encode(ids)) end
return 1
