package blocklist

import (
	"runtime"
	"time"
)

// yieldQuantum is how long a load works before it yields the processor.
//
// Loading a large register takes a good fraction of a second of CPU, and a gateway loads it
// while it serves traffic (a config reload). A loader that never yields leaves requests on
// its processor waiting for Go's 10 ms preemption slice, which is then what a reload's p99
// shows. Yielding every 100 µs bounds that wait at a few requests' worth of work; it costs
// the load a few percent on an idle machine (BenchmarkLoad, with the quantum raised).
const yieldQuantum = 100 * time.Microsecond

// A pacer yields the processor after every yieldQuantum of work. Each goroutine of a load
// has its own; the zero value is ready.
type pacer struct {
	n     uint32
	since time.Time
}

// step is called once per unit of work (a row, an index entry). The clock is read every 64
// steps: even the cheapest units take more than 10 ns, so a quantum is overshot by a few
// microseconds at most, and the clock costs under a nanosecond per step.
func (p *pacer) step() {
	p.n++
	if p.n%64 != 0 {
		return
	}
	now := time.Now()
	switch {
	case p.since.IsZero():
		p.since = now
	case now.Sub(p.since) >= yieldQuantum:
		runtime.Gosched()
		p.since = time.Now()
	}
}
