package blocklist

import (
	"encoding/binary"
	"sync"
	"unsafe"

	"github.com/georestrict/caddy-georestrict/internal/offheap"
)

// Ids, target values and texts are kept in arenas: strings of up to arenaChunk bytes, each
// filled once and never copied again. An arena reference is a uint32: the chunk number in
// the high bits, the offset in it in the low ones.
//
// A single string grown by appending would copy everything read so far each time it grows,
// which for a million orders is most of what a load allocates, and then once more to shed
// the slack; chunks cost neither, and the last one is trimmed by copying at most a chunk.
//
// Chunks are made in the register's pool, outside the Go heap, and stay where they were
// filled.
//
// Several goroutines fill one arena at once (the validators of a load, see stream.go), each
// its own chunks: they take chunk numbers from a shared chunkTable, so that references are
// the register's from the start and nothing is copied when the register is built.
const (
	arenaBits  = 20
	arenaChunk = 1 << arenaBits
	arenaMask  = arenaChunk - 1
	// arenaMaxChunks keeps references within 32 bits: 4 GiB in all.
	arenaMaxChunks = 1 << (32 - arenaBits)
)

// A string in an arena is never longer than a chunk, so it never straddles two.
var _ = [arenaChunk - max(maxIDLen, maxTargetLen, maxTextLen+maxTextHeader)]struct{}{}

// chunkTable numbers the chunks of an arena that several arenaBuilders fill, and collects
// them.
type chunkTable struct {
	mu     sync.Mutex
	chunks []string
}

// reserve returns the number of a new chunk, or false when the arena is full.
func (t *chunkTable) reserve() (uint32, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.chunks) >= arenaMaxChunks {
		return 0, false
	}
	t.chunks = append(t.chunks, "")
	return uint32(len(t.chunks) - 1), true
}

func (t *chunkTable) put(n uint32, s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.chunks[n] = s
}

// arena returns the chunks, once every builder that fills them has flushed.
func (t *chunkTable) arena() arena {
	t.mu.Lock()
	defer t.mu.Unlock()
	return arena(t.chunks)
}

// arenaBuilder fills chunks of an arena: of its own (table nil), or numbered by a table that
// other builders share. It makes its chunks in the register's pool (see offheap.go), where
// they stay: nothing is copied once a chunk is full.
type arenaBuilder struct {
	table  *chunkTable
	mem    *offheap.Pool // nil: chunks are made on the heap
	chunks []string      // finished chunks, by number (others' are "")
	num    uint32        // number of cur
	has    bool          // cur is numbered
	cur    []byte        // the chunk being filled
}

// next finishes the chunk being filled, if any, and numbers a new one.
func (a *arenaBuilder) next() bool {
	n := uint32(len(a.chunks))
	if a.has {
		n = max(n, a.num+1)
	}
	if a.table != nil {
		var ok bool
		if n, ok = a.table.reserve(); !ok {
			return false
		}
	} else if n >= arenaMaxChunks {
		return false
	}
	if a.has {
		a.finish(bytesString(a.cur))
		// The first chunk grows as needed, so that a small register stays small; from
		// the second on, a chunk is made whole, once.
		a.cur = offheap.MakeIn[byte](a.mem, arenaChunk)[:0]
	}
	a.num, a.has = n, true
	return true
}

func (a *arenaBuilder) finish(s string) {
	if int(a.num) >= len(a.chunks) {
		a.chunks = append(a.chunks, make([]string, int(a.num)+1-len(a.chunks))...)
	}
	a.chunks[a.num] = s
	if a.table != nil {
		a.table.put(a.num, s)
	}
}

// room makes room for n more bytes, and reports false when the arena is full.
func (a *arenaBuilder) room(n int) bool {
	return a.has && len(a.cur)+n <= arenaChunk || a.next()
}

// reserve makes the chunk being filled hold n more bytes, growing it if it must (it never
// grows beyond a chunk: add and addText start a new chunk first).
func (a *arenaBuilder) reserve(n int) {
	if n > cap(a.cur)-len(a.cur) {
		a.cur = offheap.Resize(a.mem, a.cur, min(arenaChunk, max(2*cap(a.cur), len(a.cur)+n, minChunk)))
	}
}

// minChunk is the size a chunk that grows starts at: a page.
const minChunk = 4 << 10

// add stores s and returns its reference. The caller makes room first.
func (a *arenaBuilder) add(s string) uint32 {
	if !a.has || len(a.cur)+len(s) > arenaChunk {
		a.next()
	}
	ref := a.num<<arenaBits | uint32(len(a.cur))
	a.reserve(len(s))
	a.cur = append(a.cur, s...)
	return ref
}

// flush finishes the chunk being filled, moved to a chunk of its size if that sheds much
// slack. The builder can still be read (get, text) and added to, in a chunk of its own.
func (a *arenaBuilder) flush() {
	if !a.has {
		return
	}
	if cap(a.cur)-len(a.cur) > len(a.cur)/8 {
		a.cur = offheap.Resize(a.mem, a.cur, len(a.cur))
	}
	a.finish(bytesString(a.cur))
	a.cur, a.has = nil, false
}

// arena returns the filled chunks (of a builder without a table).
func (a *arenaBuilder) arena() arena {
	a.flush()
	return arena(a.chunks)
}

// chunk returns chunk c, while the builder fills it or after.
func (a *arenaBuilder) chunk(c uint32) string {
	if a.has && c == a.num {
		return bytesString(a.cur)
	}
	return a.chunks[c]
}

// get returns the n bytes at ref, a reference of this builder's.
func (a *arenaBuilder) get(ref uint32, n int) string {
	off := int(ref & arenaMask)
	return a.chunk(ref >> arenaBits)[off : off+n]
}

// bytesString returns the bytes of b as a string, without copying: b is a chunk, which is
// only appended to, so the bytes the string covers never change.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// arena is a filled arena: its chunks.
type arena []string

func (a arena) get(ref uint32, n uint16) string {
	c := a[ref>>arenaBits]
	off := ref & arenaMask
	return c[off : off+uint32(n)]
}

// Texts (the authority, reference, notice and reason of orders) are kept in an arena too,
// each preceded by its length as a uvarint (one byte up to 127, two up to maxTextLen), so
// that a reference to one is a single uint32. Reference 0 is the empty text: the first
// chunk of the text arena starts with a zero byte.
const maxTextHeader = 2

var _ = [1<<(7*maxTextHeader) - maxTextLen]struct{}{} // every length fits in the header

// addText stores s with its length and returns its reference. The caller makes room for
// len(s)+maxTextHeader bytes first.
func (a *arenaBuilder) addText(s string) uint32 {
	var hdr [maxTextHeader]byte
	n := binary.PutUvarint(hdr[:], uint64(len(s)))
	if !a.has || len(a.cur)+n+len(s) > arenaChunk {
		a.next()
	}
	ref := a.num<<arenaBits | uint32(len(a.cur))
	a.reserve(n + len(s))
	a.cur = append(a.cur, hdr[:n]...)
	a.cur = append(a.cur, s...)
	return ref
}

// text returns the text at ref, a reference of this builder's.
func (a *arenaBuilder) text(ref uint32) string { return textAt(a.chunk(ref>>arenaBits), ref&arenaMask) }

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
