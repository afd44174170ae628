package blocklist

import (
	"encoding/binary"
	"strings"
)

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

// Texts (the authority, reference, notice and reason of orders) are kept in an arena too,
// each preceded by its length as a uvarint (one byte up to 127, two up to maxTextLen), so
// that a reference to one is a single uint32. Reference 0 is the empty text.
const maxTextHeader = 2

var _ = [1<<(7*maxTextHeader) - maxTextLen]struct{}{} // every length fits in the header

// addText stores s with its length and returns its reference. The caller checks
// room(len(s)+maxTextHeader) first.
func (a *arenaBuilder) addText(s string) uint32 {
	var hdr [maxTextHeader]byte
	n := binary.PutUvarint(hdr[:], uint64(len(s)))
	if a.cur.Len()+n+len(s) > arenaChunk {
		a.full = append(a.full, a.cur.String())
		a.cur = strings.Builder{}
		a.cur.Grow(arenaChunk)
	}
	ref := uint32(len(a.full))<<arenaBits | uint32(a.cur.Len())
	a.cur.Write(hdr[:n])
	a.cur.WriteString(s)
	return ref
}

// text returns the text at ref, during building.
func (a *arenaBuilder) text(ref uint32) string {
	c, off := int(ref>>arenaBits), ref&arenaMask
	if c == len(a.full) {
		return textAt(a.cur.String(), off)
	}
	return textAt(a.full[c], off)
}

// text returns the text at ref.
func (a arena) text(ref uint32) string { return textAt(a[ref>>arenaBits], ref&arenaMask) }

func textAt(chunk string, off uint32) string {
	n := uint32(chunk[off])
	off++
	if n >= 0x80 {
		n = n&0x7f | uint32(chunk[off])<<7
		off++
	}
	return chunk[off : off+n]
}
