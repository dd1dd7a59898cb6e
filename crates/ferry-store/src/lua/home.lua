-- The tenant's home partition (see the crate doc, "Placement"): the one
-- recorded, or `computed`, recorded now, when none is recorded or the
-- recorded one is beyond the partition count (no deliverer reads it).
-- KEYS: 1 home
-- ARGV: 1 computed  2 partitions
local home = tonumber(redis.call('GET', KEYS[1]) or '')
if home and home < tonumber(ARGV[2]) then return home end
redis.call('SET', KEYS[1], ARGV[1])
return tonumber(ARGV[1])
