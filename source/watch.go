package source

import (
	"context"
	"math/rand/v2"
	"time"
)

// Event is the outcome of one check made by [Source.Watch]: a new version,
// an error, or (both nil) no change.
type Event struct {
	// Version is the new version, if there is one. The receiver owns it
	// and must release it.
	Version *Version

	// Err is why the check failed, if it did.
	Err error

	// Failures counts the checks that have failed in a row, this one
	// included; 0 after a check that succeeded.
	Failures int

	// Next is how long Watch waits before the next check.
	Next time.Duration
}

// maxBackoffFactor bounds the wait after failures, in intervals.
const maxBackoffFactor = 8

// maxBackoff bounds the wait after failures when the interval is long.
const maxBackoff = time.Hour

// Watch checks the source (with [Source.Check]) every interval and
// reports each outcome to report, until ctx is done. It then returns
// promptly, cancelling a check in flight; it starts no goroutine, so
// nothing it does outlives the call. Run it in a goroutine of its own,
// after a first check of the caller's. report runs on Watch's goroutine:
// the next check waits for it.
//
// The first check comes after a random part of interval, so that nodes of
// a fleet started together do not ask the origin at the same moment, and
// the next ones interval after the end of the previous one. An interval
// of zero or less means no checks: Watch returns at once.
//
// After a failure, the waits grow with "decorrelated jitter": each is
// drawn at random between interval and three times the previous wait,
// capped at 8 intervals (and at most an hour, unless the interval is
// longer). They never fall below interval: the last good version stays in
// force while the origin is away, so there is no hurry that would justify
// asking it more often than usual, and a fleet that lost its origin comes
// back to it spread out rather than in step. Unlike "full jitter" (a wait
// drawn between zero and the exponential bound), it cannot draw a wait
// near zero, which would turn an origin that fails fast into a tight loop.
func (s *Source) Watch(ctx context.Context, interval time.Duration, report func(Event)) {
	if interval <= 0 {
		return
	}
	b := newBackoff(interval)
	timer := time.NewTimer(rand.N(interval))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		v, err := s.Check(ctx)
		if ctx.Err() != nil {
			// Shutting down: a check cut short is not news.
			v.Release()
			return
		}
		e := Event{Version: v, Err: err, Next: interval}
		if err != nil {
			e.Next = b.fail()
		} else {
			b.reset()
		}
		e.Failures = b.failures
		report(e)
		timer.Reset(e.Next)
	}
}

// backoff draws waits after failures with decorrelated jitter (see the
// AWS Architecture Blog, "Exponential Backoff And Jitter", 2015):
// wait = min(max, random between base and 3 × the previous wait).
type backoff struct {
	base, max time.Duration
	prev      time.Duration
	failures  int
	rnd       *rand.Rand // nil: the global source; tests seed their own
}

// newBackoff returns the backoff of a source checked every interval: waits
// from interval to 8 intervals, or to an hour, or to interval if longer.
func newBackoff(interval time.Duration) backoff {
	b := backoff{base: interval, max: interval}
	if interval < maxBackoff {
		b.max = min(maxBackoffFactor*interval, maxBackoff)
	}
	return b
}

func (b *backoff) fail() time.Duration {
	b.failures++
	hi := b.max
	if prev := max(b.prev, b.base); prev < b.max/3 {
		hi = 3 * prev
	}
	wait := b.base
	if hi > b.base {
		wait += b.draw(hi - b.base + 1)
	}
	b.prev = wait
	return wait
}

// draw returns a random duration in [0, n).
func (b *backoff) draw(n time.Duration) time.Duration {
	if b.rnd != nil {
		return time.Duration(b.rnd.Int64N(int64(n)))
	}
	return rand.N(n)
}

func (b *backoff) reset() {
	b.prev, b.failures = 0, 0
}
