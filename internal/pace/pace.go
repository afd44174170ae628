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
package pace

import (
	"runtime"
	"sync/atomic"
	"time"
)

const (
	breathLen       = 150 * time.Microsecond
	breathEvery     = time.Millisecond
	idleBreathEvery = 25 * time.Millisecond
)

// breath is the state all background work of the process shares: when the next breath may
// start and when the current one ends, in nanoseconds since clock; and how long background
// work has run in all, for telling an idle processor from a busy one.
var breath struct {
	next, until atomic.Int64
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
		time.Sleep(min(time.Duration(until-t), breathLen))
		return
	}
	next := breath.next.Load()
	if t < next || !breath.next.CompareAndSwap(next, t+int64(breathEvery)) {
		runtime.Gosched()
		return
	}
	breath.until.Store(t + int64(breathLen))
	cpu, ok := processTime()
	work := breath.work.Load()
	time.Sleep(breathLen)
	wall := now() - t
	// What the process ran meanwhile, less background work (other goroutines finishing
	// their pieces), is what requests ran: if that is little, nobody was waiting.
	after, ok2 := processTime()
	if !ok || !ok2 || int64(after-cpu)-(breath.work.Load()-work) < wall/8 {
		breath.next.Store(t + int64(idleBreathEvery))
	}
}
