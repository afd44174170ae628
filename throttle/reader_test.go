package throttle_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"testing/iotest"
	"testing/synctest"
	"time"

	"github.com/georestrict/caddy-georestrict/throttle"
)

// readFor reads an endless body through one Reader per request in requests
// until d has passed, and returns how many bytes each one passed.
func readFor(requests []*throttle.Budget, d time.Duration) []int64 {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	counts := make([]int64, len(requests))
	var wg sync.WaitGroup
	for i, b := range requests {
		wg.Go(func() {
			r := throttle.NewReader(ctx, zeros{}, b)
			buf := make([]byte, 32*kib)
			for {
				if _, err := r.Read(buf); err != nil {
					break
				}
			}
			counts[i] = r.Bytes()
		})
	}
	wg.Wait()
	return counts
}

func sum(counts []int64) int64 {
	var total int64
	for _, c := range counts {
		total += c
	}
	return total
}

// checkPassed checks that readers readers sharing budget b passed passed
// bytes in d: a new budget starts full, so its burst passes at once, then
// exactly its rate per second, never more. Less only by the reads cut short
// at the end: one per reader, each at most the reader's share of a second,
// the burst and the 32 KiB buffer of readFor.
func checkPassed(t *testing.T, b *throttle.Budget, readers int, d time.Duration, passed int64) {
	t.Helper()
	most := b.Burst() + int64(float64(b.Rate())*d.Seconds())
	cut := int64(readers) * min(b.Rate()/int64(readers), b.Burst(), 32*kib)
	t.Logf("effective/configured = %.4f (burst %d B)", float64(passed-b.Burst())/d.Seconds()/float64(b.Rate()), b.Burst())
	if passed > most || passed < most-cut {
		t.Errorf("passed %d bytes in %v at %d B/s, want %d less at most %d (the reads cut short at the end)", passed, d, b.Rate(), most, cut)
	}
}

// TestReaderRate checks the rate a budget lets through, alone and shared, in
// a synctest bubble: the clock is fake, so the result is exact and instant,
// and golang.org/x/time/rate reads the same fake clock as the timers.
func TestReaderRate(t *testing.T) {
	const d = 20 * time.Second
	for _, rate := range []int64{32 * kib, 256 * kib, mib, 8 * mib} {
		for _, readers := range []int{1, 10} {
			t.Run(fmt.Sprintf("%s/readers=%d", fmtRate(rate), readers), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					s := throttle.NewStore(throttle.StoreOptions{})
					requests := acquire(s, client, rate, readers)
					defer release(requests)
					b := requests[0]

					counts := readFor(requests, d)
					checkPassed(t, b, readers, d, sum(counts))
					// Sharing is roughly fair: nobody is starved.
					fair := float64(rate) * d.Seconds() / float64(readers)
					for i, c := range counts {
						if float64(c) < fair/2 {
							t.Errorf("reader %d passed %d bytes, less than half its fair share %.0f", i, c, fair)
						}
					}
				})
			})
		}
	}
}

// TestReaderClientsGetOwnRate checks that two clients do not share a budget,
// and that one client's requests at two rates do not either.
func TestReaderClientsGetOwnRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate, d = 256 * kib, 10 * time.Second
		s := throttle.NewStore(throttle.StoreOptions{})
		budgets := []*throttle.Budget{
			s.Acquire(clientAddr(1), rate),
			s.Acquire(clientAddr(2), rate),
			s.Acquire(clientAddr(1), 2*rate),
		}
		counts := make([]int64, len(budgets))
		var wg sync.WaitGroup
		for i, b := range budgets {
			wg.Go(func() { counts[i] = sum(readFor([]*throttle.Budget{b}, d)) })
		}
		wg.Wait()
		for i, b := range budgets {
			checkPassed(t, b, 1, d, counts[i])
			b.Release()
		}
	})
}

// TestReaderReadsEverySecond checks what keeps Caddy's read_idle_timeout
// from firing on a throttled upload: however low the rate and however many
// requests share the budget, each body is read at least about once a second,
// and a large buffer is never refused.
func TestReaderReadsEverySecond(t *testing.T) {
	tests := []struct {
		name      string
		rate      int64
		requests  int
		burst     int64
		wantPiece int // largest read the body should see
	}{
		{"1KiB/s alone", kib, 1, 0, kib},
		{"1KiB/s ten requests", kib, 10, 0, kib / 10},
		{"100B/s alone, large burst", 100, 1, 64 * kib, 100},
		{"32KiB/s, 16KiB burst", 32 * kib, 1, 16 * kib, 16 * kib},
		{"8MiB/s ten requests", 8 * mib, 10, 0, mib},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := throttle.NewStore(throttle.StoreOptions{Burst: tc.burst})
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				// Every request holds the budget before any reads, as
				// parallel uploads would once under way.
				bodies := make([]*recordingBody, tc.requests)
				budgets := make([]*throttle.Budget, tc.requests)
				for i := range bodies {
					bodies[i] = &recordingBody{}
					budgets[i] = s.Acquire(client, tc.rate)
					defer budgets[i].Release()
				}
				var wg sync.WaitGroup
				for i, b := range budgets {
					wg.Go(func() {
						r := throttle.NewReader(ctx, bodies[i], b)
						buf := make([]byte, mib) // larger than any burst here
						for {
							if _, err := r.Read(buf); err != nil {
								if !errors.Is(err, context.DeadlineExceeded) {
									t.Errorf("Read: %v", err)
								}
								return
							}
						}
					})
				}
				wg.Wait()
				for i, body := range bodies {
					times, sizes := body.calls()
					for j, size := range sizes {
						if size > tc.wantPiece {
							t.Fatalf("request %d: read %d of %d bytes, want at most %d", i, j, size, tc.wantPiece)
						}
					}
					for j := 1; j < len(times); j++ {
						if gap := times[j].Sub(times[j-1]); gap > 1100*time.Millisecond {
							t.Fatalf("request %d: %v between reads %d and %d, want about a second at most", i, gap, j-1, j)
						}
					}
				}
			})
		})
	}
}

// TestReaderCancel checks that a Read waiting for its budget returns the
// context's error at the moment the context is done, not when the wait
// would have ended.
func TestReaderCancel(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(300*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		// rate.Limiter.WaitN would refuse at once a wait that outlasts
		// the deadline; the Reader waits until the deadline instead.
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 300*time.Millisecond)
		}, context.DeadlineExceeded},
		// The caller's own deadline, such as a limit on how long a
		// request is paced, is told apart by its cause.
		{"deadline with a cause", func() (context.Context, context.CancelFunc) {
			return context.WithTimeoutCause(context.Background(), 300*time.Millisecond, errPacedTooLong)
		}, errPacedTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := throttle.NewStore(throttle.StoreOptions{Burst: kib})
				b := s.Acquire(client, kib)
				defer b.Release()
				ctx, cancel := tc.ctx()
				defer cancel()
				r := throttle.NewReader(ctx, zeros{}, b)
				buf := make([]byte, kib)
				if _, err := r.Read(buf); err != nil { // the full bucket
					t.Fatal(err)
				}
				start := time.Now()
				n, err := r.Read(buf) // would wait a second
				if n != 0 || !errors.Is(err, tc.want) {
					t.Errorf("Read = %d, %v; want 0, %v", n, err, tc.want)
				}
				if waited := time.Since(start); waited != 300*time.Millisecond {
					t.Errorf("Read returned after %v, want 300ms", waited)
				}
				if got := r.Bytes(); got != kib {
					t.Errorf("Bytes = %d, want %d (the dropped read is not counted)", got, kib)
				}
			})
		})
	}
}

// TestReaderContextDoneFirst checks that a Read on a finished request does
// not touch the body.
func TestReaderContextDoneFirst(t *testing.T) {
	s := throttle.NewStore(throttle.StoreOptions{})
	b := s.Acquire(client, kib)
	defer b.Release()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	body := &recordingBody{}
	n, err := throttle.NewReader(ctx, body, b).Read(make([]byte, 10))
	if n != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("Read = %d, %v; want 0, context.Canceled", n, err)
	}
	if _, sizes := body.calls(); len(sizes) != 0 {
		t.Errorf("body read %d times, want 0", len(sizes))
	}
}

// TestReaderReadsIntoCallersBuffer checks that nothing is buffered: the body
// is read straight into the caller's buffer, so a waiting upload holds no
// copy of its data (BenchmarkConcurrentUploadsMemory measures what it does
// hold).
func TestReaderReadsIntoCallersBuffer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := throttle.NewStore(throttle.StoreOptions{Burst: 4 * kib})
		b := s.Acquire(client, 16*kib)
		defer b.Release()
		var body bufferRecorder
		r := throttle.NewReader(context.Background(), &body, b)
		buf := make([]byte, 64*kib) // larger than a read may be
		for range 3 {
			n, err := r.Read(buf)
			if err != nil || n == 0 {
				t.Fatalf("Read = %d, %v", n, err)
			}
			if body.last != &buf[0] {
				t.Fatal("the body was read into another buffer than the caller's")
			}
		}
	})
}

// bufferRecorder is an endless body that remembers where its last Read
// wrote.
type bufferRecorder struct{ last *byte }

func (b *bufferRecorder) Read(p []byte) (int, error) {
	b.last = &p[0]
	return len(p), nil
}

func (b *bufferRecorder) Close() error { return nil }

// TestReaderPassesBodyThrough checks that the Reader changes nothing but the
// timing: content, io.EOF and errors come through as the body gives them.
func TestReaderPassesBodyThrough(t *testing.T) {
	content := bytes.Repeat([]byte("georestrict "), 4_000) // 48 kB: three bursts
	errBody := errors.New("connection reset")
	tests := []struct {
		name      string
		body      func() io.Reader
		wantBytes int
		wantErr   error // from io.ReadAll
	}{
		{"plain", func() io.Reader { return bytes.NewReader(content) }, len(content), nil},
		{"EOF with data", func() io.Reader { return iotest.DataErrReader(bytes.NewReader(content)) }, len(content), nil},
		{"one byte at a time", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(content)) }, len(content), nil},
		{"empty", func() io.Reader { return bytes.NewReader(nil) }, 0, nil},
		{"error after data", func() io.Reader {
			return io.MultiReader(bytes.NewReader(content), iotest.ErrReader(errBody))
		}, len(content), errBody},
		{"timeout", func() io.Reader { return iotest.TimeoutReader(bytes.NewReader(content)) }, 0, iotest.ErrTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := throttle.NewStore(throttle.StoreOptions{Burst: 16 * kib})
				b := s.Acquire(client, 64*kib)
				defer b.Release()
				body := &closeRecorder{Reader: tc.body()}
				r := throttle.NewReader(context.Background(), body, b)

				got, err := io.ReadAll(r)
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("ReadAll: %v, want %v", err, tc.wantErr)
				}
				if !bytes.Equal(got, content[:len(got)]) || len(got) < tc.wantBytes {
					t.Errorf("ReadAll returned %d bytes, want the body's first %d", len(got), tc.wantBytes)
				}
				if r.Bytes() != int64(len(got)) {
					t.Errorf("Bytes = %d, want %d", r.Bytes(), len(got))
				}
				if err := r.Close(); err != nil || !body.closed {
					t.Errorf("Close = %v, body closed %v; want nil, true", err, body.closed)
				}
			})
		})
	}
}

// TestReaderIOTest runs the standard library's reader conformance checks.
func TestReaderIOTest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		content := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 10_000)
		s := throttle.NewStore(throttle.StoreOptions{Burst: 4 * kib})
		b := s.Acquire(client, 64*kib)
		defer b.Release()
		r := throttle.NewReader(context.Background(), io.NopCloser(bytes.NewReader(content)), b)
		if err := iotest.TestReader(r, content); err != nil {
			t.Error(err)
		}
	})
}

// TestReaderNoLimit checks that a rate <= 0 lets everything through at once.
func TestReaderNoLimit(t *testing.T) {
	for _, rate := range []int64{0, -1} {
		t.Run(fmt.Sprintf("rate=%d", rate), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := throttle.NewStore(throttle.StoreOptions{})
				b := s.Acquire(client, rate)
				start := time.Now()
				r := throttle.NewReader(context.Background(), io.NopCloser(io.LimitReader(zeros{}, 100*mib)), b)
				n, err := io.Copy(io.Discard, r)
				if err != nil || n != 100*mib {
					t.Errorf("Copy = %d, %v; want %d, nil", n, err, 100*mib)
				}
				if d := time.Since(start); d != 0 {
					t.Errorf("took %v of the fake clock, want no wait", d)
				}
				if s.Len() != 0 || s.Active() != 1 {
					t.Errorf("Len, Active = %d, %d; want 0, 1 (not remembered, but counted)", s.Len(), s.Active())
				}
				b.Release()
				if s.Active() != 0 {
					t.Errorf("Active after Release = %d, want 0", s.Active())
				}
			})
		})
	}
}
