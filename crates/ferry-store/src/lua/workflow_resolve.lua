-- Resolves a wait of an active workflow run (see the `waiters` module): takes
-- the waiter whose timeout message is ARGV 3 (deleting that message) or the
-- lookback event (ARGV 3 = ''), then stores the step message answering the
-- wait and appends its raw step, as a step publish does. Nothing changes when
-- the waiter or event is gone.
-- KEYS: 1 run  2 steps  3 waiters  4 index  5 lookback  6 msg  7 ready
--       8 delayed  9 events  10 backlog counts  11 timeout msg (any key of
--       the partition for a lookback)
-- ARGV: 1 event id  2 index member  3 timeout msg id or ''  4 id  5 tenant
--       6 spec  7 body  8 due_ms  9 now_ms  10 events_retention  11 event
--       detail  12 raw step  13 max run bytes  14 max_backlog
--       15 max_tenant_backlog
-- Returns {'ok'} | {'gone'} | {'inactive'} | {'large'} | {'full', 'total' | 'tenant'}
if redis.call('HGET', KEYS[1], 'state') ~= 'RUN_STARTED' then return {'inactive'} end
local by_waiter = ARGV[3] ~= ''
if by_waiter then
  local waiter = redis.call('HGET', KEYS[3], ARGV[1])
  if not waiter or string.sub(waiter, 1, #ARGV[3] + 1) ~= ARGV[3] .. '\n' then return {'gone'} end
elseif redis.call('HEXISTS', KEYS[5], ARGV[1]) == 0 then
  return {'gone'}
end
local size = tonumber(redis.call('HGET', KEYS[1], 'size') or '0') + #ARGV[12]
if size > tonumber(ARGV[13]) then return {'large'} end
-- An answer by the waiter takes the place of its stored timeout message, so
-- a full backlog does not refuse it.
local replaces = by_waiter and redis.call('EXISTS', KEYS[11]) == 1
if not replaces then
  local refused = publish_refusal(KEYS[10], ARGV[5], ARGV[14], ARGV[15], nil, ARGV[4], 0)
  if refused then return refused end
end
if by_waiter then
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[4], ARGV[2])
  local detail = redis.call('HGET', KEYS[11], 'ev')
  if detail then
    redis.call('ZREM', KEYS[8], ARGV[3])
    backlog_release(KEYS[10], KEYS[11])
    redis.call('DEL', KEYS[11])
    log_event(KEYS[9], ARGV[3], 'CANCELED', detail, ARGV[10])
  end
else
  redis.call('HDEL', KEYS[5], ARGV[1])
end
redis.call('RPUSH', KEYS[2], ARGV[12])
redis.call('HSET', KEYS[1], 'size', size)
create_message(KEYS[6], KEYS[7], KEYS[8], KEYS[9], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10],
  ARGV[11])
backlog_add(KEYS[10], ARGV[5])
return {'ok'}
