package blocklist

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The post index must agree with a map on every key, present or not, including post 0
// (which has no slot of its own) and posts named by several orders (chained, the last
// loaded first).
func TestPostIndex(t *testing.T) {
	for _, n := range []int{0, 1, 7, 1000, 100_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(n)))
			var ab arenaBuilder
			entries := make([]entry, 0, n)
			want := map[uint64][]uint32{} // key -> entries, last loaded first
			for i := range n {
				var k uint64
				switch {
				case i%50 == 0:
					k = 0
				case i%10 == 0 && i > 0:
					k = parseKey(t, &ab, entries[i/2]) // a post that is already there
				case i%3 == 0:
					k = rng.Uint64()
				default:
					k = 1700000000000000000 + uint64(i)*7919 // snowflake-like
				}
				v := fmt.Sprint(k)
				entries = append(entries, entry{valOff: ab.add(v), valLen: uint16(len(v)), next: noEntry, kind: TargetPost, numeric: true})
				want[k] = append([]uint32{uint32(i)}, want[k]...)
			}
			idx := buildPostIndex(context.Background(), nil, entries, ab.arena(), n)
			if n > 0 && len(idx.keys)*3 < n*4 {
				t.Errorf("%d slots for %d keys: more than 3/4 full", len(idx.keys), n)
			}
			for k, chain := range want {
				var got []uint32
				h, ok := idx.get(k)
				for i := h; ok && i != noEntry; i = entries[i].next {
					got = append(got, i)
				}
				if fmt.Sprint(got) != fmt.Sprint(chain) {
					t.Fatalf("post %d: chain %v, want %v", k, got, chain)
				}
			}
			for range 10_000 {
				k := rng.Uint64()
				if _, in := want[k]; in {
					continue
				}
				if h, ok := idx.get(k); ok {
					t.Fatalf("post %d is not indexed, but get returned entry %d", k, h)
				}
			}
		})
	}
}

func parseKey(t *testing.T, ab *arenaBuilder, e entry) uint64 {
	t.Helper()
	k, ok := parseDecimal(ab.get(e.valOff, int(e.valLen)))
	if !ok {
		t.Fatal("bad key")
	}
	return k
}

// Ids and values fill several arena chunks in a register of a few megabytes; every order
// must still read back and match exactly as written, wherever a chunk ended.
func TestRegisterAcrossArenaChunks(t *testing.T) {
	const n = 40_000
	var b strings.Builder
	b.WriteString("id,countries,target\n")
	pad := strings.Repeat("x", 90)
	want := make(map[string]string, n)
	for i := range n {
		id := fmt.Sprintf("order-%s-%d", pad[:i%90], i)
		var target, value string
		switch i % 3 {
		case 0:
			value = fmt.Sprint(1700000000000000000 + uint64(i)*7919)
			target = "post:" + value
		case 1:
			value = fmt.Sprintf("/pages/%s/%d", pad[:i%90], i)
			target = "path:" + value
		default:
			value = fmt.Sprintf("user_%s_%d", pad[:i%40], i)
			target = "account:" + value
		}
		fmt.Fprintf(&b, "%s,RU,%s\n", id, target)
		want[id] = value
	}
	p := filepath.Join(t.TempDir(), "big.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := loadFiles([]string{p}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.ids) < 2 || len(r.vals) < 2 {
		t.Fatalf("ids in %d chunks, values in %d: the test does not cross a chunk", len(r.ids), len(r.vals))
	}
	seen := 0
	for o := range r.orders {
		seen++
		if want[o.ID] != o.Target.Value {
			t.Fatalf("order %q: value %q, want %q", o.ID, o.Target.Value, want[o.ID])
		}
		var path string
		switch o.Target.Kind {
		case TargetPost:
			path = "/someone/status/" + o.Target.Value
		case TargetPath:
			path = o.Target.Value
		case TargetAccount:
			path = "/" + o.Target.Value
		}
		if m, ok := applies(r, "RU", path, "", testNow); !ok || m.ID != o.ID {
			t.Fatalf("Match(%q) = %q, want %q", path, m.ID, o.ID)
		}
	}
	if seen != n {
		t.Errorf("%d orders, want %d", seen, n)
	}
}

// Duplicates among many ids are reported at each later occurrence, naming the first, in
// line order, wherever their hashes fall.
func TestDuplicatesAmongMany(t *testing.T) {
	var b strings.Builder
	b.WriteString("id,countries,target\n")
	for i := range 50_000 {
		id := fmt.Sprint("o", i)
		switch i {
		case 30_000:
			id = "o7"
		case 40_000, 45_000:
			id = "o29999"
		}
		fmt.Fprintf(&b, "%s,RU,post:%d\n", id, i+1)
	}
	_, _, err := parseOrders("o.csv", (b.String()), Options{})
	want := `register o.csv: line 30002: id: duplicate id "o7" (also at o.csv:9)` + "\n" +
		`register o.csv: line 40002: id: duplicate id "o29999" (also at o.csv:30001)` + "\n" +
		`register o.csv: line 45002: id: duplicate id "o29999" (also at o.csv:30001)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}
