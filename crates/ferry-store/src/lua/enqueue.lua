-- Stores a message enqueued to a queue (creating the queue with parallelism
-- 1), unless the backlog is full or it is a duplicate, and admits it when the
-- queue has room. A message with a flow-control key also gets the key (see
-- flow_hold in lib.lua); the queue and the key share a partition.
-- KEYS: 1 msg  2 ready  3 delayed  4 events  5 queue  6 waiting  7 flow (of the
--       key the message names, any key of the partition for none)
--       8 backlog counts  [9 dedup]
-- ARGV: 1 id  2 tenant  3 spec  4 body  5 now_ms  6 max_backlog  7 events_retention
--       8 dedup_ttl_ms  9 event detail  10 queue name  11 flow member ('' for
--       none)  12 parallelism  13 rate  14 period_ms (0 for an unset limit)
--       15 max_tenant_backlog
-- Returns {'ok'} | {'dup', original_id} | {'full', 'total' | 'tenant'}
local refused = publish_refusal(KEYS[8], ARGV[2], ARGV[6], ARGV[15], KEYS[9], ARGV[1], ARGV[8])
if refused then return refused end
enqueue_message(KEYS[1], KEYS[2], KEYS[4], KEYS[5], KEYS[6], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[7],
  ARGV[9], ARGV[10])
if ARGV[11] ~= '' then
  flow_hold(KEYS[1], KEYS[7], ARGV[11], ARGV[5], ARGV[12], ARGV[13], ARGV[14])
end
backlog_add(KEYS[8], ARGV[2])
return {'ok'}
