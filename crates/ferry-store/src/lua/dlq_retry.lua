-- Replaces a dead letter by a new message with the same body (copied inside
-- Redis) and the given spec, in the same partition. A dead letter of a queue
-- message goes back into its queue and waits for a slot like any enqueued
-- message (its dead letter lives in the queue's partition).
-- KEYS: 1 old msg  2 dlq  3 new msg  4 ready  5 delayed  6 events  7 queue
--       8 waiting (of the queue the new spec names)  9 backlog counts
-- ARGV: 1 tenant  2 new_id  3 new_spec  4 due_ms  5 now_ms  6 events_retention  7 event detail
--       8 queue name ('' for none)
-- Returns 1 retried, 0 not found.
local fields = redis.call('HMGET', KEYS[1], 'tenant', 'state', 'dlq_entry', 'body')
if fields[1] ~= ARGV[1] or fields[2] ~= 'dead' then return 0 end
redis.call('XDEL', KEYS[2], fields[3])
redis.call('DEL', KEYS[1])
if ARGV[8] == '' then
  create_message(KEYS[3], KEYS[4], KEYS[5], KEYS[6], ARGV[2], ARGV[1], ARGV[3], fields[4], ARGV[4], ARGV[5], ARGV[6],
    ARGV[7])
else
  enqueue_message(KEYS[3], KEYS[4], KEYS[6], KEYS[7], KEYS[8], ARGV[2], ARGV[1], ARGV[3], fields[4], ARGV[5], ARGV[6],
    ARGV[7], ARGV[8])
end
backlog_add(KEYS[9], ARGV[1])
return 1
