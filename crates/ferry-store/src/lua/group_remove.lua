-- Removes endpoints (by URL or by name) from a URL group; a group left
-- without endpoints is deleted.
-- KEYS: 1 group names (set)  2 group (hash)
-- ARGV: 1 group name  2 now_ms  3 number of urls, then the urls, then the names
-- Returns 0 when the group does not exist, 1 otherwise.
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local n_urls = tonumber(ARGV[3])
local names = {}
for i = 4 + n_urls, #ARGV do names[ARGV[i]] = true end
for i = 4, 3 + n_urls do redis.call('HDEL', KEYS[2], 'u:' .. ARGV[i]) end
local fields = redis.call('HGETALL', KEYS[2])
local left = 0
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 2) == 'u:' then
    if names[fields[i + 1]] then
      redis.call('HDEL', KEYS[2], fields[i])
    else
      left = left + 1
    end
  end
end
if left == 0 then
  redis.call('DEL', KEYS[2])
  redis.call('SREM', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[2], 'updated_at', ARGV[2])
end
return 1
