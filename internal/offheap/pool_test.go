package offheap

import (
	"errors"
	"slices"
	"testing"
)

// poolOrSkip returns an empty Pool, or skips the test where the platform cannot map.
func poolOrSkip(t *testing.T) *Pool {
	t.Helper()
	mapOrSkip(t, 1).Free()
	p := new(Pool)
	t.Cleanup(p.Free)
	return p
}

// A table grown in a Pool keeps its values as it moves, as append's does, and each move
// frees the Region it leaves: the Pool holds one Region, the table's last.
func TestGrow(t *testing.T) {
	p := poolOrSkip(t)
	before := InUse()
	var s []row
	for i := range 10_000 {
		s = append(Grow(p, s, 1), row{a: uint32(i), d: uint64(i) << 40})
	}
	for i, r := range s {
		if r.a != uint32(i) || r.d != uint64(i)<<40 {
			t.Fatalf("row %d is %+v after growing", i, r)
		}
	}
	if !Holds(p, s) {
		t.Error("the grown table is not the Pool's")
	}
	if got, want := p.Size(), Size[row](cap(s)); got != want {
		t.Errorf("Size() = %d after growing, want %d: the Regions the table left were not freed", got, want)
	}
	if got := InUse() - before; got != int64(p.Size()) {
		t.Errorf("InUse grew by %d, the Pool holds %d", got, p.Size())
	}

	// Shrunk to fit, it moves once more (and s may no longer be read).
	want := slices.Clone(s)
	fit := Resize(p, s, len(s))
	if cap(fit) != len(want) || !slices.Equal(fit, want) {
		t.Fatalf("Resize to %d gave len %d, cap %d, equal %v", len(want), len(fit), cap(fit), slices.Equal(fit, want))
	}
	if p.Size() != Size[row](len(want)) {
		t.Errorf("after Resize: Size() = %d, want %d", p.Size(), Size[row](len(want)))
	}

	Release(p, fit)
	if p.Size() != 0 || InUse() != before {
		t.Errorf("after Release: Size() = %d, InUse %d above where it started", p.Size(), InUse()-before)
	}
}

// Free frees every Region of the Pool, however many goroutines made them; a freed Pool maps
// nothing more.
func TestPoolFree(t *testing.T) {
	p := poolOrSkip(t)
	before := InUse()
	done := make(chan []uint64)
	for g := range 4 {
		go func() {
			s := MakeIn[uint64](p, 1000)
			s[999] = uint64(g)
			done <- s
		}()
	}
	var tables [][]uint64
	for range 4 {
		tables = append(tables, <-done)
	}
	for _, s := range tables {
		if !Holds(p, s) {
			t.Fatal("a table made in the Pool is not held by it")
		}
	}
	if got := InUse() - before; got != int64(p.Size()) || p.Size() != 4*Size[uint64](1000) {
		t.Fatalf("InUse grew by %d, Size() = %d, want %d", got, p.Size(), 4*Size[uint64](1000))
	}
	p.Free()
	p.Free() // twice is harmless
	if !p.Freed() || p.Size() != 0 || InUse() != before {
		t.Errorf("after Free: Freed() %v, Size() %d, InUse %d above where it started", p.Freed(), p.Size(), InUse()-before)
	}
	if _, err := p.Map(8); !errors.Is(err, errFreed) {
		t.Errorf("Map on a freed Pool: %v, want %v", err, errFreed)
	}
	// A table asked of a freed Pool is made on the heap: still a table.
	if s := MakeIn[uint32](p, 3); len(s) != 3 || Holds(p, s) {
		t.Errorf("MakeIn on a freed Pool: %v (held: %v)", s, Holds(p, s))
	}
}

// A nil Pool makes tables on the heap, which it neither holds nor frees.
func TestNilPool(t *testing.T) {
	var p *Pool
	s := Grow(p, []uint32{1, 2}, 10)
	s = append(s, 3)
	if !slices.Equal(s, []uint32{1, 2, 3}) || cap(s) < 12 || Holds(p, s) || p.Size() != 0 {
		t.Fatalf("Grow in a nil Pool: %v, cap %d", s, cap(s))
	}
	Release(p, s) // nothing to do
	if s[2] != 3 {
		t.Fatal("Release of a heap table changed it")
	}
}

// Tables that do not start a Region of the Pool's are not its own: part of one, or one on
// the heap. Release leaves them be.
func TestHoldsOnlyWholeTables(t *testing.T) {
	p := poolOrSkip(t)
	s := MakeIn[uint64](p, 100)
	if !Holds(p, s) || Holds(p, s[1:]) || Holds(p, make([]uint64, 100)) {
		t.Fatalf("Holds: table %v, part %v, heap %v", Holds(p, s), Holds(p, s[1:]), Holds(p, make([]uint64, 100)))
	}
	Release(p, s[1:])
	if !Holds(p, s) {
		t.Fatal("Release of part of a table freed the table")
	}
}
