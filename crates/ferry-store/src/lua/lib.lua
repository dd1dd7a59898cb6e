-- Helpers shared by every Ferry script; concatenated in front of each one.

-- Appends a line to a tenant's log without the trim by age (see log_event);
-- returns its entry id, or nil when the log is disabled.
local function log_line(key, id, state, detail, retention)
  local maxlen = string.match(retention, '^(%d+):%d+$')
  if tonumber(maxlen) == 0 then return nil end
  return redis.call('XADD', key, 'MAXLEN', '~', maxlen, '*', 'm', id, 's', state, 'd', detail)
end

-- Trims the lines older than the age bound before `entry` (see log_event).
-- One trim after the last of several lines of a log has the effect of one
-- after each.
local function log_trim(key, entry, retention)
  local max_age = tonumber(string.match(retention, '^%d+:(%d+)$'))
  if not entry or max_age == 0 then return end
  local ms = tonumber(string.match(entry, '^(%d+)'))
  redis.call('XTRIM', key, 'MINID', math.max(0, ms - max_age))
end

-- Appends a state change to a tenant's events stream (its log). `retention`
-- is `<max length>:<max age ms>`: length 0 disables the log, age 0 keeps
-- lines of any age. Lines older than the age before the new line's time are
-- trimmed exactly (no `~`): approximate trimming drops only whole stream
-- nodes, so a quiet log would list lines long past the bound.
local function log_event(key, id, state, detail, retention)
  log_trim(key, log_line(key, id, state, detail, retention), retention)
end

-- The partition's backlog counts (see the crate doc): a hash of the messages
-- stored and not yet finished (ready, delayed, in flight, or waiting in a
-- queue or under a flow-control key) per tenant, and of all tenants under
-- '*' (no tenant name contains it). A message is counted once, when it is
-- created, and marked so (`b` in its hash): the helpers below that store a
-- message write the mark with its other fields, and every script that calls
-- them counts the message with backlog_add. It is released when it leaves:
-- delivered, dead-lettered or cancelled.
local function backlog_add(counts, tenant)
  redis.call('HINCRBY', counts, '*', 1)
  redis.call('HINCRBY', counts, tenant, 1)
end

local function backlog_decrement(counts, field, by)
  if redis.call('HINCRBY', counts, field, -by) <= 0 then redis.call('HDEL', counts, field) end
end

-- Releases the counts of finished messages: `released` maps each tenant to
-- how many of its messages marked counted (`b`) finished.
local function backlog_uncount_all(counts, released)
  local total = 0
  for tenant, by in pairs(released) do
    backlog_decrement(counts, tenant, by)
    total = total + by
  end
  if total > 0 then backlog_decrement(counts, '*', total) end
end

-- Releases the count of a finished message whose mark (`b`) and tenant the
-- caller read, when it is marked (so messages stored before the counts
-- existed never push them below what they hold). The caller deletes the
-- hash, or the mark of a hash it keeps.
local function backlog_uncount(counts, mark, tenant)
  if mark == '1' then backlog_uncount_all(counts, {[tenant] = 1}) end
end

-- Releases a finished message's count, once: reads its mark, and removes it.
local function backlog_release(counts, msg)
  local fields = redis.call('HMGET', msg, 'b', 'tenant')
  if fields[1] ~= '1' then return end
  redis.call('HDEL', msg, 'b')
  backlog_uncount(counts, fields[1], fields[2])
end

-- Why a new message cannot be stored: {'full', 'total'} or {'full', 'tenant'}
-- when the partition's backlog of all tenants, or of this tenant, is at its
-- bound (0 for none); {'dup', original_id} for a duplicate (else the dedup
-- key is claimed for `id`); nil when it can.
local function publish_refusal(counts, tenant, max_total, max_tenant, dedup, id, dedup_ttl)
  local held = redis.call('HMGET', counts, '*', tenant)
  max_total, max_tenant = tonumber(max_total), tonumber(max_tenant)
  if max_total > 0 and tonumber(held[1] or '0') >= max_total then return {'full', 'total'} end
  if max_tenant > 0 and tonumber(held[2] or '0') >= max_tenant then return {'full', 'tenant'} end
  if dedup then
    local original = redis.call('SET', dedup, id, 'NX', 'PX', dedup_ttl, 'GET')
    if original then return {'dup', original} end
  end
  return nil
end

-- Stores a new message and makes it deliverable: ready now, or delayed until due.
-- `detail` is the message's event-log detail, kept as field `ev` for the
-- lines written later without the spec at hand (cancel).
local function create_message(msg, ready, delayed, events, id, tenant, spec, body, due, now, retention, detail)
  redis.call('HSET', msg, 'tenant', tenant, 'spec', spec, 'body', body, 'retried', 0,
    'state', 'pending', 'ev', detail, 'b', 1)
  if tonumber(due) > tonumber(now) then
    redis.call('ZADD', delayed, due, id)
  else
    redis.call('XADD', ready, '*', 'm', id)
  end
  log_event(events, id, 'CREATED', detail, retention)
end

-- 1 when `consumer` still owns the pending entry, 0 when nobody does (already
-- acknowledged), -1 when its lease is gone or another consumer reclaimed it:
-- a deliverer that was paused or cut off past its lease must not record an
-- outcome (fencing; see the crate doc on leases).
local function ownership(ready, lease, group, entry, consumer)
  if redis.call('EXISTS', lease) == 0 then return -1 end
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

-- Flow control (see the crate doc): a key's hash holds its limits `par`,
-- `rate` (0 for none) and `period` (ms), `active` (admitted attempts not yet
-- recorded), the rate window `wstart` (ms) and `wcount`, `paused`, and the
-- pins `pinp` and `pinr`.

-- Takes a slot for one attempt if the key's limits allow it at `now`.
-- Returns true; or false, plus the ms at which the window reopens when the
-- rate is what stops it.
local function flow_take(flow, now)
  local f = redis.call('HMGET', flow, 'par', 'rate', 'period', 'active', 'wstart', 'wcount', 'paused')
  if f[7] == '1' then return false end
  local par, rate, period = tonumber(f[1] or '0'), tonumber(f[2] or '0'), tonumber(f[3] or '1000')
  local active, wstart, wcount = tonumber(f[4] or '0'), tonumber(f[5] or '0'), tonumber(f[6] or '0')
  if par > 0 and active >= par then return false end
  if now >= wstart + period then
    wstart, wcount = now, 0
  end
  if rate > 0 and wcount >= rate then return false, wstart + period end
  redis.call('HSET', flow, 'active', active + 1, 'wstart', wstart, 'wcount', wcount + 1)
  return true
end

-- An idle key (nothing in flight or waiting, not paused or pinned) expires a
-- day after its window would end; any other is kept.
local function flow_expire(flow, waiting)
  local f = redis.call('HMGET', flow, 'active', 'paused', 'pinp', 'pinr', 'period')
  local idle = (f[1] or '0') == '0' and f[2] ~= '1' and f[3] ~= '1' and f[4] ~= '1'
  if idle and redis.call('LLEN', waiting) == 0 then
    redis.call('PEXPIRE', flow, tonumber(f[5] or '1000') + 86400000)
  else
    redis.call('PERSIST', flow)
  end
end

-- Admits a key's waiting messages to the ready stream, oldest first, while
-- its limits allow. Each entry names the key (`f`), so whoever records or
-- discards it frees the slot. When the rate stops it, the key is registered
-- in the wake set for when its window reopens.
local function flow_dispatch(flow, waiting, ready, wake, member, now)
  while redis.call('LLEN', waiting) > 0 do
    local ok, reopens = flow_take(flow, now)
    if not ok then
      if reopens then redis.call('ZADD', wake, reopens, member) end
      break
    end
    redis.call('XADD', ready, '*', 'm', redis.call('LPOP', waiting), 'f', member)
  end
  flow_expire(flow, waiting)
end

-- Frees the slot of a recorded or discarded attempt, and admits the next.
local function flow_release(flow, waiting, ready, wake, member, now)
  local active = tonumber(redis.call('HGET', flow, 'active') or '0')
  redis.call('HSET', flow, 'active', math.max(0, active - 1))
  flow_dispatch(flow, waiting, ready, wake, member, now)
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
    'state', 'pending', 'ev', detail, 'q', name, 'b', 1)
  redis.call('RPUSH', waiting, id)
  log_event(events, id, 'CREATED', detail, retention)
  queue_dispatch(queue, waiting, ready)
end

-- Applies the limits a new message of the key carries, except pinned ones.
local function flow_configure(flow, now, par, rate, period)
  redis.call('HSETNX', flow, 'created', now)
  local pins = redis.call('HMGET', flow, 'pinp', 'pinr')
  if pins[1] ~= '1' then redis.call('HSET', flow, 'par', par) end
  if pins[2] ~= '1' then redis.call('HSET', flow, 'rate', rate, 'period', period) end
end

-- Gives an enqueued message its flow-control key: the message names it
-- (`fc`), and its limits become the key's, which is kept until the message
-- reaches it. The message first waits for its turn in the queue, holding
-- its queue slot from admission on; the deliverer then moves the admitted
-- entry, which holds no key slot, to the key's waiting list (flow_wait.lua).
local function flow_hold(msg, flow, member, now, par, rate, period)
  flow_configure(flow, now, par, rate, period)
  redis.call('PERSIST', flow)
  redis.call('HSET', msg, 'fc', member)
end

-- Stores a message published with a flow-control key (in the key's
-- partition). Its limits become the key's, except pinned ones. Due now, it
-- joins the key's waiting list and is admitted if the limits allow; delayed,
-- it waits in the delayed set and joins the list when it becomes ready (see
-- flow_wait.lua). `fc` in its hash names the key.
local function flow_create(msg, ready, delayed, events, flow, waiting, wake, id, tenant, spec, body, due, now,
                           retention, detail, member, par, rate, period)
  now = tonumber(now)
  flow_configure(flow, now, par, rate, period)
  if tonumber(due) > now then
    create_message(msg, ready, delayed, events, id, tenant, spec, body, due, now, retention, detail)
    -- Kept until a later admission finds it idle, so the limits are there
    -- when the message becomes due.
    redis.call('PERSIST', flow)
  else
    redis.call('HSET', msg, 'tenant', tenant, 'spec', spec, 'body', body, 'retried', 0,
      'state', 'pending', 'ev', detail, 'b', 1)
    log_event(events, id, 'CREATED', detail, retention)
    redis.call('RPUSH', waiting, id)
    flow_dispatch(flow, waiting, ready, wake, member, now)
  end
  redis.call('HSET', msg, 'fc', member)
end
