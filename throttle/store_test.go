package throttle_test

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/georestrict/caddy-georestrict/throttle"
)

// TestStoreSharing checks which requests share a budget.
func TestStoreSharing(t *testing.T) {
	addr := netip.MustParseAddr
	tests := []struct {
		name  string
		a, b  netip.Addr
		rateA int64
		rateB int64
		same  bool
	}{
		{"same client and rate", addr("77.88.55.88"), addr("77.88.55.88"), kib, kib, true},
		{"other client", addr("77.88.55.88"), addr("77.88.55.89"), kib, kib, false},
		{"other rate", addr("77.88.55.88"), addr("77.88.55.88"), kib, 2 * kib, false},
		{"IPv4-mapped IPv6", addr("77.88.55.88"), addr("::ffff:77.88.55.88"), kib, kib, true},
		{"same IPv6 /64", addr("2a02:6b8::1"), addr("2a02:6b8::ffff:1234:5678:9abc"), kib, kib, true},
		{"IPv6 zone", addr("fe80::1%eth0"), addr("fe80::1"), kib, kib, true},
		{"other IPv6 /64", addr("2a02:6b8::1"), addr("2a02:6b8:0:1::1"), kib, kib, false},
		{"unknown addresses", netip.Addr{}, netip.Addr{}, kib, kib, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := throttle.NewStore(throttle.StoreOptions{})
			a := s.Acquire(tc.a, tc.rateA)
			b := s.Acquire(tc.b, tc.rateB)
			if got := a == b; got != tc.same {
				t.Errorf("shared = %v, want %v", got, tc.same)
			}
			want := 2
			if tc.same {
				want = 1
			}
			if s.Len() != want || s.Active() != 2 {
				t.Errorf("Len, Active = %d, %d; want %d, 2", s.Len(), s.Active(), want)
			}
			a.Release()
			b.Release()
			if s.Active() != 0 {
				t.Errorf("Active after Release = %d, want 0", s.Active())
			}
		})
	}
}

// TestStoreBound checks that idle budgets never make the store exceed
// MaxClients, and that in-use budgets are never dropped to make room.
func TestStoreBound(t *testing.T) {
	const maxClients = 10
	s := throttle.NewStore(throttle.StoreOptions{MaxClients: maxClients})

	// Many clients come and go: the store stays within its bound.
	for i := range 1000 {
		s.Acquire(clientAddr(i), kib).Release()
		if s.Len() > maxClients {
			t.Fatalf("after %d clients: Len = %d, want at most %d", i+1, s.Len(), maxClients)
		}
	}

	// More clients than the bound hold budgets at once: all are kept,
	// and a request joining one of them gets the very same budget.
	held := make([]*throttle.Budget, 3*maxClients)
	for i := range held {
		held[i] = s.Acquire(clientAddr(i), kib)
	}
	if s.Len() != len(held) {
		t.Errorf("with %d budgets in use: Len = %d, want %d", len(held), s.Len(), len(held))
	}
	for i, b := range held {
		again := s.Acquire(clientAddr(i), kib)
		if again != b {
			t.Fatalf("client %d: a second request got another budget while the first was in use", i)
		}
		again.Release()
	}

	// Once released, the store shrinks back to its bound.
	for _, b := range held {
		b.Release()
	}
	if s.Len() > maxClients {
		t.Errorf("after release: Len = %d, want at most %d", s.Len(), maxClients)
	}
	if s.Active() != 0 {
		t.Errorf("Active = %d, want 0", s.Active())
	}
}

// TestStoreIdle checks the idle policy: a released budget that has not
// refilled is remembered (so that a new request cannot start with a fresh
// burst), and once it has refilled it is forgotten.
func TestStoreIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate = 64 * kib
		s := throttle.NewStore(throttle.StoreOptions{Burst: 16 * kib})
		b := s.Acquire(client, rate)
		r := throttle.NewReader(context.Background(), zeros{}, b)
		if _, err := io.CopyN(io.Discard, r, 64*kib); err != nil {
			t.Fatal(err)
		}
		b.Release()

		// Right away, the client gets its emptied budget back.
		again := s.Acquire(client, rate)
		if again != b {
			t.Fatal("a budget released with an empty bucket was forgotten")
		}
		again.Release()

		// Once refilled (16 KiB at 64 KiB/s: 250ms), the next Acquire
		// of anyone forgets it.
		time.Sleep(250 * time.Millisecond)
		other := s.Acquire(clientAddr(1), rate)
		defer other.Release()
		if s.Len() != 1 {
			t.Errorf("Len = %d, want 1: the refilled budget should be forgotten", s.Len())
		}
		if fresh := s.Acquire(client, rate); fresh == b {
			t.Error("the refilled budget is still handed out")
		} else {
			fresh.Release()
		}
	})
}

// TestStoreConcurrent hammers one store from many goroutines; run with
// -race. Clients overlap, so budgets are shared, released, forgotten and
// created again all the time.
func TestStoreConcurrent(t *testing.T) {
	s := throttle.NewStore(throttle.StoreOptions{MaxClients: 16})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				b := s.Acquire(clientAddr((g*7+i)%64), kib)
				if b.Rate() != kib {
					t.Errorf("Rate = %d, want %d", b.Rate(), kib)
				}
				b.Release()
			}
		})
	}
	wg.Wait()
	if s.Active() != 0 || s.Len() > 16 {
		t.Errorf("Active, Len = %d, %d; want 0, at most 16", s.Active(), s.Len())
	}
}

// TestStoreBurst checks the bucket sizes.
func TestStoreBurst(t *testing.T) {
	tests := []struct {
		burst int64
		rate  int64
		want  int64
	}{
		{0, 8 * mib, 8 * mib},   // a second of the rate
		{0, 32 * kib, 32 * kib}, // a second of the rate
		{0, 100, kib},           // at least 1 KiB
		{16 * kib, 8 * mib, 16 * kib},
		{-1, 32 * kib, 32 * kib}, // negative: the default
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("burst=%d/%s", tc.burst, fmtRate(tc.rate)), func(t *testing.T) {
			s := throttle.NewStore(throttle.StoreOptions{Burst: tc.burst})
			b := s.Acquire(client, tc.rate)
			defer b.Release()
			if b.Burst() != tc.want {
				t.Errorf("Burst = %d, want %d", b.Burst(), tc.want)
			}
		})
	}
}

func TestReleaseTooOften(t *testing.T) {
	for _, rate := range []int64{kib, 0} {
		t.Run(fmt.Sprintf("rate=%d", rate), func(t *testing.T) {
			s := throttle.NewStore(throttle.StoreOptions{})
			b := s.Acquire(client, rate)
			b.Release()
			defer func() {
				if recover() == nil {
					t.Error("a second Release did not panic")
				}
			}()
			b.Release()
		})
	}
}
