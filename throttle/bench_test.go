package throttle_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/georestrict/caddy-georestrict/throttle"
)

// BenchmarkRateAccuracy measures, against the real clock, the rate a budget
// lets through as a fraction of its configured rate (effective/configured),
// for one reader and for ten sharing the budget, over about three seconds
// each. The burst a new budget starts with is left out. max-gap-ms is the
// longest a reader went between Reads: by design about a second (one read's
// worth of the rate); far above that, the host stalled the reader, not the
// throttle. Run it alone:
//
//	go test -run '^$' -bench RateAccuracy -benchtime 1x ./throttle/
func BenchmarkRateAccuracy(b *testing.B) {
	if testing.Short() {
		b.Skip("takes three seconds of real time per rate")
	}
	for _, rate := range []int64{32 * kib, 256 * kib, mib, 8 * mib} {
		for _, readers := range []int{1, 10} {
			b.Run(fmt.Sprintf("%s/readers=%d", fmtRate(rate), readers), func(b *testing.B) {
				var ratios float64
				var maxGap time.Duration
				iterations := 0
				for b.Loop() {
					requests := acquire(throttle.NewStore(throttle.StoreOptions{}), client, rate, readers)
					ratio, _, gap := measureRate(requests, 3*time.Second)
					release(requests)
					ratios += ratio
					maxGap = max(maxGap, gap)
					iterations++
				}
				b.ReportMetric(ratios/float64(iterations), "effective/configured")
				b.ReportMetric(float64(maxGap.Milliseconds()), "max-gap-ms")
				b.ReportMetric(0, "ns/op") // the time is the rate's, not the code's
			})
		}
	}
}

// BenchmarkConcurrentUploadsMemory measures the heap that 1,000 throttled
// uploads in progress cost, per upload (heap-B/upload): each reads an endless
// body at 1 KiB/s and is caught waiting for its budget. The uploading
// goroutines, their bodies and buffers exist before the baseline is taken, as
// net/http's would, so only what throttling adds is counted: the Reader, its
// timer, and the budget with its place in the Store (one per upload with
// clients=1000, one for all with clients=1).
func BenchmarkConcurrentUploadsMemory(b *testing.B) {
	const uploads = 1000
	for _, clients := range []int{uploads, 1} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			var perUpload float64
			iterations := 0
			for b.Loop() {
				perUpload += uploadsMemory(uploads, clients)
				iterations++
			}
			b.ReportMetric(perUpload/float64(iterations), "heap-B/upload")
		})
	}
}

// startedBody is an endless body that reports its first Read.
type startedBody struct {
	zeros
	once    sync.Once
	started *sync.WaitGroup
}

func (b *startedBody) Read(p []byte) (int, error) {
	b.once.Do(b.started.Done)
	return b.zeros.Read(p)
}

// uploadsMemory starts uploads throttled uploads from clients clients, each
// getting 1 KiB/s, waits until all are under way, and returns the heap they
// added per upload.
func uploadsMemory(uploads, clients int) float64 {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		begin   = make(chan struct{})
		started sync.WaitGroup
		done    sync.WaitGroup
		store   *throttle.Store
	)
	rate := int64(uploads / clients * kib)
	started.Add(uploads)
	for i := range uploads {
		body := &startedBody{started: &started}
		buf := make([]byte, kib)
		done.Go(func() {
			<-begin
			b := store.Acquire(clientAddr(i%clients), rate)
			defer b.Release()
			r := throttle.NewReader(ctx, body, b)
			for {
				if _, err := r.Read(buf); err != nil {
					return
				}
			}
		})
	}

	var before, during runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	store = throttle.NewStore(throttle.StoreOptions{Burst: kib})
	close(begin)
	started.Wait()
	time.Sleep(20 * time.Millisecond) // let the last ones reach their wait
	runtime.GC()
	runtime.ReadMemStats(&during)

	cancel()
	done.Wait()
	return float64(int64(during.HeapAlloc)-int64(before.HeapAlloc)) / float64(uploads)
}

// BenchmarkAcquireRelease measures what a throttled request pays to take and
// give back its budget, with all requests from one client (one budget, often
// in use) and from many (budgets created, idled and reused). The budgets are
// never drawn on, so a budget whose last request ends has refilled and is
// forgotten at once: serial measures that worst case, a new budget for every
// request.
func BenchmarkAcquireRelease(b *testing.B) {
	const rate = mib
	b.Run("one client", func(b *testing.B) {
		s := throttle.NewStore(throttle.StoreOptions{})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s.Acquire(client, rate).Release()
			}
		})
	})
	b.Run("many clients", func(b *testing.B) {
		s := throttle.NewStore(throttle.StoreOptions{MaxClients: 1 << 12})
		var worker atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := int(worker.Add(1)) << 20
			for pb.Next() {
				// 8,192 clients against room for 4,096: some come back
				// to a remembered budget, some to a new one.
				s.Acquire(clientAddr(i&(1<<13-1)), rate).Release()
				i += 7919
			}
		})
	})
	b.Run("serial", func(b *testing.B) {
		s := throttle.NewStore(throttle.StoreOptions{})
		b.ReportAllocs()
		for b.Loop() {
			s.Acquire(client, rate).Release()
		}
	})
}

// BenchmarkRead measures the cost of a throttled Read of 32 KiB when the
// budget never makes it wait: the overhead on top of the body's own Read.
func BenchmarkRead(b *testing.B) {
	s := throttle.NewStore(throttle.StoreOptions{Burst: 1 << 40})
	budget := s.Acquire(client, 1<<50)
	defer budget.Release()
	r := throttle.NewReader(context.Background(), instantBody{}, budget)
	buf := make([]byte, 32*kib)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		r.Read(buf)
	}
}

// instantBody is an endless body that costs nothing to read.
type instantBody struct{}

func (instantBody) Read(p []byte) (int, error) { return len(p), nil }
func (instantBody) Close() error               { return nil }
