-- Changes a flow-control key through the API, then admits what has room.
-- KEYS: 1 flow  2 waiting  3 ready  4 wake
-- ARGV: 1 op (pause | resume | pin | unpin | reset)  2 member  3 now_ms,
--       for pin: 4 parallelism  5 rate  6 period_ms ('' leaves one as it is),
--       for unpin: 4 parallelism  5 rate ('1' unpins it)
-- Returns 1 when the key exists (a pin creates it), 0 otherwise.
local op, now = ARGV[1], tonumber(ARGV[3])
if op ~= 'pin' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if op == 'pause' then
  redis.call('HSET', KEYS[1], 'paused', 1)
elseif op == 'resume' then
  redis.call('HSET', KEYS[1], 'paused', 0)
elseif op == 'pin' then
  redis.call('HSETNX', KEYS[1], 'created', now)
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'par', ARGV[4], 'pinp', 1) end
  if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'rate', ARGV[5], 'pinr', 1) end
  if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'period', ARGV[6], 'pinr', 1) end
  redis.call('HSET', KEYS[1], 'wstart', now, 'wcount', 0)
elseif op == 'unpin' then
  if ARGV[4] == '1' then redis.call('HSET', KEYS[1], 'pinp', 0) end
  if ARGV[5] == '1' then redis.call('HSET', KEYS[1], 'pinr', 0) end
elseif op == 'reset' then
  redis.call('HSET', KEYS[1], 'wstart', now, 'wcount', 0)
end
flow_dispatch(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[2], now)
return 1
