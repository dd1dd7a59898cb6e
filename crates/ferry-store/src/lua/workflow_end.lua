-- Ends an active workflow run: success (with the app's response), failed, or
-- cancelled. Cancelling deletes the run's pending step messages; the caller
-- read the step list first and names their hashes, and the script refuses
-- ('moved') when the list has grown since, so the caller reads it again.
-- Both keys of the run then expire after the retention. With a generation
-- (ARGV 7, the run's `created` ms), only that run is ended: a run since
-- started under the same id answers as no run.
-- KEYS: 1 run  2 steps  3 delayed  4 events  5 backlog counts  6.. msg (one per
--       step, cancel only)
-- ARGV: 1 new state  2 now_ms  3 response  4 retention_ms  5 events_retention
--       6 steps read by the caller  7 generation ('' for any)  8.. message ids
--       (in KEYS order from 6)
-- Returns {'none'} | {'moved'} | {state before}
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'none'} end
if ARGV[7] ~= '' and redis.call('HGET', KEYS[1], 'created') ~= ARGV[7] then return {'none'} end
if state ~= 'RUN_STARTED' then return {state} end
if ARGV[1] == 'RUN_CANCELED' then
  if redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[6]) then return {'moved'} end
  for i = 6, #KEYS do
    local id = ARGV[i + 2]
    local fields = redis.call('HMGET', KEYS[i], 'state', 'ev')
    if fields[1] == 'pending' then
      redis.call('ZREM', KEYS[3], id)
      backlog_release(KEYS[5], KEYS[i])
      redis.call('DEL', KEYS[i])
      log_event(KEYS[4], id, 'CANCELED', fields[2] or '', ARGV[5])
    end
  end
end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'completed', ARGV[2], 'response', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return {state}
