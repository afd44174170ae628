// Package offheap keeps large, pointer-free tables in memory the Go runtime does not manage.
//
// The collector never scans pointer-free memory, but it still counts it: the heap goal is
// the live heap times 1+GOGC/100, so a process that holds a 70 MB register lets its requests
// allocate 70 MB of garbage between collections, cycling that much memory through the CPU's
// caches where one without the register cycles a few. Tables kept in a Region are not part
// of the live heap, and so do not move the goal.
//
// A Region is one anonymous mapping, filled by copying tables into it (a bump allocator) and
// then only read. A Pool is a set of Regions freed together, in which tables are built where
// they will stay, and grow as append grows a slice (see Pool). Their owner frees them when
// nothing can read them any more, typically from a cleanup attached with runtime.AddCleanup
// to the object that holds the tables; every method of that object that reads them must keep
// it alive until it is done (runtime.KeepAlive), and nothing that points into a Region may be
// handed out beyond it.
//
// On platforms without anonymous mappings, Map fails with errors.ErrUnsupported, and the
// tables stay where they are.
package offheap

import (
	"fmt"
	"reflect"
	"sync/atomic"
	"unsafe"

	"github.com/georestrict/caddy-georestrict/internal/pace"
)

// piece is how much memory a Region gives back to the system, or Copy and Resize copy, at a
// time: about a tenth of a millisecond of work.
const piece = 1 << 20

// align is the alignment of every table in a Region: enough for any integer or float.
const align = 8

// A Region is memory outside the Go heap, handed out by Make and Copy.
type Region struct {
	mem   []byte
	used  int
	freed atomic.Bool
}

// inUse counts the bytes of live mappings, for tests and statistics.
var inUse atomic.Int64

// InUse returns the number of bytes mapped by Regions not yet freed.
func InUse() int64 { return inUse.Load() }

// Size returns the bytes a Region needs for a table of n values of type T, alignment
// included. Sum it over the tables to copy to size a Region.
func Size[T any](n int) int {
	if n == 0 {
		return 0
	}
	return roundUp(n*int(unsafe.Sizeof(*new(T))), align)
}

func roundUp(n, to int) int { return (n + to - 1) &^ (to - 1) }

// Map returns a Region of at least size bytes. It fails only if the system refuses the
// mapping; the caller can then keep its tables where they are.
func Map(size int) (*Region, error) {
	if size <= 0 {
		return &Region{}, nil
	}
	mem, err := mapAnon(size)
	if err != nil {
		return nil, fmt.Errorf("mapping %d bytes: %w", size, err)
	}
	inUse.Add(int64(len(mem)))
	return &Region{mem: mem}, nil
}

// Len returns the size the Region was mapped with (the system maps whole pages).
func (r *Region) Len() int { return len(r.mem) }

// take returns n bytes of the Region, aligned.
func (r *Region) take(n int) []byte {
	if n == 0 {
		return nil
	}
	if r.used+n > len(r.mem) {
		panic(fmt.Sprintf("offheap: %d bytes taken from a Region of %d with %d free", n, len(r.mem), len(r.mem)-r.used))
	}
	b := r.mem[r.used : r.used+n : r.used+n]
	r.used += roundUp(n, align)
	return b
}

// Make returns a table of n values of type T in the Region, zeroed, which is valid until the
// Region is freed. T must hold no pointers: the collector does not look inside a Region, so
// anything they pointed to could be freed under them.
func Make[T any](r *Region, n int) []T {
	if n == 0 {
		return nil
	}
	if t := reflect.TypeFor[T](); hasPointers(t) {
		panic("offheap: " + t.String() + " holds pointers")
	}
	b := r.take(n * int(unsafe.Sizeof(*new(T))))
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// Copy copies s into the Region and returns the copy (see Make). An empty s is returned as
// it is.
func Copy[T any](r *Region, s []T) []T {
	if len(s) == 0 {
		return s
	}
	out := Make[T](r, len(s))
	copyPaced(out, s)
	return out
}

// copyPaced copies src into dst, a piece at a time, pausing between pieces (internal/pace):
// a copy cannot be preempted, and tens of megabytes of it, page faults included, would hold
// the processor for milliseconds.
func copyPaced[T any](dst, src []T) {
	step := max(1, piece/int(unsafe.Sizeof(*new(T))))
	var pacer pace.Pacer
	for i := 0; i < len(dst); i += step {
		if i > 0 {
			pacer.Pause()
		}
		copy(dst[i:min(i+step, len(dst))], src[i:])
	}
}

// Free releases the Region's memory. Nothing copied into it may be read afterwards. Free is
// safe to call more than once.
func (r *Region) Free() {
	if r.freed.Swap(true) || r.mem == nil {
		return
	}
	n := len(r.mem)
	// Unmapping gives every page back to the system in one system call, which for tens of
	// megabytes holds a processor for milliseconds, and on a server pinned to one core the
	// whole process. Where the system can, a large mapping gives its pages back a piece at
	// a time first, yielding between pieces; the unmap then has nothing left to free.
	if n > piece {
		var pacer pace.Pacer
		for off := 0; off < n; off += piece {
			if releasePages(r.mem[off:min(off+piece, n)]) != nil {
				break
			}
			pacer.Pause()
		}
	}
	if err := unmap(r.mem); err != nil {
		// Unmapping a mapping of our own fails only on a bug; the memory stays mapped
		// and counted, which the statistics then show.
		return
	}
	r.mem = nil
	inUse.Add(-int64(n))
}

// Freed reports whether Free has been called.
func (r *Region) Freed() bool { return r.freed.Load() }

// hasPointers reports whether values of t hold pointers the collector must see.
func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	}
	return true // pointers, strings, slices, maps, channels, funcs, interfaces, uintptr
}
