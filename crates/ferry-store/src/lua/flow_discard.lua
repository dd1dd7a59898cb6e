-- Acknowledges an admitted entry whose message is gone (cancelled after its
-- admission) and frees the slot it held, once: a second discard of the same
-- entry finds nothing pending.
-- KEYS: 1 ready  2 flow  3 waiting  4 wake
-- ARGV: 1 group  2 entry  3 member  4 now_ms
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('XDEL', KEYS[1], ARGV[2])
  flow_release(KEYS[2], KEYS[3], KEYS[1], KEYS[4], ARGV[3], tonumber(ARGV[4]))
end
return 1
