-- Adds endpoints to a tenant's URL group, creating the group if needed; an
-- endpoint already in the group (same URL) takes the given name.
-- KEYS: 1 group names (set)  2 group (hash: created_at, updated_at, u:<url> = name)
-- ARGV: 1 group name  2 now_ms, then per endpoint: url, name ('' for none)
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('HSETNX', KEYS[2], 'created_at', ARGV[2])
redis.call('HSET', KEYS[2], 'updated_at', ARGV[2])
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[2], 'u:' .. ARGV[i], ARGV[i + 1])
end
return 1
