package geo

import (
	"encoding/binary"
	"math/bits"
	"net/netip"

	lru "github.com/hashicorp/golang-lru/v2"
)

// maxCacheShards is the most shards a cache is split into. lru.Cache takes an
// exclusive lock even to read (Get reorders its list), so a single cache would
// serialise every request on it. The count is fixed rather than derived from
// GOMAXPROCS because GOMAXPROCS can change while the process runs (the Go
// runtime follows container CPU limits), and 64 is at least 2×GOMAXPROCS on
// the machines this is likely to run on.
const maxCacheShards = 64

// minShardSize keeps small caches from being cut into shards so small that
// their LRU order means nothing.
const minShardSize = 64

// cache remembers the country of recently seen addresses. It belongs to one
// Database: a new database generation starts with an empty cache, so stale
// answers never survive a reload.
type cache struct {
	shards []*lru.Cache[netip.Addr, string]
	shift  uint // 64 - log2(len(shards))
}

func newCache(size int) (*cache, error) {
	n := maxCacheShards
	for n > 1 && size/n < minShardSize {
		n /= 2
	}
	perShard := (size + n - 1) / n
	c := &cache{
		shards: make([]*lru.Cache[netip.Addr, string], n),
		shift:  uint(64 - bits.TrailingZeros(uint(n))),
	}
	for i := range c.shards {
		s, err := lru.New[netip.Addr, string](perShard)
		if err != nil {
			return nil, err
		}
		c.shards[i] = s
	}
	return c, nil
}

// shard picks the shard for ip with a multiplicative hash of the address bits:
// cheap, and it spreads neighbouring addresses (which share their high bits)
// across shards.
func (c *cache) shard(ip netip.Addr) *lru.Cache[netip.Addr, string] {
	if len(c.shards) == 1 {
		return c.shards[0]
	}
	a := ip.As16()
	h := binary.BigEndian.Uint64(a[:8]) ^ binary.BigEndian.Uint64(a[8:])
	h *= 0x9e3779b97f4a7c15 // 2^64 / golden ratio
	return c.shards[h>>c.shift]
}

func (c *cache) get(ip netip.Addr) (string, bool) {
	return c.shard(ip).Get(ip)
}

func (c *cache) add(ip netip.Addr, country string) {
	c.shard(ip).Add(ip, country)
}

func (c *cache) purge() {
	for _, s := range c.shards {
		s.Purge()
	}
}
