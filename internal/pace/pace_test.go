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
	var p Pacer
	start := now()
	p.Pause() // due: takes a breath
	next, until := breath.next.Load(), breath.until.Load()
	if next < start+int64(breathEvery) || until < start+int64(breathLen) {
		t.Fatalf("after a breath: next %v, until %v after the start; want at least %v and %v",
			time.Duration(next-start), time.Duration(until-start), breathEvery, breathLen)
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
