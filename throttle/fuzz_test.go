package throttle_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/georestrict/caddy-georestrict/throttle"
)

// FuzzReader checks, for any body, buffer size, rate and burst, that the
// Reader passes the body through unchanged and takes the time the rate
// says: the body less the burst, divided by the rate. The fake clock of a
// synctest bubble makes the timing exact and the run instant.
func FuzzReader(f *testing.F) {
	f.Add([]byte("hello, world"), uint16(4), uint32(1), uint16(0))
	f.Add(bytes.Repeat([]byte{0xff}, 5000), uint16(4096), uint32(1000), uint16(100))
	f.Add(bytes.Repeat([]byte{1, 2, 3}, 3000), uint16(1), uint32(3000), uint16(1))
	f.Add([]byte{}, uint16(0), uint32(0), uint16(0))
	f.Fuzz(func(t *testing.T, body []byte, bufSize uint16, rate uint32, burst uint16) {
		if len(body) > 4*kib {
			// Larger bodies find nothing new and, read a few bytes per
			// wait, make each run slow enough to stall minimisation.
			t.Skip()
		}
		synctest.Test(t, func(t *testing.T) {
			s := throttle.NewStore(throttle.StoreOptions{Burst: int64(burst)})
			b := s.Acquire(client, int64(rate))
			defer b.Release()
			r := throttle.NewReader(context.Background(), io.NopCloser(bytes.NewReader(body)), b)

			start := time.Now()
			got, err := readAllWith(r, int(bufSize)+1)
			elapsed := time.Since(start)
			if err != nil {
				t.Fatalf("reading: %v", err)
			}
			if !bytes.Equal(got, body) {
				t.Fatalf("read %d bytes that differ from the %d-byte body", len(got), len(body))
			}
			if r.Bytes() != int64(len(body)) {
				t.Errorf("Bytes = %d, want %d", r.Bytes(), len(body))
			}

			var want time.Duration
			if rate > 0 {
				debt := max(int64(len(body))-b.Burst(), 0)
				want = time.Duration(float64(debt) / float64(rate) * float64(time.Second))
			}
			if d := elapsed - want; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("took %v, want %v (%d bytes, rate %d, burst %d)", elapsed, want, len(body), rate, b.Burst())
			}
		})
	})
}

// readAllWith reads r to the end with a buffer of size bytes, as a handler
// copying the body would.
func readAllWith(r io.Reader, size int) ([]byte, error) {
	var out []byte
	buf := make([]byte, size)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}
