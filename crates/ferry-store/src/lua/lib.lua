-- Helpers shared by every Ferry script; concatenated in front of each one.

-- Appends a state change to a tenant's events stream (its log). Retention is
-- by length; 0 disables the log.
local function log_event(key, id, state, detail, maxlen)
  if tonumber(maxlen) > 0 then
    redis.call('XADD', key, 'MAXLEN', '~', maxlen, '*', 'm', id, 's', state, 'd', detail)
  end
end

-- Stores a new message and makes it deliverable: ready now, or delayed until due.
-- `detail` is the message's event-log detail, kept as field `ev` for the
-- lines written later without the spec at hand (cancel).
local function create_message(msg, ready, delayed, events, id, tenant, spec, body, due, now, maxlen, detail)
  redis.call('HSET', msg, 'tenant', tenant, 'spec', spec, 'body', body, 'retried', 0,
    'state', 'pending', 'ev', detail)
  if tonumber(due) > tonumber(now) then
    redis.call('ZADD', delayed, due, id)
  else
    redis.call('XADD', ready, '*', 'm', id)
  end
  log_event(events, id, 'CREATED', detail, maxlen)
end

-- 1 when `consumer` still owns the pending entry, 0 when nobody does (already
-- acknowledged), -1 when another consumer reclaimed it: a paused deliverer
-- that wakes up after its entry was reclaimed must not record an outcome.
local function ownership(ready, group, entry, consumer)
  local pending = redis.call('XPENDING', ready, group, entry, entry, 1)
  if #pending == 0 then return 0 end
  if pending[1][2] ~= consumer then return -1 end
  return 1
end

local function ack(ready, group, entry)
  redis.call('XACK', ready, group, entry)
  redis.call('XDEL', ready, entry)
end
