package blocklist

import (
	"runtime"
	"slices"
	"unsafe"

	"github.com/georestrict/caddy-georestrict/internal/offheap"
)

// A register's bulk (the entries, the terms, the arenas, the hash tables and the prefix tree)
// holds no pointers, so the collector never scans it; but on the Go heap it would still count
// towards the live heap, and so raise the heap goal: a process holding 70 MB of register would
// let requests cycle 70 MB of garbage through the CPU's caches between collections, where one
// without it cycles a few (BENCHMARKS.md, "A register outside the Go heap"). So the bulk is
// built outside the Go heap, in a pool of mappings (internal/offheap) that the builder
// hands over to the Register, and that a cleanup frees when the Register becomes
// unreachable; a load that fails frees it at once. A load then allocates on the heap little
// more than what it reads, and the collector runs no more often during it than without it.
//
// Two rules follow, and every method that reads the bulk keeps them:
//   - it keeps r alive until it is done (runtime.KeepAlive(r)): the collector does not see
//     the references into the mappings, so r could otherwise be collected, and the mappings
//     freed, while a method still reads through a copy of one of r's slices;
//   - nothing it returns points into the mappings: Order copies its strings out.
//
// Exported methods are the only way in from outside the package, so those are the ones that
// keep r alive; unexported ones are only called from them or while building. While
// building, the same holds of the builder: nothing read from its arenas or tables outlives
// the load (errors quote ids, which copies them).

// packBelow is the size under which a table of the pool is packed with the others
// (settle): each mapping is at least a page, and a small register should take a few.
const packBelow = 64 << 10

// settle finishes the register's place outside the heap. What the pool does not hold (the
// prefix tree, and whatever was made on the heap because the system refused a mapping),
// its small tables and those with much slack (entries grown by doubling) are copied
// together into one mapping of the pool; the big tables stay where they were built. If the
// system refuses that mapping too, what is on the heap stays there, which costs only what
// it always did.
func (r *Register) settle() {
	p := packer{mem: r.mem}
	r.pack(&p) // measures
	if p.size > 0 {
		into, err := r.mem.Map(p.size)
		if err != nil {
			// On the heap, the entries and terms shed their slack instead.
			if !offheap.Holds(r.mem, r.entries) {
				r.entries = shed(r.entries)
			}
			if !offheap.Holds(r.mem, r.terms) {
				r.terms = shed(r.terms)
			}
		} else {
			p.into = into
			r.pack(&p) // copies
		}
	}
	r.entries, r.terms = slices.Clip(r.entries), slices.Clip(r.terms)
	r.stats.OffHeap = r.mem.Size()
	// Freeing a large register yields as it goes (offheap.Region.Free); on a goroutine of
	// its own, it does not hold up the runtime's other cleanups meanwhile.
	runtime.AddCleanup(r, func(mem *offheap.Pool) { go mem.Free() }, r.mem)
}

// packer measures, then copies (into is set), the tables that settle packs together. The
// copy gives the processor up a piece at a time (offheap.Copy), as a load does; it is not
// cancelled: it is short, and a register half packed would have to be unpicked.
type packer struct {
	mem  *offheap.Pool
	into *offheap.Region // nil while measuring
	size int
}

func (r *Register) pack(p *packer) {
	pack(p, &r.entries)
	pack(p, &r.terms)
	pack(p, &r.posts.keys)
	pack(p, &r.posts.heads)
	pack(p, &r.postStrs.slots)
	pack(p, &r.accounts.slots)
	pack(p, &r.paths.slots)
	pack(p, &r.prefixes)
	for _, a := range [...]arena{r.ids, r.vals, r.texts} {
		for i, c := range a {
			b := unsafe.Slice(unsafe.StringData(c), len(c))
			if pack(p, &b) {
				a[i] = bytesString(b)
			}
		}
	}
}

// pack measures or copies *s, if it is to be packed, and reports whether it copied it.
func pack[T any](p *packer, s *[]T) bool {
	t := *s
	if len(t) == 0 || offheap.Holds(p.mem, t) && offheap.Size[T](len(t)) >= packBelow && cap(t)-len(t) <= len(t)/8 {
		return false
	}
	if p.into == nil {
		p.size += offheap.Size[T](len(t))
		return false
	}
	*s = offheap.Copy(p.into, t)
	offheap.Release(p.mem, t)
	return true
}
