-- RedisStore put-back (src/state/redis.ts): a message taken for a receiver that went away
-- meanwhile returns to the head of its channel (it was the oldest), and receivers are told.
-- KEYS[1] the channel's list, KEYS[2] totals hash
-- ARGV[1] the message, ARGV[2] the pub/sub channel, ARGV[3] the channel's name
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[2], 'qc', 1)
redis.call('HINCRBY', KEYS[2], 'qb', string.len(ARGV[1]))
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
