-- Registers a wait of an active workflow run (see the `waiters` module): the
-- waiter, its entry in the partition's index, and its timeout message, due at
-- the deadline and not in the step list. A lookback event stored for the
-- event is returned instead, and a run already waiting for the event is left
-- as it is.
-- KEYS: 1 run  2 waiters  3 index  4 lookback  5 timeout msg  6 ready
--       7 delayed  8 events  9 backlog counts
-- ARGV: 1 event id  2 index member  3 waiter value  4 msg id  5 tenant
--       6 spec  7 body  8 due_ms  9 now_ms  10 events_retention  11 event
--       detail  12 max_backlog  13 max_tenant_backlog
-- Returns {'ok'} | {'waiting'} | {'lookback', data} | {'inactive'}
--       | {'full', 'total' | 'tenant'}
if redis.call('HGET', KEYS[1], 'state') ~= 'RUN_STARTED' then return {'inactive'} end
local data = redis.call('HGET', KEYS[4], ARGV[1])
if data then return {'lookback', data} end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return {'waiting'} end
local refused = publish_refusal(KEYS[9], ARGV[5], ARGV[12], ARGV[13], nil, ARGV[4], 0)
if refused then return refused end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[3], 0, ARGV[2])
create_message(KEYS[5], KEYS[6], KEYS[7], KEYS[8], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10],
  ARGV[11])
backlog_add(KEYS[9], ARGV[5])
return {'ok'}
