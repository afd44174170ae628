package throttle_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/georestrict/caddy-georestrict/throttle"
)

const (
	kib = 1 << 10
	mib = 1 << 20
)

// zeros is an endless body that a client sends as fast as it is read.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func (zeros) Close() error { return nil }

// recordingBody is an endless body that remembers when and how much it was
// read, to check how often and how much a throttled Read asks for.
type recordingBody struct {
	mu    sync.Mutex
	times []time.Time
	sizes []int
}

func (b *recordingBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	b.times = append(b.times, time.Now())
	b.sizes = append(b.sizes, len(p))
	b.mu.Unlock()
	clear(p)
	return len(p), nil
}

func (b *recordingBody) Close() error { return nil }

func (b *recordingBody) calls() ([]time.Time, []int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]time.Time(nil), b.times...), append([]int(nil), b.sizes...)
}

// closeRecorder is a body that reports whether it was closed.
type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error {
	c.closed = true
	return nil
}

// clientAddr returns a distinct public IPv4 address for each i.
func clientAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{81, byte(i >> 16), byte(i >> 8), byte(i)})
}

var client = netip.MustParseAddr("77.88.55.88")

// errPacedTooLong is the cause of a caller's deadline in the tests.
var errPacedTooLong = errors.New("paced for too long")

// fmtRate names a rate for test and benchmark names: 32KiB/s, 8MiB/s.
func fmtRate(rate int64) string {
	switch {
	case rate >= mib && rate%mib == 0:
		return fmt.Sprintf("%dMiB/s", rate/mib)
	case rate >= kib && rate%kib == 0:
		return fmt.Sprintf("%dKiB/s", rate/kib)
	}
	return fmt.Sprintf("%dB/s", rate)
}

// measureRate reads an endless body through one Reader per request in
// requests (each holding the same budget, as parallel uploads of one client
// do) for about d of real time, and returns the rate they got as a fraction
// of the budget's rate, leaving out the burst a new budget starts with. It times from the
// first Read that returned, so that goroutines slow to start do not count,
// to the last one, not to d: a Read cut short at the end would otherwise
// count its wait but not its bytes.
//
// It also returns the longest time one reader went between two Reads: when
// it is much longer than the bucket holds (Budget.Burst at the rate), the
// host did not run the reader, and tokens overflowed the bucket unused.
func measureRate(requests []*throttle.Budget, d time.Duration) (ratio float64, elapsed, maxGap time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var (
		mu          sync.Mutex
		total       int64
		first, last time.Time
		wg          sync.WaitGroup
	)
	for _, b := range requests {
		wg.Go(func() {
			r := throttle.NewReader(ctx, zeros{}, b)
			buf := make([]byte, 32*kib)
			var prev time.Time
			for {
				n, err := r.Read(buf)
				if err != nil {
					return
				}
				now := time.Now()
				mu.Lock()
				if !prev.IsZero() {
					maxGap = max(maxGap, now.Sub(prev))
				}
				prev = now
				total += int64(n)
				if first.IsZero() || now.Before(first) {
					first = now
				}
				if now.After(last) {
					last = now
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed = last.Sub(first)
	b := requests[0]
	return float64(total-b.Burst()) / elapsed.Seconds() / float64(b.Rate()), elapsed, maxGap
}

// acquire returns the budget of client at rate once for each of n requests.
func acquire(s *throttle.Store, client netip.Addr, rate int64, n int) []*throttle.Budget {
	requests := make([]*throttle.Budget, n)
	for i := range requests {
		requests[i] = s.Acquire(client, rate)
	}
	return requests
}

// release releases the budget of every request.
func release(requests []*throttle.Budget) {
	for _, b := range requests {
		b.Release()
	}
}
