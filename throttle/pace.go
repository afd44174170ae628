package throttle

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// pacer charges bytes to a budget and waits until the budget has paid for
// them, giving up as soon as ctx is done. Reader and ResponseWriter share it.
// It is not safe for concurrent waits, like the Read and Write it serves.
type pacer struct {
	ctx    context.Context
	budget *Budget
	// timer is reused by every wait, so that a long transfer allocates one
	// timer rather than one per read.
	timer *time.Timer
	bytes atomic.Int64 // read by Bytes, possibly from another goroutine
}

// wait charges n bytes, no more than budget.chunk(), to the budget and
// blocks until they are paid for or ctx is done.
//
// It reserves and sleeps itself instead of calling rate.Limiter.WaitN, which
// fails at once, with an error of its own, when the wait would outlast a
// deadline of ctx: here a deadline ends the wait when it passes, with ctx's
// error, like a cancellation.
func (p *pacer) wait(n int) error {
	if err := p.err(); err != nil {
		return err
	}
	lim := p.budget.limiter
	if lim == nil || n <= 0 {
		return nil
	}
	now := time.Now()
	r := lim.ReserveN(now, n)
	if !r.OK() {
		// Only a request larger than the bucket is refused, and chunk
		// keeps requests within it.
		return fmt.Errorf("throttle: reserving %d bytes: more than the burst of %d", n, p.budget.burst)
	}
	delay := r.DelayFrom(now)
	if delay <= 0 {
		return nil
	}
	if p.timer == nil {
		p.timer = time.NewTimer(delay)
	} else {
		p.timer.Reset(delay)
	}
	select {
	case <-p.timer.C:
		return nil
	case <-p.ctx.Done():
		p.timer.Stop()
		// Give back what was not used, so that the client's other
		// requests are not held back for bytes that never passed.
		r.Cancel()
		return p.err()
	}
}

// err returns why ctx is done, nil if it is not: its cause when it was
// given one (context.WithTimeoutCause, context.WithCancelCause), so that the
// caller can tell its own deadline from the request's end.
func (p *pacer) err() error {
	return context.Cause(p.ctx)
}
