package caddymodule

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// LogLimit bounds the enforcement log for heavily requested orders: at
// most Lines lines per order and client country in each Interval; the
// requests beyond that are counted, and the count is logged in one summary
// line per order and country when the interval ends (and when the config is
// unloaded). Every enforced request is thus still in the log, one by one or
// in a count, at a fraction of the bytes when a withheld post goes viral.
// The transparency report and the metrics count every request either way.
type LogLimit struct {
	// Lines logged one by one per order and client country in each
	// interval. At least 1.
	Lines int `json:"lines,omitempty"`
	// Length of an interval. At least 1s.
	Interval caddy.Duration `json:"interval,omitempty"`
}

// UnmarshalJSON decodes a LogLimit, naming the field of a bad interval.
func (l *LogLimit) UnmarshalJSON(b []byte) error {
	type plain LogLimit // without this method
	return decodeNamed(b, (*plain)(l))
}

func (l *LogLimit) check() error {
	switch {
	case l.Lines < 1:
		return fmt.Errorf("lines: must be at least 1, got %d", l.Lines)
	case time.Duration(l.Interval) < time.Second:
		return fmt.Errorf("interval: must be at least 1s, got %s", time.Duration(l.Interval))
	}
	return nil
}

// logLimiter enforces a LogLimit for one handler.
type logLimiter struct {
	lines    int64
	interval time.Duration
	logger   *zap.Logger
	dryRun   bool

	windows sync.Map // logKey -> *logWindow
	start   atomic.Int64
	stop    chan struct{}
	done    chan struct{}
}

// logKey is what a limit applies to: an order, for clients in a country.
type logKey struct{ order, country string }

// logWindow counts the requests of one logKey in the current interval.
type logWindow struct {
	n    atomic.Int64 // removed (and never to be counted again) when negative
	msg  string
	head []zap.Field // the order's fields, as in its lines
}

// removed is what a window's count is set to when it is removed: far enough
// below zero that no number of late increments brings it back.
const removed = math.MinInt64 / 2

func newLogLimiter(l LogLimit, logger *zap.Logger, dryRun bool) *logLimiter {
	ll := &logLimiter{
		lines:    int64(l.Lines),
		interval: time.Duration(l.Interval),
		logger:   logger,
		dryRun:   dryRun,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	ll.start.Store(time.Now().UnixNano())
	go ll.run()
	return ll
}

// allow counts a request for ans, and reports whether it gets a line of its
// own.
func (l *logLimiter) allow(ans *answer) bool {
	for {
		w := ans.window.Load()
		if w == nil {
			w = l.window(ans)
			ans.window.Store(w)
		}
		if n := w.n.Add(1); n > 0 {
			return n <= l.lines
		}
		// Removed for being idle: find or make the one that replaced it.
		ans.window.CompareAndSwap(w, nil)
	}
}

func (l *logLimiter) window(ans *answer) *logWindow {
	key := logKey{ans.order.ID, ans.country}
	for {
		v, ok := l.windows.Load(key)
		if !ok {
			v, _ = l.windows.LoadOrStore(key, &logWindow{msg: ans.summaryMsg, head: ans.logHead})
		}
		w := v.(*logWindow)
		if w.n.Load() >= 0 {
			return w
		}
		l.windows.CompareAndDelete(key, w)
	}
}

func (l *logLimiter) run() {
	defer close(l.done)
	t := time.NewTicker(l.interval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			l.flush(time.Now())
			return
		case now := <-t.C:
			l.flush(now)
		}
	}
}

// flush ends the interval: it logs a summary line for every order and
// country with requests beyond the limit, and forgets those without any.
func (l *logLimiter) flush(now time.Time) {
	from := time.Unix(0, l.start.Swap(now.UnixNano()))
	l.windows.Range(func(k, v any) bool {
		w := v.(*logWindow)
		n := w.n.Swap(0)
		if n == 0 {
			if w.n.CompareAndSwap(0, removed) {
				l.windows.Delete(k)
			}
			return true
		}
		if n <= l.lines {
			return true
		}
		if c := l.logger.Check(zapcore.InfoLevel, w.msg); c != nil {
			fields := append(w.head[:len(w.head):len(w.head)],
				zap.Int64("requests", n-l.lines),
				zap.Int64("logged", l.lines),
				zap.Time("from", from),
				zap.Time("to", now),
				zap.Bool("dry_run", l.dryRun),
			)
			c.Write(fields...)
		}
		return true
	})
}

// close logs what the current interval has not logged yet, and stops.
func (l *logLimiter) close() {
	close(l.stop)
	<-l.done
}
