package blocklist

import (
	"runtime"

	"github.com/georestrict/caddy-georestrict/internal/offheap"
)

// A register's bulk (the entries, the terms, the arenas, the hash tables and the prefix tree)
// holds no pointers, so the collector never scans it; but on the Go heap it would still count
// towards the live heap, and so raise the heap goal: a process holding 70 MB of register would
// let requests cycle 70 MB of garbage through the CPU's caches between collections, where one
// without it cycles a few (BENCHMARKS.md, "The heap goal"). Once built, the bulk is copied
// into one mapping outside the Go heap (internal/offheap), freed by a cleanup when the
// Register becomes unreachable.
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
			size += offheap.StringSize(c)
		}
	}
	if size == 0 {
		return
	}
	mem, err := offheap.Map(size)
	if err != nil {
		return
	}
	r.entries = offheap.Copy(mem, r.entries)
	r.terms = offheap.Copy(mem, r.terms)
	r.posts.keys = offheap.Copy(mem, r.posts.keys)
	r.posts.heads = offheap.Copy(mem, r.posts.heads)
	r.postStrs.slots = offheap.Copy(mem, r.postStrs.slots)
	r.accounts.slots = offheap.Copy(mem, r.accounts.slots)
	r.paths.slots = offheap.Copy(mem, r.paths.slots)
	r.prefixes = offheap.Copy(mem, r.prefixes)
	r.ids, r.vals, r.texts = r.ids.copyTo(mem), r.vals.copyTo(mem), r.texts.copyTo(mem)
	r.mem, r.stats.OffHeap = mem, mem.Len()
	runtime.AddCleanup(r, (*offheap.Region).Free, mem)
}

// copyTo returns the arena with its chunks copied into mem.
func (a arena) copyTo(mem *offheap.Region) arena {
	out := make(arena, len(a))
	for i, c := range a {
		out[i] = offheap.CopyString(mem, c)
	}
	return out
}
