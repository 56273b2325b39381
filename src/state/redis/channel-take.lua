-- RedisStore take (src/state/redis.ts): the oldest message leaves the list and the totals
-- together, exactly once whichever machine asks.
-- KEYS[1] the channel's list, KEYS[2] totals hash. Returns the message, or false.
local body = redis.call('LPOP', KEYS[1])
if not body then return false end
redis.call('HINCRBY', KEYS[2], 'qc', -1)
redis.call('HINCRBY', KEYS[2], 'qb', -string.len(body))
return body
