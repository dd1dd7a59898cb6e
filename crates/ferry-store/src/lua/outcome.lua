-- Records the outcome of one attempt atomically with its acknowledgement:
-- delivered, retry (schedule the next attempt), dead (move to the DLQ) or
-- defer (put back unchanged, e.g. its destination is saturated), and creates
-- the callback messages that the outcome triggers.
-- A final outcome (delivered, dead) of a queue message frees its slot in the
-- queue its hash names (`q`); a retry keeps it. When the final outcome has
-- callbacks, they take over the slot instead (each holds a share, and the
-- deliverer named the queue in their specs), so the queue's next message
-- waits for them too.
-- Any outcome frees the flow-control slot the attempt held, even when the
-- message was cancelled meanwhile.
-- KEYS: 1 ready  2 delayed  3 msg  4 events  5 dlq  6 queue  7 waiting (of the
--       queue the deliverer read from the spec)  8 flow  9 flow waiting
--       10 flow wake (of the slot's key)  11 lease (of the consumer)
--       12 backlog counts, then one msg key per new message
-- ARGV: 1 group  2 entry  3 id  4 consumer  5 kind  6 due_ms  7 retried
--       8 status  9 response_headers  10 response_body  11 error  12 now_ms
--       13 events_retention  14 dlq_retention_ms  15 detail  16 tenant
--       17 flow slot member ('' for none),
--       then per new message: id, spec, body, due_ms, event detail
-- Returns 1 recorded, 0 nothing to do (already acked or cancelled), -1 not the
-- owner (its lease is gone, or the entry was reclaimed).
local own = ownership(KEYS[1], KEYS[11], ARGV[1], ARGV[2], ARGV[4])
if own ~= 1 then return own end
ack(KEYS[1], ARGV[1], ARGV[2])
if ARGV[17] ~= '' then
  flow_release(KEYS[8], KEYS[9], KEYS[1], KEYS[10], ARGV[17], tonumber(ARGV[12]))
end
-- Every stored message names its tenant: no tenant, no message.
local fields = redis.call('HMGET', KEYS[3], 'tenant', 'q', 'b')
if not fields[1] then return 0 end

local queue_hand_over = {}
local kind, id = ARGV[5], ARGV[3]
local queue = fields[2]
local callbacks = #KEYS - 12
if queue and (kind == 'delivered' or kind == 'dead') then
  if callbacks == 0 or redis.call('EXISTS', KEYS[6]) == 0 then
    queue_release(KEYS[6], KEYS[7], KEYS[1])
  else
    redis.call('HINCRBY', KEYS[6], 'active', callbacks - 1)
    for k = 13, #KEYS do
      queue_hand_over[#queue_hand_over + 1] = KEYS[k]
    end
  end
end
if kind == 'defer' then
  redis.call('ZADD', KEYS[2], ARGV[6], id)
  return 1
end
if kind == 'delivered' or kind == 'dead' then backlog_uncount(KEYS[12], fields[3], fields[1]) end
if kind == 'delivered' then
  redis.call('DEL', KEYS[3])
  log_event(KEYS[4], id, 'DELIVERED', ARGV[15], ARGV[13])
else
  redis.call('HSET', KEYS[3], 'retried', ARGV[7], 'status', ARGV[8], 'rhead', ARGV[9],
    'rbody', ARGV[10], 'error', ARGV[11])
  log_event(KEYS[4], id, 'ERROR', ARGV[15], ARGV[13])
  if kind == 'retry' then
    redis.call('ZADD', KEYS[2], ARGV[6], id)
    log_event(KEYS[4], id, 'RETRY', ARGV[15], ARGV[13])
  else
    local now = tonumber(ARGV[12])
    local retention = tonumber(ARGV[14])
    local entry = redis.call('XADD', KEYS[5], 'MINID', '~', math.max(0, now - retention), '*', 'm', id)
    redis.call('HSET', KEYS[3], 'state', 'dead', 'dlq_entry', entry, 'dead_at', now)
    redis.call('HDEL', KEYS[3], 'b')
    redis.call('PEXPIRE', KEYS[3], retention)
    log_event(KEYS[4], id, 'FAILED', ARGV[15], ARGV[13])
  end
end

local a = 18
for k = 13, #KEYS do
  create_message(KEYS[k], KEYS[1], KEYS[2], KEYS[4], ARGV[a], ARGV[16], ARGV[a + 1], ARGV[a + 2],
    ARGV[a + 3], ARGV[12], ARGV[13], ARGV[a + 4])
  backlog_add(KEYS[12], ARGV[16])
  a = a + 5
end
for _, msg in ipairs(queue_hand_over) do
  redis.call('HSET', msg, 'q', queue)
end
return 1
