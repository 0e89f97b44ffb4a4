package rediscache

import (
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// A purge leaves a tombstone in each of the token's keys: a marker byte
// no sealed entry starts with (formatV1), then the purge's time in Unix
// milliseconds. Get reads it as a miss; Set writes over it only a verdict
// judged after the purge.
const formatTombstone = 't'

// TombstoneTTL is how long a purge is remembered: longer than any verdict
// judged before it lives (the cache TTL, an IdP's answer, a late writer).
const TombstoneTTL = 24 * time.Hour

func tombstone(at time.Time) []byte {
	return strconv.AppendInt([]byte{formatTombstone}, at.UnixMilli(), 10)
}

func isTombstone(b []byte) bool { return len(b) > 0 && b[0] == formatTombstone }

// setUnlessPurged sets KEYS[1] to ARGV[1] for ARGV[2] ms unless it holds
// a tombstone at or after ARGV[3] (the verdict's judged time, ms): one
// key, so it runs in a cluster too.
var setUnlessPurged = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.byte(v, 1) == 116 then
  local purged = tonumber(string.sub(v, 2))
  if purged and tonumber(ARGV[3]) <= purged then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)
