package offheap

import (
	"errors"
	"sync"
	"sync/atomic"
	"unsafe"
)

// A Pool is a set of Regions that are freed together: the tables of one register, each
// built where it will stay rather than on the Go heap and copied out at the end. Building
// in place is what keeps a load from allocating its register twice over, once on the heap
// (which the collector then runs through several cycles to grow to) and once here.
//
// A table built in a Pool has a Region of its own, so that it can grow (Grow) or shrink to
// fit (Resize) by moving to a new one, as append does on the heap; Release frees a table the
// owner no longer needs, and Free everything at once. A Pool is safe for concurrent use, so
// that several goroutines can build tables in it.
//
// When the system refuses a mapping, a table is made on the heap instead: it is then the
// collector's, as any slice is, and Holds reports false for it. A nil *Pool makes every
// table on the heap.
type Pool struct {
	mu      sync.Mutex
	regions map[uintptr]*Region // by the address of their memory
	size    int
	freed   atomic.Bool
}

// errFreed is returned by Map on a Pool that was freed: its owner is gone.
var errFreed = errors.New("offheap: pool already freed")

// Map maps a Region of at least size bytes in the Pool; it is freed with the Pool, or with
// Release of a table that starts it.
func (p *Pool) Map(size int) (*Region, error) {
	if size <= 0 {
		return &Region{}, nil
	}
	r, err := Map(size)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.freed.Load() {
		r.Free()
		return nil, errFreed
	}
	if p.regions == nil {
		p.regions = make(map[uintptr]*Region)
	}
	p.regions[r.addr()] = r
	p.size += r.Len()
	return r, nil
}

// addr is the address of the Region's memory, by which a Pool finds it.
func (r *Region) addr() uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(r.mem))) }

// Size returns the bytes of the Pool's Regions not yet freed.
func (p *Pool) Size() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.size
}

// Free frees every Region of the Pool. Nothing in them may be read afterwards. Free is safe
// to call more than once.
func (p *Pool) Free() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.freed.Swap(true) {
		return
	}
	for _, r := range p.regions {
		r.Free()
	}
	p.regions, p.size = nil, 0
}

// Freed reports whether Free has been called.
func (p *Pool) Freed() bool { return p.freed.Load() }

// take removes from the Pool the Region that starts at ptr, if there is one.
func (p *Pool) take(ptr unsafe.Pointer) *Region {
	if p == nil || ptr == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.regions[uintptr(ptr)]
	if r != nil {
		delete(p.regions, uintptr(ptr))
		p.size -= r.Len()
	}
	return r
}

// Holds reports whether s is a table of the Pool's (one that Make, Grow or Resize put in
// a Region of its own): one that the Pool frees, and that nothing must read after.
func Holds[T any](p *Pool, s []T) bool {
	if p == nil || cap(s) == 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.regions[uintptr(unsafe.Pointer(unsafe.SliceData(s)))]
	return ok
}

// MakeIn returns a table of n values of type T, zeroed, in a Region of its own in p, or on
// the heap if the system refuses the mapping. T must hold no pointers (see Make).
func MakeIn[T any](p *Pool, n int) []T {
	if n == 0 {
		return nil
	}
	if p == nil {
		return make([]T, n)
	}
	r, err := p.Map(Size[T](n))
	if err != nil {
		return make([]T, n)
	}
	return Make[T](r, n)
}

// Resize returns a table of capacity n holding s's first values (all of them, or the
// first n), in a Region of its own in p, and frees s if it is a table of p's: as append
// moves a slice that outgrows its array, and for the same reasons nothing may keep using s.
// A large table is copied a piece at a time (see Copy).
func Resize[T any](p *Pool, s []T, n int) []T {
	out := MakeIn[T](p, n)[:min(len(s), n)]
	copyPaced(out, s)
	Release(p, s)
	return out
}

// Grow returns s with room for at least n more values, moved by Resize to twice its size
// (or what n needs) when it has not.
func Grow[T any](p *Pool, s []T, n int) []T {
	if n <= cap(s)-len(s) {
		return s
	}
	return Resize(p, s, max(2*cap(s), len(s)+n, 8))
}

// Release frees s, if it is a table of p's, and otherwise does nothing: the collector frees
// a table made on the heap. Nothing may read s afterwards.
func Release[T any](p *Pool, s []T) {
	if cap(s) == 0 {
		return
	}
	if r := p.take(unsafe.Pointer(unsafe.SliceData(s))); r != nil {
		r.Free()
	}
}
