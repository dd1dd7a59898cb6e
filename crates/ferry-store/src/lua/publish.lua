-- Stores a published message, unless the backlog is full or it is a duplicate.
-- KEYS: 1 msg  2 ready  3 delayed  4 events  5 backlog counts  [6 dedup]
-- ARGV: 1 id  2 tenant  3 spec  4 body  5 due_ms  6 now_ms  7 max_backlog
--       8 events_retention  9 dedup_ttl_ms  10 event detail
--       11 max_tenant_backlog
-- Returns {'ok'} | {'dup', original_id} | {'full', 'total' | 'tenant'}
local refused = publish_refusal(KEYS[5], ARGV[2], ARGV[7], ARGV[11], KEYS[6], ARGV[1], ARGV[9])
if refused then return refused end
create_message(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[8],
  ARGV[10])
backlog_add(KEYS[5], ARGV[2])
return {'ok'}
