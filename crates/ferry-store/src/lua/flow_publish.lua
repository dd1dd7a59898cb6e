-- Stores a message published with a flow-control key, in the key's
-- partition, unless the backlog is full or it is a duplicate (see
-- flow_create in lib.lua).
-- KEYS: 1 msg  2 ready  3 delayed  4 events  5 flow  6 waiting  7 wake
--       8 backlog counts  [9 dedup]
-- ARGV: 1 id  2 tenant  3 spec  4 body  5 due_ms  6 now_ms  7 max_backlog
--       8 events_retention  9 dedup_ttl_ms  10 event detail  11 member
--       12 parallelism  13 rate  14 period_ms (0 for an unset limit)
--       15 max_tenant_backlog
-- Returns {'ok'} | {'dup', original_id} | {'full', 'total' | 'tenant'}
local refused = publish_refusal(KEYS[8], ARGV[2], ARGV[7], ARGV[15], KEYS[9], ARGV[1], ARGV[9])
if refused then return refused end
flow_create(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], ARGV[1], ARGV[2], ARGV[3], ARGV[4],
  ARGV[5], ARGV[6], ARGV[8], ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14])
backlog_add(KEYS[8], ARGV[2])
return {'ok'}
