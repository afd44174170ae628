package throttle_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/georestrict/caddy-georestrict/throttle"
)

// pieceRecorder is a ResponseWriter that remembers the size of every Write
// and can fail after a number of bytes.
type pieceRecorder struct {
	*httptest.ResponseRecorder
	pieces  []int
	failAt  int  // fail the Write that would pass this many bytes; 0: never
	discard bool // count the body but do not keep it
	written int
}

var errClientGone = errors.New("write: broken pipe")

func (w *pieceRecorder) Write(p []byte) (int, error) {
	w.pieces = append(w.pieces, len(p))
	if w.failAt > 0 && w.written+len(p) > w.failAt {
		n := w.failAt - w.written
		w.written += n
		w.ResponseRecorder.Write(p[:n])
		return n, errClientGone
	}
	w.written += len(p)
	if w.discard {
		return len(p), nil
	}
	return w.ResponseRecorder.Write(p)
}

// TestResponseWriterRate checks the rate of a download, and that a large
// Write is cut into pieces no larger than the burst.
func TestResponseWriterRate(t *testing.T) {
	for _, rate := range []int64{32 * kib, mib, 8 * mib} {
		t.Run(fmtRate(rate), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := throttle.NewStore(throttle.StoreOptions{})
				b := s.Acquire(client, rate)
				defer b.Release()
				rec := &pieceRecorder{ResponseRecorder: httptest.NewRecorder(), discard: true}
				w := throttle.NewResponseWriter(context.Background(), rec, b)

				// One Write of two seconds' worth plus the burst. The
				// wait comes before each piece, so Write returns
				// exactly when the last piece is paid for.
				body := make([]byte, 2*rate+b.Burst())
				start := time.Now()
				n, err := w.Write(body)
				elapsed := time.Since(start)
				if n != len(body) || err != nil {
					t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(body))
				}
				got := float64(n-int(b.Burst())) / elapsed.Seconds() / float64(rate)
				if math.Abs(got-1) > 0.01 {
					t.Errorf("effective/configured = %.4f, want 1 ± 1%%", got)
				}
				for _, p := range rec.pieces {
					if int64(p) > b.Burst() {
						t.Fatalf("a piece of %d bytes, more than the burst of %d", p, b.Burst())
					}
				}
				if w.Bytes() != int64(len(body)) || rec.written != len(body) {
					t.Errorf("Bytes = %d, written %d; want %d", w.Bytes(), rec.written, len(body))
				}
			})
		})
	}
}

// TestResponseWriterErrors checks that write errors and a finished request
// end a Write with the bytes written so far.
func TestResponseWriterErrors(t *testing.T) {
	tests := []struct {
		name        string
		failAt      int
		cancelAfter time.Duration
		cause       error // of the cancellation
		wantN       int
		wantErr     error
	}{
		{"write error", 40 * kib, 0, nil, 40 * kib, errClientGone},
		// 16 KiB at once, then 16 KiB per 250ms: three pieces by 600ms.
		{"cancel", 0, 600 * time.Millisecond, nil, 48 * kib, context.Canceled},
		{"cancel with a cause", 0, 600 * time.Millisecond, errPacedTooLong, 48 * kib, errPacedTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := throttle.NewStore(throttle.StoreOptions{Burst: 16 * kib})
				b := s.Acquire(client, 64*kib)
				defer b.Release()
				ctx, cancel := context.WithCancelCause(context.Background())
				defer cancel(nil)
				if tc.cancelAfter > 0 {
					time.AfterFunc(tc.cancelAfter, func() { cancel(tc.cause) })
				}
				rec := &pieceRecorder{ResponseRecorder: httptest.NewRecorder(), failAt: tc.failAt}
				w := throttle.NewResponseWriter(ctx, rec, b)

				start := time.Now()
				n, err := w.Write(make([]byte, mib))
				if n != tc.wantN || !errors.Is(err, tc.wantErr) {
					t.Errorf("Write = %d, %v; want %d, %v", n, err, tc.wantN, tc.wantErr)
				}
				if w.Bytes() != int64(n) {
					t.Errorf("Bytes = %d, want %d", w.Bytes(), n)
				}
				if tc.cancelAfter > 0 && time.Since(start) != tc.cancelAfter {
					t.Errorf("Write returned after %v, want %v", time.Since(start), tc.cancelAfter)
				}
			})
		})
	}
}

// TestResponseWriterPassthrough checks that everything but the pace of
// writes reaches the wrapped writer: headers, status, flushes, and
// http.ResponseController through Unwrap.
func TestResponseWriterPassthrough(t *testing.T) {
	s := throttle.NewStore(throttle.StoreOptions{})
	b := s.Acquire(client, mib)
	defer b.Release()
	rec := httptest.NewRecorder()
	w := throttle.NewResponseWriter(context.Background(), rec, b)

	w.Header().Set("Content-Type", "video/mp4")
	w.WriteHeader(http.StatusPartialContent)
	if _, err := io.WriteString(w, "frame"); err != nil {
		t.Fatal(err)
	}
	if err := http.NewResponseController(w).Flush(); err != nil {
		t.Errorf("ResponseController.Flush: %v", err)
	}
	if !rec.Flushed {
		t.Error("the flush did not reach the wrapped writer")
	}
	if got := w.Unwrap(); got != rec {
		t.Errorf("Unwrap = %T, want the wrapped writer", got)
	}
	// The recorder has no deadlines: ResponseController finds that out
	// through Unwrap instead of stopping at the wrapper.
	if err := http.NewResponseController(w).SetWriteDeadline(time.Now()); !errors.Is(err, http.ErrNotSupported) {
		t.Errorf("SetWriteDeadline: %v, want http.ErrNotSupported from the recorder", err)
	}
	if _, ok := any(w).(io.ReaderFrom); ok {
		t.Error("ResponseWriter implements io.ReaderFrom, which would let io.Copy bypass the limit")
	}
	if rec.Code != http.StatusPartialContent || rec.Header().Get("Content-Type") != "video/mp4" || rec.Body.String() != "frame" {
		t.Errorf("recorded %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
}

// TestResponseWriterEmptyWrite checks that an empty Write still commits the
// header, as it does on a plain ResponseWriter.
func TestResponseWriterEmptyWrite(t *testing.T) {
	s := throttle.NewStore(throttle.StoreOptions{})
	b := s.Acquire(client, kib)
	defer b.Release()
	rec := httptest.NewRecorder()
	w := throttle.NewResponseWriter(context.Background(), rec, b)
	w.Header().Set("X-Test", "1")
	if n, err := w.Write(nil); n != 0 || err != nil {
		t.Errorf("Write(nil) = %d, %v", n, err)
	}
	rec.Header().Set("X-Test", "changed after the header was written")
	if got := rec.Result().Header.Get("X-Test"); got != "1" {
		t.Errorf("header = %q, want it committed by the empty Write", got)
	}
}
