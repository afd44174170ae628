package source_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/georestrict/caddy-georestrict/source"
)

// TestWatchSchedule runs Watch on the fake clock of a synctest bubble over
// a file that is missing for a while, then appears: the first check comes
// within an interval, waits after failures grow within their bounds and
// are exactly what Next announced, a success resets them, and cancelling
// the context ends Watch.
func TestWatchSchedule(t *testing.T) {
	const (
		interval = time.Minute
		failures = 30
	)
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "register.csv")
		src := mustNew(t, path, source.Options{})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()

		var events []source.Event
		var times []time.Duration
		start := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			src.Watch(ctx, interval, func(e source.Event) {
				events = append(events, e)
				times = append(times, time.Since(start))
				switch len(events) {
				case failures:
					writeFile(t, path, v1, hourAgo)
				case failures + 1:
					writeFile(t, path, v2, hourAgo.Add(time.Second))
				case failures + 3:
					cancel()
				}
			})
		}()
		<-done

		if len(events) != failures+3 {
			t.Fatalf("%d events, want %d", len(events), failures+3)
		}
		if times[0] >= interval {
			t.Errorf("first check after %v, want within the interval %v", times[0], interval)
		}
		prev := interval
		for i, e := range events[:failures] {
			if e.Err == nil || e.Version != nil || e.Failures != i+1 {
				t.Fatalf("event %d = %+v, want failure %d", i, e, i+1)
			}
			if hi := min(3*prev, 8*interval); e.Next < interval || e.Next > hi {
				t.Errorf("failure %d: next check in %v, want within [%v, %v]", i+1, e.Next, interval, hi)
			}
			if got := times[i+1] - times[i]; got != e.Next {
				t.Errorf("failure %d: next check came after %v, announced %v", i+1, got, e.Next)
			}
			prev = e.Next
		}
		for i, want := range [][]byte{v1, v2, nil} {
			e := events[failures+i]
			if e.Err != nil || e.Failures != 0 || e.Next != interval {
				t.Errorf("event after recovery %d = %+v, want success and the interval", i, e)
			}
			if want == nil {
				if e.Version != nil {
					t.Errorf("event %d: version %s, want none", failures+i, e.Version)
				}
				continue
			}
			wantVersion(t, e.Version, nil, want)
			if i > 0 {
				if got := times[failures+i] - times[failures+i-1]; got != interval {
					t.Errorf("check after a success came after %v, want %v", got, interval)
				}
			}
		}
	})
}

// TestWatchSpreadsFirstChecks starts Watch for 50 sources at once, as a
// fleet restarted together would, and checks that their first checks fall
// within the interval but not at one moment.
func TestWatchSpreadsFirstChecks(t *testing.T) {
	const interval = time.Minute
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "register.csv")
		writeFile(t, path, v1, hourAgo)
		ctx, cancel := context.WithCancel(t.Context())
		start := time.Now()
		var mu sync.Mutex
		first := map[time.Duration]bool{}
		var wg sync.WaitGroup
		for range 50 {
			src := mustNew(t, path, source.Options{})
			wg.Go(func() {
				src.Watch(ctx, interval, func(e source.Event) {
					e.Version.Release()
					mu.Lock()
					defer mu.Unlock()
					if at := time.Since(start); at >= interval {
						t.Errorf("first check after %v, want within %v", at, interval)
					} else {
						first[at] = true
					}
				})
			})
		}
		time.Sleep(interval - 1)
		synctest.Wait()
		cancel()
		wg.Wait()
		if len(first) < 40 {
			t.Errorf("50 first checks at %d distinct moments, want them spread", len(first))
		}
	})
}

// TestWatchURL runs Watch against a real origin that publishes a new
// version.
func TestWatchURL(t *testing.T) {
	o, srv := newOrigin(t, v1, `"1"`, time.Time{})
	src := mustNew(t, srv.URL+"/r.csv", source.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	events := make(chan source.Event)
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Watch(ctx, time.Millisecond, func(e source.Event) {
			select {
			case events <- e:
			case <-ctx.Done():
				e.Version.Release()
			}
		})
	}()
	next := func() source.Event {
		t.Helper()
		select {
		case e := <-events:
			if e.Err != nil {
				t.Fatalf("event: %v", e.Err)
			}
			return e
		case <-time.After(10 * time.Second):
			t.Fatal("no event in 10 s")
			return source.Event{}
		}
	}
	wantVersion(t, next().Version, nil, v1)
	if e := next(); e.Version != nil {
		t.Fatalf("second check: version %s, want none", e.Version)
	}
	o.publish(v2, `"2"`, time.Time{})
	for {
		e := next()
		if e.Version != nil {
			wantVersion(t, e.Version, nil, v2)
			break
		}
	}
	cancel()
	<-done
}

// TestWatchCancelMidFetch cancels Watch while a large body is on its way:
// Watch returns, reports nothing of the cut check, and leaves no goroutine
// behind (net/http's connection goroutines included).
func TestWatchCancelMidFetch(t *testing.T) {
	before := runtime.NumGoroutine()
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000000")
		w.Write(bytes.Repeat([]byte("x"), 64*kib))
		w.(http.Flusher).Flush()
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	}))
	src := mustNew(t, srv.URL+"/dump.xml", source.Options{Timeout: time.Hour})

	ctx, cancel := context.WithCancel(t.Context())
	var reported []source.Event
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Watch(ctx, time.Millisecond, func(e source.Event) { reported = append(reported, e) })
	}()
	<-arrived
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Watch still running 10 s after its context was cancelled")
	}
	if len(reported) != 0 {
		t.Errorf("reported %+v for a check cut short by cancellation", reported)
	}
	srv.Close()

	noGoroutinesAbove(t, before)
}

// noGoroutinesAbove fails the test unless the number of goroutines comes
// down to n. Goroutines end asynchronously once their connection is
// closed: give them time, without asserting how much.
func noGoroutinesAbove(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := runtime.NumGoroutine(); got > n {
		var stacks strings.Builder
		pprof.Lookup("goroutine").WriteTo(&stacks, 1)
		t.Errorf("%d goroutines left, want at most %d:\n%s", got, n, stacks.String())
	}
}

// TestWatchNoInterval checks that Watch with no interval returns at once.
func TestWatchNoInterval(t *testing.T) {
	src := mustNew(t, "register.csv", source.Options{})
	called := false
	src.Watch(t.Context(), 0, func(source.Event) { called = true })
	if called {
		t.Error("Watch with interval 0 checked")
	}
}
