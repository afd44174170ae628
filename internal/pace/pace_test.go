package pace

import (
	"sync"
	"testing"
	"time"
)

// A breath is taken by one caller at a time, and no sooner than breathEvery after the
// last; callers in between yield. (How long anything sleeps is the harness's to measure,
// not a test's: bench/run.sh, refresh-register.)
func TestBreaths(t *testing.T) {
	breath.next.Store(0)
	breath.until.Store(0)
	breath.length.Store(0)
	var p Pacer
	start := now()
	p.Pause() // due: takes a breath
	next, until := breath.next.Load(), breath.until.Load()
	if next < start+int64(breathEvery+minBreath) || until < start+int64(minBreath) {
		t.Fatalf("after a breath: next %v, until %v after the start; want at least %v and %v",
			time.Duration(next-start), time.Duration(until-start), breathEvery+minBreath, minBreath)
	}
	if now() < next {
		p.Pause() // not due: yields
		if breath.next.Load() != next || breath.until.Load() != until {
			t.Fatal("a breath was taken before the next was due")
		}
	}

	// Many callers at once, as a load's goroutines are: none is left waiting.
	breath.next.Store(0)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			var p Pacer
			for range 200 {
				p.Pause()
			}
		})
	}
	wg.Wait()
}

// A breath that requests filled makes the next longer, up to maxBreath; one they left half
// empty makes it shorter, down to minBreath; one in which nothing else ran means the
// processor is idle.
func TestNextBreath(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		name                 string
		length, wall, others time.Duration
		procs                int
		want                 time.Duration
		idle                 bool
	}{
		{"idle", minBreath, 200 * time.Microsecond, 0, 1, minBreath, true},
		{"idle after long breaths", 4 * ms, 4 * ms, 100 * time.Microsecond, 1, minBreath, true},
		{"filled", minBreath, 200 * time.Microsecond, 190 * time.Microsecond, 1, 2 * minBreath, false},
		{"filled, at the most", 4 * ms, 4 * ms, 4 * ms, 1, maxBreath, false},
		{"half empty", 4 * ms, 4 * ms, ms, 1, 2 * ms, false},
		{"half empty, at the least", minBreath, 200 * time.Microsecond, 60 * time.Microsecond, 1, minBreath, false},
		{"in between", 2 * ms, 2 * ms, 1200 * time.Microsecond, 1, 2 * ms, false},
		// On two processors, requests on one of them leave the other to background work.
		{"one of two filled", 2 * ms, 2 * ms, 2 * ms, 2, 2 * ms, false},
		{"both filled", 2 * ms, 2 * ms, 4 * ms, 2, 4 * ms, false},
	} {
		got, idle := nextBreath(tc.length, tc.wall, tc.others, tc.procs)
		if got != tc.want || idle != tc.idle {
			t.Errorf("%s: %v, idle %v; want %v, idle %v", tc.name, got, idle, tc.want, tc.idle)
		}
	}
}
