"""Per-key rate limits: a GCRA (generic cell rate algorithm) run atomically inside Redis.

GCRA keeps one number per (key, action), the "theoretical arrival time", so every worker shares
one budget without a lock and a burst of a whole minute's allowance is possible, but never more.
Redis's own clock (``TIME``) is used so that workers with skewed clocks agree.
"""

from __future__ import annotations

import math

# KEYS[1]: the bucket; ARGV[1]: requests per period, ARGV[2]: period in ms.
# Returns {allowed (1/0), retry_after_ms, remaining}.
RATE_LIMIT_LUA = """
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = period / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - period
if allow_at > now then
  return {0, math.ceil(allow_at - now), 0}
end
redis.call('SET', KEYS[1], string.format('%d', math.ceil(new_tat)), 'PX', math.ceil(new_tat - now) + 1000)
return {1, 0, math.floor((period - (new_tat - now)) / interval)}
"""


def retry_after_seconds(retry_after_ms: int) -> int:
    """``Retry-After`` is whole seconds; round up so a client that obeys it is admitted."""
    return max(1, math.ceil(retry_after_ms / 1000))
