-- Admits the waiting messages of a key whose rate window reopened. Two
-- deliverers may wake the same key; admission re-checks the limits.
-- KEYS: 1 flow  2 waiting  3 ready  4 wake
-- ARGV: 1 member  2 now_ms
-- Returns when the key is to be woken again (its new window's end, when
-- messages still wait for it), or -1.
redis.call('ZREM', KEYS[4], ARGV[1])
flow_dispatch(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], tonumber(ARGV[2]))
local again = redis.call('ZSCORE', KEYS[4], ARGV[1])
if again then return tonumber(again) end
return -1
