-- Stores a message of a workflow run and appends its raw step to the run's
-- list. An Init message (ARGV 12 = '1') creates the run, replacing an ended
-- one with the same id, unless the run is active (then nothing is stored); any
-- other message needs an active run. The list never grows beyond its bound.
-- A new run's member joins the tenant's run index in this partition (the
-- member of the run it replaces leaves it). A message with a told token
-- (ARGV 20, an invoked run's result) is stored once per token: the run
-- records the token, and a repeat stores nothing and answers 'dup'.
-- KEYS: 1 run  2 steps  3 msg  4 ready  5 delayed  6 events  7 backlog counts
--       8 run index
-- ARGV: 1 id  2 tenant  3 spec  4 body  5 due_ms  6 now_ms  7 max_backlog
--       8 events_retention  9 event detail  10 raw step  11 max run bytes
--       12 init ('1' or '0')  13 run url  14 run created_at  15 user headers
--       (JSON)  16 run config (JSON)  17 invoker (JSON, '' for none)
--       18 max_tenant_backlog  19 run index member  20 told token ('' for none)
-- Returns {'ok'} | {'dup'} | {'inactive'} | {'large'} | {'full', 'total' | 'tenant'}
local init = ARGV[12] == '1'
local told = ARGV[20] ~= '' and 'told:' .. ARGV[20]
if told and redis.call('HEXISTS', KEYS[1], told) == 1 then return {'dup'} end
local state = redis.call('HGET', KEYS[1], 'state')
if init and state == 'RUN_STARTED' then return {'dup'} end
if not init and state ~= 'RUN_STARTED' then return {'inactive'} end
local size = 0
if not init then size = tonumber(redis.call('HGET', KEYS[1], 'size') or '0') end
size = size + #ARGV[10]
if size > tonumber(ARGV[11]) then return {'large'} end
local refused = publish_refusal(KEYS[7], ARGV[2], ARGV[7], ARGV[18], nil, ARGV[1], 0)
if refused then return refused end
if init then
  local replaced = redis.call('HGET', KEYS[1], 'idx')
  if replaced then redis.call('ZREM', KEYS[8], replaced) end
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('HSET', KEYS[1], 'tenant', ARGV[2], 'state', 'RUN_STARTED', 'url', ARGV[13], 'created', ARGV[14],
    'headers', ARGV[15], 'config', ARGV[16], 'invoker', ARGV[17], 'idx', ARGV[19])
  redis.call('ZADD', KEYS[8], 0, ARGV[19])
end
redis.call('RPUSH', KEYS[2], ARGV[10])
redis.call('HSET', KEYS[1], 'size', size)
if told then redis.call('HSET', KEYS[1], told, ARGV[6]) end
create_message(KEYS[3], KEYS[4], KEYS[5], KEYS[6], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[8],
  ARGV[9])
backlog_add(KEYS[7], ARGV[2])
return {'ok'}
