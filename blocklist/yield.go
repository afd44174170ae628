package blocklist

import (
	"context"
	"time"

	"github.com/georestrict/caddy-georestrict/internal/pace"
)

// yieldQuantum is how long a load works before it gives the processor up (internal/pace): a
// gateway loads a register while it serves traffic, and requests that are ready to run
// should not wait for Go's 10 ms preemption slice.
const yieldQuantum = 100 * time.Microsecond

// A pacer gives the processor up after every yieldQuantum of work, and stops a load whose
// context is done: it panics with a cancelled value, which the load recovers (see
// catchCancel). Each goroutine of a load has its own; the zero value never stops.
type pacer struct {
	ctx   context.Context
	n     uint32
	since time.Time
	pause pace.Pacer
}

// cancelled unwinds a load whose context is done, from however deep in its loops it is; a
// load checks its context only when it yields, every yieldQuantum, so it stops that soon.
type cancelled struct{ err error }

// catchCancel, deferred, turns a cancelled load's panic into the context's error in *err.
func catchCancel(err *error) {
	if r := recover(); r != nil {
		c, ok := r.(cancelled)
		if !ok {
			panic(r)
		}
		*err = c.err
	}
}

// goLoad runs f on its own goroutine, counted by wg, where a cancelled load's panic ends
// f and nothing else: the goroutine that waits sees the context itself.
func goLoad(wg interface{ Go(func()) }, f func()) {
	wg.Go(func() {
		var err error
		defer catchCancel(&err)
		f()
	})
}

// step is called once per unit of work (a row, an index entry). The clock is read every 64
// steps: even the cheapest units take more than 10 ns, so a quantum is overshot by a few
// microseconds at most, and the clock costs under a nanosecond per step.
func (p *pacer) step() {
	p.n++
	if p.n%64 != 0 {
		return
	}
	p.yield()
}

// yield is step for units of work that take longer than a microsecond or so (reading a
// chunk of a file): it reads the clock every time.
func (p *pacer) yield() {
	now := time.Now()
	switch {
	case p.since.IsZero():
		p.since = now
	case now.Sub(p.since) >= yieldQuantum:
		if p.ctx != nil && p.ctx.Err() != nil {
			panic(cancelled{context.Cause(p.ctx)})
		}
		p.pause.Pause()
		p.since = time.Now()
	}
}
