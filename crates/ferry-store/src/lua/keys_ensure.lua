-- Stores a tenant's initial signing keys unless it has some; returns the keys in force.
-- KEYS: 1 keys  ARGV: 1 current  2 next
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'current', ARGV[1], 'next', ARGV[2])
end
return redis.call('HMGET', KEYS[1], 'current', 'next')
