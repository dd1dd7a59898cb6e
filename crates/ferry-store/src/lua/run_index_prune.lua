-- Removes stale members from a tenant's run index: a member whose run is
-- gone (expired) or is now a newer run with the same id.
-- KEYS: 1 run index  2.. run (one per member)
-- ARGV: 1.. index members (in KEYS order from 2)
-- Returns the number removed.
local removed = 0
for i = 2, #KEYS do
  local member = ARGV[i - 1]
  if redis.call('HGET', KEYS[i], 'idx') ~= member then
    removed = removed + redis.call('ZREM', KEYS[1], member)
  end
end
return removed
