package blocklist

import (
	"runtime"
	"unsafe"

	"github.com/georestrict/caddy-georestrict/internal/offheap"
)

// A register's bulk (the entries, the terms, the arenas, the hash tables and the prefix tree)
// holds no pointers, so the collector never scans it; but on the Go heap it would still count
// towards the live heap, and so raise the heap goal: a process holding 70 MB of register would
// let requests cycle 70 MB of garbage through the CPU's caches between collections, where one
// without it cycles a few (BENCHMARKS.md, "A register outside the Go heap"). Once built, the
// bulk is copied into one mapping outside the Go heap (internal/offheap), freed by a cleanup
// when the Register becomes unreachable.
//
// Two rules follow, and every method that reads the bulk keeps them:
//   - it keeps r alive until it is done (runtime.KeepAlive(r)): the collector does not see
//     the references into the mapping, so r could otherwise be collected, and the mapping
//     freed, while a method still reads through a copy of one of r's slices;
//   - nothing it returns points into the mapping: Order copies its strings out.
//
// Exported methods are the only way in from outside the package, so those are the ones that
// keep r alive; unexported ones are only called from them or while building.

// moveOffHeap copies the register's bulk out of the Go heap. If the system refuses the
// mapping, the register stays where it is, which costs only what it always did.
func (r *Register) moveOffHeap() {
	size := offheap.Size[entry](len(r.entries)) +
		offheap.Size[terms](len(r.terms)) +
		offheap.Size[uint64](len(r.posts.keys)) +
		offheap.Size[uint32](len(r.posts.heads)) +
		offheap.Size[uint64](len(r.postStrs.slots)) +
		offheap.Size[uint64](len(r.accounts.slots)) +
		offheap.Size[uint64](len(r.paths.slots)) +
		offheap.Size[trieNode](len(r.prefixes))
	for _, a := range []arena{r.ids, r.vals, r.texts} {
		for _, c := range a {
			size += offheap.Size[byte](len(c))
		}
	}
	if size == 0 {
		return // no orders
	}
	mem, err := offheap.Map(size)
	if err != nil {
		// On the heap, the entries and terms shed their slack instead.
		r.entries, r.terms = shed(r.entries), shed(r.terms)
		return
	}
	// The copy yields as a load does, a piece at a time: a gateway moves a register while it
	// serves traffic, and copying 70 MB at once (page faults included) would hold the
	// processor for tens of milliseconds. It is not cancelled: it is short, and a register
	// half moved would have to be unpicked.
	var pace pacer
	r.entries = pacedCopy(&pace, mem, r.entries)
	r.terms = pacedCopy(&pace, mem, r.terms)
	r.posts.keys = pacedCopy(&pace, mem, r.posts.keys)
	r.posts.heads = pacedCopy(&pace, mem, r.posts.heads)
	r.postStrs.slots = pacedCopy(&pace, mem, r.postStrs.slots)
	r.accounts.slots = pacedCopy(&pace, mem, r.accounts.slots)
	r.paths.slots = pacedCopy(&pace, mem, r.paths.slots)
	r.prefixes = pacedCopy(&pace, mem, r.prefixes)
	r.ids, r.vals, r.texts = r.ids.copyTo(&pace, mem), r.vals.copyTo(&pace, mem), r.texts.copyTo(&pace, mem)
	r.mem, r.stats.OffHeap = mem, mem.Len()
	runtime.AddCleanup(r, (*offheap.Region).Free, mem)
}

// copyPiece is how much pacedCopy copies between two looks at the clock: about 10 µs of
// copying, page faults included.
const copyPiece = 64 << 10

// pacedCopy copies s into mem, yielding the processor as a load does.
func pacedCopy[T any](pace *pacer, mem *offheap.Region, s []T) []T {
	if len(s) == 0 {
		return s
	}
	out := offheap.Make[T](mem, len(s))
	step := max(1, copyPiece/int(unsafe.Sizeof(s[0])))
	for i := 0; i < len(s); i += step {
		copy(out[i:], s[i:min(i+step, len(s))])
		pace.yield()
	}
	return out
}

// copyTo returns the arena with its chunks copied into mem.
func (a arena) copyTo(pace *pacer, mem *offheap.Region) arena {
	out := make(arena, len(a))
	for i, c := range a {
		b := pacedCopy(pace, mem, unsafe.Slice(unsafe.StringData(c), len(c)))
		out[i] = unsafe.String(unsafe.SliceData(b), len(b))
	}
	return out
}
