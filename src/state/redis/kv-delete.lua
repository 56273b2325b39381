-- RedisStore delete (src/state/redis.ts): the entry and its share of the totals together.
-- KEYS[1] kv hash, KEYS[2] totals hash; ARGV[1] key, ARGV[2] UTF-8 bytes of the key
-- Returns 1 when a value was there, else 0.
local kv, totals = KEYS[1], KEYS[2]
local key = ARGV[1]
if redis.call('HEXISTS', kv, key) == 0 then return 0 end
local size = tonumber(ARGV[2]) + redis.call('HSTRLEN', kv, key)
redis.call('HDEL', kv, key)
redis.call('HINCRBY', totals, 'kc', -1)
redis.call('HINCRBY', totals, 'kb', -size)
return 1
