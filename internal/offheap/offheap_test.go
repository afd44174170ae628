package offheap

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

type row struct {
	a uint32
	b uint16
	c [3]byte
	d uint64
}

// mapOrSkip maps a Region of size bytes, or skips the test where the platform cannot.
func mapOrSkip(t *testing.T, size int) *Region {
	t.Helper()
	r, err := Map(size)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("no anonymous mappings on this platform")
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCopy(t *testing.T) {
	rows := []row{{1, 2, [3]byte{3, 4, 5}, 6}, {7, 8, [3]byte{9, 10, 11}, 12}}
	nums := []uint64{1 << 63, 42, 0}
	text := strings.Repeat("withheld ", 1000)
	size := Size[row](len(rows)) + Size[uint64](len(nums)) + Size[byte](len(text)) + Size[byte](len("x"))
	r := mapOrSkip(t, size)
	defer r.Free()
	if r.Len() < size {
		t.Fatalf("Len() = %d, want at least %d", r.Len(), size)
	}
	// The odd-sized string first, so that what follows must be aligned.
	x := string(Copy(r, []byte("x")))
	gotRows, gotNums, gotText := Copy(r, rows), Copy(r, nums), string(Copy(r, []byte(text)))
	if x != "x" || !slices.Equal(gotRows, rows) || !slices.Equal(gotNums, nums) || gotText != text {
		t.Fatalf("copies differ: %q %v %v (text equal: %v)", x, gotRows, gotNums, gotText == text)
	}
	// The copies are the Region's: changing the originals does not change them.
	rows[0].a, nums[0] = 99, 99
	if gotRows[0].a != 1 || gotNums[0] != 1<<63 {
		t.Errorf("copies share memory with the originals: %v %v", gotRows, gotNums)
	}
	if len(Copy[row](r, nil)) != 0 || len(Copy(r, []byte{})) != 0 {
		t.Error("empty copies are not empty")
	}
}

func TestFree(t *testing.T) {
	before := InUse()
	r := mapOrSkip(t, 3*4096)
	// Other tests of this package do not run in parallel, so InUse moves only with r.
	if got := InUse() - before; got != int64(r.Len()) {
		t.Errorf("InUse grew by %d, want %d", got, r.Len())
	}
	r.Free()
	r.Free() // twice is harmless
	if !r.Freed() {
		t.Error("Freed() = false after Free")
	}
	if got := InUse() - before; got != 0 {
		t.Errorf("InUse is %d above where it started after Free", got)
	}
}

func TestCopyRefusesPointers(t *testing.T) {
	r := mapOrSkip(t, 4096)
	defer r.Free()
	for name, copy := range map[string]func(){
		"string": func() { Copy(r, []string{"a"}) },
		"slice":  func() { Copy(r, [][]byte{nil}) },
		"struct": func() {
			Copy(r, []struct {
				n int
				p *int
			}{{}})
		},
		"array": func() { Copy(r, [][1]*int{{}}) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("Copy of a type with pointers did not panic")
				}
			}()
			copy()
		})
	}
}

func TestTakeBeyondTheRegion(t *testing.T) {
	r := mapOrSkip(t, 8)
	defer r.Free()
	defer func() {
		if recover() == nil {
			t.Error("copying more than the Region holds did not panic")
		}
	}()
	Copy(r, make([]byte, r.Len()+1))
}

// A Region larger than a piece gives its pages back a piece at a time before it is unmapped:
// its memory is gone all the same.
func TestFreeLarge(t *testing.T) {
	before := InUse()
	r := mapOrSkip(t, 3*piece+100)
	b := Make[byte](r, r.Len())
	for i := range b {
		b[i] = byte(i)
	}
	r.Free()
	if !r.Freed() || InUse() != before {
		t.Errorf("after Free: Freed() %v, InUse %d above where it started", r.Freed(), InUse()-before)
	}
}
