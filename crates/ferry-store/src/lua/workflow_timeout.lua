-- A deliverer claimed the timeout message of a wait (see the `waiters`
-- module). While the run is active and still waits with this message, the
-- waiter goes and the message's raw step joins the step list; a retry finds
-- its step there already. Otherwise the wait was resolved or the run ended:
-- the message is deleted, and the caller skips it.
-- KEYS: 1 run  2 steps  3 waiters  4 index  5 msg  6 events  7 backlog counts
-- ARGV: 1 event id  2 index member  3 msg id  4 raw step  5 events_retention
-- Returns {'ok'} | {'gone'}
local waiter = redis.call('HGET', KEYS[3], ARGV[1])
if redis.call('HGET', KEYS[1], 'state') == 'RUN_STARTED' and waiter
    and string.sub(waiter, 1, #ARGV[3] + 1) == ARGV[3] .. '\n' then
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[4], ARGV[2])
  redis.call('RPUSH', KEYS[2], ARGV[4])
  redis.call('HINCRBY', KEYS[1], 'size', #ARGV[4])
  return {'ok'}
end
if redis.call('LPOS', KEYS[2], ARGV[4]) then return {'ok'} end
local detail = redis.call('HGET', KEYS[5], 'ev')
if detail then
  backlog_release(KEYS[7], KEYS[5])
  redis.call('DEL', KEYS[5])
  log_event(KEYS[6], ARGV[3], 'CANCELED', detail, ARGV[5])
end
return {'gone'}
