package blocklist

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/georestrict/caddy-georestrict/internal/offheap"
)

// offHeapRegister has orders of every kind and every text, so that every table and arena
// is kept outside the heap.
const offHeapRegister = "id,countries,target,action,authority,reference,notice,reason\n" +
	"p1,RU,post:123,,Роскомнадзор,2-6-27/2024,https://notice.example/1,Withheld in your country\n" +
	"p2,RU,post:x9,,Роскомнадзор,2-6-27/2024,,\n" +
	"a1,RU,account:someuser,,Court,ref-a1,,\n" +
	"x1,RU,path:/banned,,,,,\n" +
	"m1,RU,path:/media/upload*,throttle 16KiB/s,,,,\n"

func skipWithoutMappings(t *testing.T) {
	t.Helper()
	r, err := offheap.Map(1)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("no anonymous mappings on this platform: registers stay on the Go heap")
	}
	if err != nil {
		t.Fatal(err)
	}
	r.Free()
}

// waitFreed collects garbage until the mappings are freed, which the cleanups of their
// registers do once those are unreachable. It gives up after a long while: a mapping that is
// never freed is a leak of a whole register per reload.
func waitFreed(t *testing.T, mems ...*offheap.Pool) {
	t.Helper()
	for range 1000 {
		runtime.GC()
		n := 0
		for _, m := range mems {
			if m.Freed() {
				n++
			}
		}
		if n == len(mems) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the mappings of unreachable registers were not freed")
}

func TestRegisterIsKeptOffHeap(t *testing.T) {
	skipWithoutMappings(t)
	r := mustRegister(t, offHeapRegister, Options{})
	if r.mem == nil || r.Stats().OffHeap != r.mem.Size() || r.Stats().OffHeap == 0 {
		t.Fatalf("the register is not kept outside the heap: Stats().OffHeap = %d", r.Stats().OffHeap)
	}
	// The whole register answers from there (every other test of the package matches against
	// registers kept so as well).
	for path, want := range map[string]string{
		"/someuser/status/123": "p1", "/other/status/X9": "p2", "/SomeUser": "a1",
		"/banned": "x1", "/media/upload/1": "m1", "/other/status/124": "",
	} {
		if o, _ := applies(r, "RU", path, "", testNow); o.ID != want {
			t.Errorf("%s: matched %q, want %q", path, o.ID, want)
		}
	}
}

// What a register hands out is the caller's own: it stays readable after the register is
// collected and its mapping freed (reading freed memory would crash the test, not fail it).
func TestOrdersOutliveTheirRegister(t *testing.T) {
	skipWithoutMappings(t)
	r := mustRegister(t, offHeapRegister, Options{})
	mem := r.mem
	ref, v := r.MatchRef("RU", "/someuser/status/123", "", testNow)
	if v != Applies {
		t.Fatalf("verdict %v, want Applies", v)
	}
	o := r.Order(ref)
	x := r.Explain("RU", "/someuser/status/123", "", testNow)
	census := r.Census()
	r = nil
	waitFreed(t, mem)

	want := Order{ID: "p1", Target: Target{Kind: TargetPost, Value: "123"}, Authority: "Роскомнадзор",
		Reference: "2-6-27/2024", Notice: "https://notice.example/1", Reason: "Withheld in your country"}
	if o.ID != want.ID || o.Target != want.Target || o.Authority != want.Authority ||
		o.Reference != want.Reference || o.Notice != want.Notice || o.Reason != want.Reason {
		t.Errorf("Order after the register was freed = %+v, want %+v", o, want)
	}
	if x.Order.ID != "p1" || x.Order.Authority != "Роскомнадзор" || len(x.Orders) != 2 {
		t.Errorf("Explain after the register was freed = %+v", x)
	}
	for _, eo := range x.Orders {
		if want := map[string]string{"p1": "Роскомнадзор", "a1": "Court"}[eo.Order.ID]; eo.Order.Authority != want {
			t.Errorf("Explain after the register was freed: order %q has authority %q, want %q", eo.Order.ID, eo.Order.Authority, want)
		}
	}
	if len(census) != 1 || census[0].Orders != 5 || census[0].Source != "orders.csv" {
		t.Errorf("Census after the register was freed = %+v", census)
	}
}

// Registers replaced under requests, as a reload does, are freed once no request holds
// them, and never while one does: readers match against whichever register is current while
// a writer replaces it and collects garbage.
func TestRegistersReplacedUnderRequests(t *testing.T) {
	skipWithoutMappings(t)
	const versions = 40
	var current atomic.Pointer[Register]
	load := func(v int) *Register {
		return mustRegister(t, fmt.Sprintf("id,countries,target\nv%d,RU,post:123\nw%d,RU,account:someuser\n", v, v), Options{})
	}
	current.Store(load(0))
	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		failures atomic.Int64
		matched  atomic.Int64
	)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				r := current.Load()
				ref, v := r.MatchRef("RU", "/someuser/status/123", "", testNow)
				if v != Applies {
					failures.Add(1)
					continue
				}
				if o := r.Order(ref); !strings.HasPrefix(o.ID, "v") {
					failures.Add(1)
				}
				matched.Add(1)
			}
		})
	}
	var replaced []*offheap.Pool
	for v := 1; v <= versions; v++ {
		old := current.Swap(load(v))
		replaced = append(replaced, old.mem)
		runtime.GC()
	}
	stop.Store(true)
	wg.Wait()
	if failures.Load() > 0 || matched.Load() == 0 {
		t.Fatalf("%d of %d matches failed", failures.Load(), matched.Load())
	}
	waitFreed(t, replaced...)
	if current.Load().mem.Freed() {
		t.Fatal("the current register's mapping was freed")
	}
}

// watchPools records the pools loads build their registers in.
func watchPools(t *testing.T) *[]*offheap.Pool {
	var pools []*offheap.Pool
	old := newPool
	newPool = func() *offheap.Pool {
		p := old()
		pools = append(pools, p)
		return p
	}
	t.Cleanup(func() { newPool = old })
	return &pools
}

// A register that is refused frees what was built of it as the load returns, whatever
// stopped it: a bad row (found while reading), a duplicate id (found once everything,
// index included, is built), a cancelled load (at whatever point it had reached). It is
// outside the heap, so the collector would not hurry to free it; and a refused register
// built anew on every refresh would leak a register each time.
func TestRefusedRegisterIsFreed(t *testing.T) {
	skipWithoutMappings(t)
	data, _ := genRegister(100_000)
	good := string(data)
	load := func(ctx context.Context, text string) (*Register, error) {
		return Load(ctx, []Source{{Name: "orders.csv", Reader: strings.NewReader(text)}}, Options{Hosts: []string{"twitter.example"}})
	}
	for _, tc := range []struct {
		name string
		text string
	}{
		{"bad row", good + "late,RX,post:1,,,,,,,\n"},
		{"duplicate id", good + "rkn-7,RU,post:1,,,,,,,\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pools := watchPools(t)
			if _, err := load(context.Background(), tc.text); err == nil {
				t.Fatal("the register was not refused")
			}
			if len(*pools) != 1 || !(*pools)[0].Freed() || (*pools)[0].Size() != 0 {
				t.Fatalf("the refused register's pool was not freed (%d pools)", len(*pools))
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		pools := watchPools(t)
		cancelled := 0
		for _, after := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond} {
			ctx, cancel := context.WithTimeout(context.Background(), after)
			r, err := load(ctx, good)
			cancel()
			p := (*pools)[len(*pools)-1]
			switch {
			case err != nil && p.Freed() && p.Size() == 0:
				cancelled++
			case err != nil:
				t.Errorf("cancelled after %v (%v), the pool was not freed", after, err)
			case p.Freed() || r.mem != p:
				t.Errorf("loaded despite a deadline of %v, but the register's pool was freed", after)
			}
		}
		if cancelled == 0 {
			t.Error("no load was cancelled: the test did not test")
		}
	})
	t.Run("loaded", func(t *testing.T) {
		pools := watchPools(t)
		r, err := load(context.Background(), good)
		if err != nil {
			t.Fatal(err)
		}
		if p := (*pools)[0]; r.mem != p || p.Freed() || p.Size() != r.Stats().OffHeap || p.Size() == 0 {
			t.Fatalf("the register does not own its pool: freed %v, size %d, OffHeap %d", p.Freed(), p.Size(), r.Stats().OffHeap)
		}
	})
}

// A register read from a source that does not tell its size grows its tables by doubling;
// what it keeps is no larger for that than when it was sized from the start: the slack is
// shed when the register settles.
func TestUnsizedRegisterShedsItsSlack(t *testing.T) {
	skipWithoutMappings(t)
	data, _ := genRegister(5_000)
	load := func(r io.Reader) *Register {
		reg, err := Load(context.Background(), []Source{{Name: "orders.csv", Reader: r}}, Options{Hosts: []string{"twitter.example"}})
		if err != nil {
			t.Fatal(err)
		}
		return reg
	}
	sized := load(bytes.NewReader(data)).Stats().OffHeap
	unsized := load(struct{ io.Reader }{bytes.NewReader(data)}).Stats().OffHeap
	if unsized > sized+sized/20 {
		t.Errorf("unsized, the register keeps %d bytes outside the heap; sized, %d", unsized, sized)
	}
}
