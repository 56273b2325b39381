-- RedisStore set (src/state/redis.ts): the quota check and the write in one atomic step,
-- so stores on other machines cannot both pass the check and go over together.
-- KEYS[1] kv hash, KEYS[2] totals hash
-- ARGV[1] key, ARGV[2] encoded value, ARGV[3] UTF-8 bytes of the key, ARGV[4] maxKeys, ARGV[5] maxKvBytes
-- Returns {1} when stored, else {0, count, bytes, old} (old -1: a new key) for the caller's error text.
local kv, totals = KEYS[1], KEYS[2]
local key, value = ARGV[1], ARGV[2]
local keyBytes, maxKeys, maxKvBytes = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local count = tonumber(redis.call('HGET', totals, 'kc') or '0')
local bytes = tonumber(redis.call('HGET', totals, 'kb') or '0')
local exists = redis.call('HEXISTS', kv, key) == 1
local old = 0
if exists then old = keyBytes + redis.call('HSTRLEN', kv, key) end
local size = keyBytes + string.len(value)
if not exists and count + 1 > maxKeys then return { 0, count, bytes, -1 } end
if bytes - old + size > maxKvBytes then return { 0, count, bytes, exists and old or -1 } end
redis.call('HSET', kv, key, value)
redis.call('HINCRBY', totals, 'kb', size - old)
if not exists then redis.call('HINCRBY', totals, 'kc', 1) end
return { 1 }
