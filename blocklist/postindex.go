package blocklist

import (
	"context"
	"math/bits"
	"math/rand/v2"

	"github.com/georestrict/caddy-georestrict/internal/offheap"
)

// postIndex maps numeric post ids, usually most of a register, to the first entry of their
// chain: an open-addressing table with linear probing over two flat arrays, which hold no
// pointers, so the garbage collector never looks inside them.
//
// A lookup, and most requests look up a post that no order names, reads the keys array once,
// usually one cache line: a key of 0 marks an empty slot (post 0 has a field of its own), and
// the table is at most three quarters full. Go's map would follow a directory, a table and a
// group for the same answer.
type postIndex struct {
	keys  []uint64
	heads []uint32
	shift uint8 // 64 - log2(len(keys))
	seed  uint64
	zero  uint32 // head for post 0, or noEntry
}

// postRef is one numeric post entry to index.
type postRef struct {
	key   uint64
	entry uint32
}

// slot is the home slot of k. The seed is random per register, so that no register can
// crowd its ids into one run of slots by chance, or for every gateway at once.
func (t *postIndex) slot(k uint64) uint64 {
	hi, lo := bits.Mul64(k^t.seed, 0x9e3779b97f4a7c15)
	return (hi ^ lo) >> t.shift
}

// get returns the head of the chain for post k.
func (t *postIndex) get(k uint64) (uint32, bool) {
	if k == 0 {
		return t.zero, t.zero != noEntry
	}
	if len(t.keys) == 0 {
		return noEntry, false
	}
	mask := uint64(len(t.keys) - 1)
	for i := t.slot(k); ; i = (i + 1) & mask {
		switch t.keys[i] {
		case k:
			return t.heads[i], true
		case 0:
			return noEntry, false
		}
	}
}

// buildPostIndex indexes the n entries marked numeric; entries with the same post are
// chained through next, the last loaded first, as the other indexes chain them.
//
// Inserting a million keys in loading order would miss the cache on nearly every one. The
// entries are first partitioned by the top bits of their home slot, so that the inserts of
// one partition stay within a few dozen kilobytes of the table. Keys are parsed from the
// values twice rather than kept between the passes: that is cheaper than the memory.
func buildPostIndex(ctx context.Context, mem *offheap.Pool, entries []entry, vals arena, n int) postIndex {
	t := postIndex{zero: noEntry, seed: rand.Uint64()}
	if n == 0 {
		return t
	}
	size := 8
	for size*3 < n*4 { // at most 3/4 full
		size *= 2
	}
	t.keys = offheap.MakeIn[uint64](mem, size)
	t.heads = offheap.MakeIn[uint32](mem, size)
	t.shift = uint8(64 - bits.TrailingZeros(uint(size)))

	pace := pacer{ctx: ctx}
	const partBits = 8
	partShift := max(bits.TrailingZeros(uint(size))-partBits, 0)
	key := func(e *entry) uint64 {
		k, _ := parseDecimal(vals.get(e.valOff, e.valLen))
		return k
	}
	var count [1<<partBits + 1]int
	for i := range entries {
		pace.step()
		if e := &entries[i]; e.numeric {
			count[t.slot(key(e))>>partShift+1]++
		}
	}
	for i := 1; i < len(count); i++ {
		count[i] += count[i-1]
	}
	parted := offheap.MakeIn[postRef](mem, n)
	defer offheap.Release(mem, parted)
	for i := range entries {
		pace.step()
		if e := &entries[i]; e.numeric {
			k := key(e)
			p := t.slot(k) >> partShift
			parted[count[p]] = postRef{k, uint32(i)}
			count[p]++
		}
	}

	mask := uint64(size - 1)
	for _, ref := range parted {
		pace.step()
		k := ref.key
		if k == 0 {
			entries[ref.entry].next = t.zero
			t.zero = ref.entry
			continue
		}
		i := t.slot(k)
		for t.keys[i] != 0 && t.keys[i] != k {
			i = (i + 1) & mask
		}
		if t.keys[i] == k {
			entries[ref.entry].next = t.heads[i]
		}
		t.keys[i], t.heads[i] = k, ref.entry
	}
	return t
}
