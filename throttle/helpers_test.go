package throttle_test

import (
	"context"
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

// measureRate reads an endless body through readers Readers sharing b for
// about d of real time, and returns the rate they got as a fraction of b's
// rate, leaving out the burst a new budget starts with. It counts up to the
// last Read that returned, not up to d: a Read cut short at the end would
// otherwise count its wait but not its bytes.
func measureRate(b *throttle.Budget, readers int, d time.Duration) (ratio float64, elapsed time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var (
		mu    sync.Mutex
		total int64
		last  time.Time
		wg    sync.WaitGroup
	)
	start := time.Now()
	for range readers {
		wg.Go(func() {
			r := throttle.NewReader(ctx, zeros{}, b)
			buf := make([]byte, 32*kib)
			for {
				n, err := r.Read(buf)
				if err != nil {
					return
				}
				now := time.Now()
				mu.Lock()
				total += int64(n)
				if now.After(last) {
					last = now
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed = last.Sub(start)
	return float64(total-b.Burst()) / elapsed.Seconds() / float64(b.Rate()), elapsed
}
