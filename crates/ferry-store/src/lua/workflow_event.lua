-- Stores a lookback event for an active workflow run (see the `waiters`
-- module), unless the run waits for it: then that waiter is returned, for
-- the caller to resolve. A run holds a bounded number of lookback events.
-- KEYS: 1 run  2 waiters  3 lookback
-- ARGV: 1 event id  2 data  3 max events
-- Returns {'stored'} | {'waiting', waiter value} | {'inactive'} | {'full'}
if redis.call('HGET', KEYS[1], 'state') ~= 'RUN_STARTED' then return {'inactive'} end
local waiter = redis.call('HGET', KEYS[2], ARGV[1])
if waiter then return {'waiting', waiter} end
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 0 and redis.call('HLEN', KEYS[3]) >= tonumber(ARGV[3]) then
  return {'full'}
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return {'stored'}
