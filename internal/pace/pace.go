// Package pace lets the background work of a gateway (loading a register, copying a new
// version of one, freeing the old) share the processor with requests.
//
// Yielding (runtime.Gosched) is not enough for that. Go polls the network only when a
// processor's run queues are empty, or when its monitor forces a poll, every 10 ms; a
// goroutine that yields goes back on the global run queue, and is taken from there again
// before the network is polled. So while background work runs, requests whose bytes have
// arrived are not noticed for up to 10 ms: a runtime trace of a million-order refresh
// under load showed stretches of up to 19 ms in which only the copy of the new version
// ran, 256 KiB at a time (BENCHMARKS.md, "A register built where it stays").
//
// So background work takes a breath now and then: at most every breathEvery, each
// goroutine that calls Pacer.Pause during the breath sleeps until it is over. A sleeping
// goroutine is not runnable; with all of them asleep, the processor polls the network and
// runs the requests that are ready, and the work carries on when they are done. The breath
// lasts longer than the work between two pauses should (100 µs or so), so that
// every background goroutine reaches its next Pause within it.
//
// On a processor with nothing else to do, a sleep can last the poller's millisecond, not a
// breath, and work that breathed every millisecond would take twice as long on an idle
// gateway. So a breath during which the process ran little but background work (by its CPU
// time, getrusage) found nobody waiting, and the next one waits for idleBreathEvery.
//
// A breath is as long as the requests need. Under saturating load, requests arrive as fast
// as they are answered, and a short breath hands the processor back to background work with
// requests still waiting: with 150 µs breaths a load took most of the processor, and p99
// doubled while it ran. So a breath that requests filled (by the process's CPU time, on every
// processor the runtime has) makes the next twice as long, up to maxBreath; one they left
// half empty halves it. Background work on a saturated processor then takes breathEvery in
// every breathEvery+maxBreath, about a seventh: it takes longer, and requests see their
// processor shrink by that much at most. It never stops.
package pace

import (
	"runtime"
	"sync/atomic"
	"time"
)

const (
	minBreath       = 150 * time.Microsecond
	maxBreath       = 6 * time.Millisecond
	breathEvery     = time.Millisecond
	idleBreathEvery = 25 * time.Millisecond
)

// breath is the state all background work of the process shares: when the next breath may
// start and when the current one ends, in nanoseconds since clock; how long the next
// breath lasts (0: minBreath); and how long background work has run in all, for telling an
// idle processor from a busy one.
var breath struct {
	next, until atomic.Int64
	length      atomic.Int64
	work        atomic.Int64
}

var clock = time.Now()

func now() int64 { return int64(time.Since(clock)) }

// A Pacer paces one goroutine's background work: its zero value is ready.
type Pacer struct {
	since int64 // when the goroutine last came back from Pause
}

// Pause gives the processor up between two pieces of background work (of 100 µs or so): a
// breath, when one is due or under way, and otherwise a yield.
func (p *Pacer) Pause() {
	t := now()
	if p.since != 0 {
		breath.work.Add(t - p.since)
	}
	defer func() { p.since = now() }()
	if until := breath.until.Load(); t < until {
		time.Sleep(min(time.Duration(until-t), maxBreath))
		return
	}
	length := max(time.Duration(breath.length.Load()), minBreath)
	next := breath.next.Load()
	if t < next || !breath.next.CompareAndSwap(next, t+int64(length+breathEvery)) {
		runtime.Gosched()
		return
	}
	breath.until.Store(t + int64(length))
	cpu, ok := processTime()
	work := breath.work.Load()
	time.Sleep(length)
	wall := time.Duration(now() - t)
	// What the process ran meanwhile, less background work (other goroutines finishing
	// their pieces), is what requests ran.
	after, ok2 := processTime()
	if !ok || !ok2 {
		breath.next.Store(t + int64(idleBreathEvery))
		return
	}
	others := after - cpu - time.Duration(breath.work.Load()-work)
	length, idle := nextBreath(length, wall, others, runtime.GOMAXPROCS(0))
	breath.length.Store(int64(length))
	if idle {
		breath.next.Store(t + int64(idleBreathEvery))
	}
}

// nextBreath returns how long the next breath lasts, after one of length that took wall
// time, during which requests ran for others (CPU time) on procs processors; and whether
// nobody was waiting, so that the next breath waits for idleBreathEvery.
func nextBreath(length, wall, others time.Duration, procs int) (time.Duration, bool) {
	switch {
	case others < wall/8:
		return minBreath, true
	case others > wall*time.Duration(procs)*3/4:
		return min(2*length, maxBreath), false
	case others < wall*time.Duration(procs)/2:
		return max(length/2, minBreath), false
	}
	return length, false
}
