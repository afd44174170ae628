package source

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestBackoffBounds draws many runs of waits after failures and checks
// that each wait lies where decorrelated jitter puts it: between the
// interval and three times the previous wait, never above the cap, and
// that the cap is reached.
func TestBackoffBounds(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		wantMax  time.Duration
	}{
		{"one second", time.Second, 8 * time.Second},
		{"one minute", time.Minute, 8 * time.Minute},
		{"ten minutes", 10 * time.Minute, time.Hour},
		{"two hours", 2 * time.Hour, 2 * time.Hour},
		{"a century", 100 * 365 * 24 * time.Hour, 100 * 365 * 24 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackoff(tc.interval)
			if b.max != tc.wantMax {
				t.Fatalf("cap = %v, want %v", b.max, tc.wantMax)
			}
			b.rnd = rand.New(rand.NewPCG(1, 2))
			var highest time.Duration
			var firstSum time.Duration
			const runs = 2000
			for range runs {
				b.reset()
				prev := tc.interval
				for i := 1; i <= 12; i++ {
					wait := b.fail()
					hi := min(3*prev, tc.wantMax)
					if tc.interval > tc.wantMax/3 {
						hi = tc.wantMax
					}
					if wait < tc.interval || wait > hi {
						t.Fatalf("failure %d: wait %v outside [%v, %v]", i, wait, tc.interval, hi)
					}
					if b.failures != i {
						t.Fatalf("failures = %d, want %d", b.failures, i)
					}
					if i == 1 {
						firstSum += wait
					}
					highest = max(highest, wait)
					prev = wait
				}
			}
			if highest < tc.wantMax*95/100 {
				t.Errorf("highest wait %v, want close to the cap %v", highest, tc.wantMax)
			}
			// The first wait is uniform in [interval, 3 intervals] (or
			// the interval itself when it is the cap): its mean is twice
			// the interval.
			if tc.wantMax > tc.interval {
				mean := firstSum / runs
				if mean < tc.interval*19/10 || mean > tc.interval*21/10 {
					t.Errorf("mean first wait %v, want about %v", mean, 2*tc.interval)
				}
			}
			b.reset()
			if b.failures != 0 || b.prev != 0 {
				t.Errorf("after reset: %+v", b)
			}
		})
	}
}

// TestBackoffSpreadsFleet lets 1000 nodes lose their origin at the same
// moment and checks that their retries do not come in step: no tenth of
// an interval receives more than a tenth of the retries.
func TestBackoffSpreadsFleet(t *testing.T) {
	const nodes = 1000
	interval := time.Minute
	rnd := rand.New(rand.NewPCG(3, 4))
	for retry := 1; retry <= 5; retry++ {
		buckets := map[time.Duration]int{}
		for range nodes {
			b := newBackoff(interval)
			b.rnd = rnd
			var at time.Duration
			for range retry {
				at += b.fail()
			}
			buckets[at/(interval/10)]++
		}
		for bucket, n := range buckets {
			if n > nodes/10 {
				t.Errorf("retry %d: %d of %d nodes within the same tenth of an interval (%v)", retry, n, nodes, bucket*interval/10)
			}
		}
	}
}
