-- Moves a claimed ready entry of a flow-controlled message that holds no
-- slot (it became due after a delay, a retry's backoff or a deferral) to the
-- back of its key's waiting list, and admits what the limits allow.
-- KEYS: 1 ready  2 msg  3 flow  4 waiting  5 wake  6 lease (of the consumer)
-- ARGV: 1 group  2 entry  3 id  4 consumer  5 now_ms  6 member
-- Returns 1 waiting, 0 the message is gone (entry acknowledged), -1 not the owner.
local own = ownership(KEYS[1], KEYS[6], ARGV[1], ARGV[2], ARGV[4])
if own ~= 1 then return own end
ack(KEYS[1], ARGV[1], ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'fc', ARGV[6])
redis.call('RPUSH', KEYS[4], ARGV[3])
flow_dispatch(KEYS[3], KEYS[4], KEYS[1], KEYS[5], ARGV[6], tonumber(ARGV[5]))
return 1
