package blocklist

import "strings"

// Ids and target values are kept in arenas: strings of up to arenaChunk bytes, each filled
// once and never copied again. An arena reference is a uint32: the chunk number in the high
// bits, the offset in it in the low ones.
//
// A single string grown by appending would copy everything read so far each time it grows,
// which for a million orders is most of what a load allocates, and then once more to shed
// the slack; chunks cost neither, and the last one is trimmed by copying at most a chunk.
const (
	arenaBits  = 20
	arenaChunk = 1 << arenaBits
	arenaMask  = arenaChunk - 1
	// arenaMaxChunks keeps references within 32 bits: 4 GiB in all.
	arenaMaxChunks = 1 << (32 - arenaBits)
)

// A string in an arena is never longer than a chunk, so it never straddles two.
var _ = [arenaChunk - max(maxIDLen, maxTargetLen)]struct{}{}

// arenaBuilder fills an arena.
type arenaBuilder struct {
	full []string        // chunks that are done
	cur  strings.Builder // the chunk being filled
}

// add stores s and returns its reference. The caller checks room first.
func (a *arenaBuilder) add(s string) uint32 {
	if a.cur.Len()+len(s) > arenaChunk {
		a.full = append(a.full, a.cur.String())
		a.cur = strings.Builder{}
		a.cur.Grow(arenaChunk)
	}
	// The first chunk grows as needed, so that a small register stays small; from the
	// second on, a chunk is allocated whole, once.
	ref := uint32(len(a.full))<<arenaBits | uint32(a.cur.Len())
	a.cur.WriteString(s)
	return ref
}

// room reports whether n more bytes fit.
func (a *arenaBuilder) room(n int) bool {
	return len(a.full) < arenaMaxChunks-1 || a.cur.Len()+n <= arenaChunk
}

// arena returns the filled chunks; the last one is copied if that sheds much slack. The
// builder can still be read (get), not added to.
func (a *arenaBuilder) arena() arena {
	last := a.cur.String()
	if a.cur.Cap()-len(last) > len(last)/8 {
		last = strings.Clone(last)
	}
	return arena(append(a.full, last))
}

// get returns the n bytes at ref, during building.
func (a *arenaBuilder) get(ref uint32, n int) string {
	c, off := int(ref>>arenaBits), int(ref&arenaMask)
	if c == len(a.full) {
		return a.cur.String()[off : off+n]
	}
	return a.full[c][off : off+n]
}

// arena is a filled arena: its chunks.
type arena []string

func (a arena) get(ref uint32, n uint16) string {
	c := a[ref>>arenaBits]
	off := ref & arenaMask
	return c[off : off+uint32(n)]
}
