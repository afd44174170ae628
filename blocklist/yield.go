package blocklist

import "runtime"

// yieldEvery is how many rows, or index entries, a load handles between two
// yields of the processor.
//
// Loading a large register takes about a second of CPU, and a gateway loads
// it while it serves traffic (a config reload). A loader that never yields
// leaves requests on its core waiting for Go's 10 ms preemption slice, which
// is what a reload's p99 then shows. Yielding every few thousand rows, well
// under a millisecond of work, lets them run in between, at no measurable
// cost to the load.
const yieldEvery = 4096

// maybeYield yields the processor once every yieldEvery calls, counted by i.
func maybeYield(i int) {
	if i%yieldEvery == yieldEvery-1 {
		runtime.Gosched()
	}
}
