-- Helpers shared by every Ferry script; concatenated in front of each one.

-- Appends a state change to a tenant's events stream (its log). `retention`
-- is `<max length>:<max age ms>`: length 0 disables the log, age 0 keeps
-- lines of any age. Lines older than the age before the new line's time are
-- trimmed exactly (no `~`): approximate trimming drops only whole stream
-- nodes, so a quiet log would list lines long past the bound.
local function log_event(key, id, state, detail, retention)
  local maxlen, max_age = string.match(retention, '^(%d+):(%d+)$')
  if tonumber(maxlen) > 0 then
    local entry = redis.call('XADD', key, 'MAXLEN', '~', maxlen, '*', 'm', id, 's', state, 'd', detail)
    if tonumber(max_age) > 0 then
      local ms = tonumber(string.match(entry, '^(%d+)'))
      redis.call('XTRIM', key, 'MINID', math.max(0, ms - tonumber(max_age)))
    end
  end
end

-- Stores a new message and makes it deliverable: ready now, or delayed until due.
-- `detail` is the message's event-log detail, kept as field `ev` for the
-- lines written later without the spec at hand (cancel).
local function create_message(msg, ready, delayed, events, id, tenant, spec, body, due, now, retention, detail)
  redis.call('HSET', msg, 'tenant', tenant, 'spec', spec, 'body', body, 'retried', 0,
    'state', 'pending', 'ev', detail)
  if tonumber(due) > tonumber(now) then
    redis.call('ZADD', delayed, due, id)
  else
    redis.call('XADD', ready, '*', 'm', id)
  end
  log_event(events, id, 'CREATED', detail, retention)
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

-- Admits waiting messages of a queue to the ready stream while it has room
-- (fewer than `parallelism` active) and is not paused, oldest first.
local function queue_dispatch(queue, waiting, ready)
  local fields = redis.call('HMGET', queue, 'parallelism', 'paused', 'active')
  if not fields[1] or fields[2] == '1' then return end
  local parallelism, active = tonumber(fields[1]), tonumber(fields[3] or '0')
  while active < parallelism do
    local id = redis.call('LPOP', waiting)
    if not id then break end
    redis.call('XADD', ready, '*', 'm', id)
    active = active + 1
  end
  redis.call('HSET', queue, 'active', active)
end

-- Frees the slot of a queue message that finished, and admits the next.
local function queue_release(queue, waiting, ready)
  local active = redis.call('HGET', queue, 'active')
  if not active then return end
  redis.call('HSET', queue, 'active', math.max(0, tonumber(active) - 1))
  queue_dispatch(queue, waiting, ready)
end

-- Stores a message of the queue `name` (creating the queue with parallelism
-- 1) at the end of its waiting list, and admits what has room: an enqueue,
-- or a queue message's dead letter retried into its queue.
local function enqueue_message(msg, ready, events, queue, waiting, id, tenant, spec, body, now, retention, detail,
                               name)
  if redis.call('EXISTS', queue) == 0 then
    redis.call('HSET', queue, 'parallelism', 1, 'paused', 0, 'active', 0, 'created_at', now, 'updated_at', now)
  end
  redis.call('HSET', msg, 'tenant', tenant, 'spec', spec, 'body', body, 'retried', 0,
    'state', 'pending', 'ev', detail, 'q', name)
  redis.call('RPUSH', waiting, id)
  log_event(events, id, 'CREATED', detail, retention)
  queue_dispatch(queue, waiting, ready)
end
