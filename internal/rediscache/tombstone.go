package rediscache

import "time"

// A purge leaves a tombstone beside each of the token's entries: the
// purge's time in Unix milliseconds, under a key of its own. Get refuses
// an entry judged at or before it — one a replica judged before the purge
// and wrote after it, or a sealed value written back — so the purged
// verdict never returns; a verdict judged after the purge is shared again.
// It is kept longer than any verdict judged before the purge lives.
const TombstoneTTL = 24 * time.Hour

func (c *Cache) tombstoneKey(token, scope string) string {
	return c.opts.Prefix + "v1:purged:" + lookupKey(c.opts.Salt, token, scope)
}
