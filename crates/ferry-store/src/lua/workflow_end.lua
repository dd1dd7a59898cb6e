-- Ends an active workflow run: success (with the app's response), failed, or
-- cancelled. Cancelling deletes the run's pending step messages; the caller
-- read the step list first and names their hashes, and the script refuses
-- ('moved') when the list has grown since, so the caller reads it again.
-- Every end removes the run's waiters (and their entries in the partition's
-- index) and its lookback events; their timeout messages are dropped when
-- they come due (see the `waiters` module). Both keys of the run then expire
-- after the retention. With a generation (ARGV 8, the run's `created` ms),
-- only that run is ended: a run since started under the same id answers as
-- no run.
-- KEYS: 1 run  2 steps  3 delayed  4 events  5 backlog counts  6 waiters
--       7 waiter index  8 lookback  9.. msg (one per step, cancel only)
-- ARGV: 1 new state  2 now_ms  3 response  4 retention_ms  5 events_retention
--       6 steps read by the caller  7 run id  8 generation ('' for any)
--       9.. message ids (in KEYS order from 9)
-- Returns {'none'} | {'moved'} | {state before}
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'none'} end
if ARGV[8] ~= '' and redis.call('HGET', KEYS[1], 'created') ~= ARGV[8] then return {'none'} end
if state ~= 'RUN_STARTED' then return {state} end
if ARGV[1] == 'RUN_CANCELED' then
  if redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[6]) then return {'moved'} end
  for i = 9, #KEYS do
    local id = ARGV[i]
    local fields = redis.call('HMGET', KEYS[i], 'state', 'ev')
    if fields[1] == 'pending' then
      redis.call('ZREM', KEYS[3], id)
      backlog_release(KEYS[5], KEYS[i])
      redis.call('DEL', KEYS[i])
      log_event(KEYS[4], id, 'CANCELED', fields[2] or '', ARGV[5])
    end
  end
end
for _, event in ipairs(redis.call('HKEYS', KEYS[6])) do
  redis.call('ZREM', KEYS[7], event .. '\n' .. ARGV[7])
end
redis.call('DEL', KEYS[6], KEYS[8])
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'completed', ARGV[2], 'response', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return {state}
