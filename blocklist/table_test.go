package blocklist

import (
	"fmt"
	"strconv"
	"testing"
)

// The lookup tables find every key of the register, chained last loaded first, and no key
// that is not one; keys as registers write them (numbered handles and paths, ids of every
// length) do not pile up in runs that make lookups probe far.
func TestKeyTable(t *testing.T) {
	for _, shape := range []struct {
		name string
		key  func(i int) string
	}{
		{"handles", func(i int) string { return "user_" + strconv.Itoa(i) }},
		{"paths", func(i int) string { return "/pages/" + strconv.Itoa(i) }},
		{"ids", func(i int) string { return strconv.Itoa(i * 7919) }},
		{"lengths", func(i int) string { return fmt.Sprintf("%0*d", 1+i%40, i) }},
	} {
		t.Run(shape.name, func(t *testing.T) {
			const n = 100_000
			var vals arenaBuilder
			r := &Register{seed: 42}
			for i := range n {
				k := shape.key(i / 2) // every key twice
				r.entries = append(r.entries, entry{valOff: vals.add(k), valLen: uint16(len(k)), next: noEntry})
			}
			r.vals = vals.arena()
			tab := newKeyTable(nil, n/2) // as full as the index makes a table of distinct keys
			for i := range r.entries {
				tab.insert(r, uint32(i))
			}
			for i := 0; i < n; i += 2 {
				k := shape.key(i / 2)
				h, ok := tab.get(r, k)
				if !ok || h != uint32(i+1) || r.entries[h].next != uint32(i) || r.entries[i].next != noEntry {
					t.Fatalf("%q: head %d (%v), want %d then %d", k, h, ok, i+1, i)
				}
				if _, ok := tab.get(r, k+"x"); ok {
					t.Fatalf("%q found", k+"x")
				}
			}
			longest, run := 0, 0
			for _, s := range tab.slots {
				if s == 0 {
					run = 0
					continue
				}
				run++
				longest = max(longest, run)
			}
			t.Logf("longest run %d", longest)
			if longest > 100 {
				t.Errorf("a run of %d full slots: the hash clusters %s", longest, shape.name)
			}
		})
	}
}
