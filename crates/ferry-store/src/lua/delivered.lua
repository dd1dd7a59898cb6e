-- Records a batch of successful deliveries: ack, forget the message, log it.
-- The consumer recording them must still hold its lease: one whose lease is
-- gone may have had its entries taken over, so it records nothing (-1).
-- An entry that is no longer pending was handled elsewhere (cancelled, or
-- finished by another deliverer) and is skipped.
-- A queue message's delivery frees its slot (when its hash names a queue).
-- The batch's stream deletions, backlog releases and log trims are made
-- once each at the end: within one script nobody sees the difference.
-- KEYS: 1 ready  2 lease (of the consumer)  3 backlog counts, then per
--       message: msg, events, queue, waiting
-- ARGV: 1 group  2 events_retention, then per message: entry, id, detail
-- Returns the number recorded, or -1 when the lease is gone.
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
local acked, released, logs = {}, {}, {}
local n = (#KEYS - 3) / 4
for i = 0, n - 1 do
  local msg, events = KEYS[4 + 4 * i], KEYS[5 + 4 * i]
  local entry, id, detail = ARGV[3 + 3 * i], ARGV[4 + 3 * i], ARGV[5 + 3 * i]
  if redis.call('XACK', KEYS[1], ARGV[1], entry) == 1 then
    acked[#acked + 1] = entry
    local fields = redis.call('HMGET', msg, 'q', 'b', 'tenant')
    if fields[1] then
      queue_release(KEYS[6 + 4 * i], KEYS[7 + 4 * i], KEYS[1])
    end
    if fields[2] == '1' then released[fields[3]] = (released[fields[3]] or 0) + 1 end
    redis.call('DEL', msg)
    logs[events] = log_line(events, id, 'DELIVERED', detail, ARGV[2])
  end
end
if #acked == 0 then return 0 end
redis.call('XDEL', KEYS[1], unpack(acked))
backlog_uncount_all(KEYS[3], released)
for events, entry in pairs(logs) do log_trim(events, entry, ARGV[2]) end
return #acked
