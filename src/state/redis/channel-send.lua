-- RedisStore send (src/state/redis.ts): quota check, append and wake-up in one atomic step.
-- KEYS[1] the channel's list, KEYS[2] totals hash
-- ARGV[1] encoded message, ARGV[2] maxQueuedMessages, ARGV[3] maxQueuedBytes,
-- ARGV[4] the pub/sub channel receivers listen on, ARGV[5] the channel's name (what they are told)
-- Returns {1} when queued, else {0, count, bytes} for the caller's error text.
local list, totals = KEYS[1], KEYS[2]
local body = ARGV[1]
local count = tonumber(redis.call('HGET', totals, 'qc') or '0')
local bytes = tonumber(redis.call('HGET', totals, 'qb') or '0')
if count + 1 > tonumber(ARGV[2]) or bytes + string.len(body) > tonumber(ARGV[3]) then return { 0, count, bytes } end
redis.call('RPUSH', list, body)
redis.call('HINCRBY', totals, 'qc', 1)
redis.call('HINCRBY', totals, 'qb', string.len(body))
redis.call('PUBLISH', ARGV[4], ARGV[5])
return { 1 }
