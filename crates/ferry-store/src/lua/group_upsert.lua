-- Adds endpoints to a tenant's URL group, creating the group if needed; an
-- endpoint already in the group (same URL) takes the given name. Nothing
-- changes when the group would end up with more than `max` endpoints.
-- KEYS: 1 group names (set)  2 group (hash: created_at, updated_at, u:<url> = name)
-- ARGV: 1 group name  2 now_ms  3 max endpoints, then per endpoint: url, name
--       ('' for none)
-- Returns 1 when added, 0 when the group would be too large.
local count = 0
if redis.call('EXISTS', KEYS[2]) == 1 then count = redis.call('HLEN', KEYS[2]) - 2 end
local seen = {}
for i = 4, #ARGV, 2 do
  local field = 'u:' .. ARGV[i]
  if not seen[field] and redis.call('HEXISTS', KEYS[2], field) == 0 then count = count + 1 end
  seen[field] = true
end
if count > tonumber(ARGV[3]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('HSETNX', KEYS[2], 'created_at', ARGV[2])
redis.call('HSET', KEYS[2], 'updated_at', ARGV[2])
for i = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[2], 'u:' .. ARGV[i], ARGV[i + 1])
end
return 1
