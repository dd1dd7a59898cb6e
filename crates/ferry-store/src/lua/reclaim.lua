-- Takes over the pending entries of a consumer whose lease is gone: it
-- crashed, was paused past its lease, or lost Redis for that long. A lease
-- never comes back once gone, so the check and the claim need no more than
-- this one step. Once the dead consumer has nothing pending, it is removed
-- from the group, so consumers of restarted deliverers do not pile up.
-- KEYS: 1 ready  2 lease of the dead consumer  3 lease of the claimer
-- ARGV: 1 group  2 dead consumer  3 claimer  4 most entries to take
-- Returns the claimed entries as XCLAIM does ({id, {field, value, ...}}
-- each), an empty list when the consumer is alive, or an error NOLEASE when
-- the claimer itself holds no lease.
if redis.call('EXISTS', KEYS[2]) == 1 then return {} end
if redis.call('EXISTS', KEYS[3]) == 0 then
  return redis.error_reply('NOLEASE the reclaiming consumer holds no lease')
end
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', ARGV[4], ARGV[2])
local claimed = {}
if #pending > 0 then
  local ids = {}
  for i, p in ipairs(pending) do ids[i] = p[1] end
  claimed = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, unpack(ids))
end
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) == 0 then
  redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
end
return claimed
