package throttle

import (
	"context"
	"net/http"
)

// ResponseWriter limits writes of a response body to a budget. Everything
// but Write goes straight to the wrapped writer: headers, status, flushing,
// and, through Unwrap, http.ResponseController's deadlines and hijacking.
//
// It deliberately does not implement io.ReaderFrom: io.Copy would otherwise
// hand the whole body to the wrapped writer (sendfile, for files) and
// bypass the limit. Copies go through Write, 32 KiB at a time.
type ResponseWriter struct {
	http.ResponseWriter
	pacer pacer
}

// NewResponseWriter returns a ResponseWriter that writes to w within b. ctx
// is the request's context: when it is done, a waiting Write returns at once
// with ctx's error, or its cause if it has one (context.Cause).
func NewResponseWriter(ctx context.Context, w http.ResponseWriter, b *Budget) *ResponseWriter {
	return &ResponseWriter{ResponseWriter: w, pacer: pacer{ctx: ctx, budget: b}}
}

// Write writes p in pieces of at most the request's share of one second of
// the budget (and no more than its burst), waiting before each until the
// budget allows it. It returns the number of bytes written and the first
// error of the wrapped writer or of ctx.
func (w *ResponseWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		// An empty Write still sends the header; keep that.
		return w.ResponseWriter.Write(p)
	}
	written := 0
	for len(p) > 0 {
		piece := p[:min(len(p), w.pacer.budget.chunk())]
		if err := w.pacer.wait(len(piece)); err != nil {
			return written, err
		}
		n, err := w.ResponseWriter.Write(piece)
		written += n
		w.pacer.bytes.Add(int64(n))
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// Bytes returns the number of bytes written to the wrapped writer so far.
func (w *ResponseWriter) Bytes() int64 {
	return w.pacer.bytes.Load()
}

// Flush flushes the wrapped writer, if it can.
func (w *ResponseWriter) Flush() {
	_ = w.FlushError()
}

// FlushError flushes the wrapped writer and reports why it could not;
// http.ResponseController prefers it to Flush.
func (w *ResponseWriter) FlushError() error {
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *ResponseWriter) Unwrap() http.ResponseWriter {
	return w.ResponseWriter
}

// Interface guards
var (
	_ http.ResponseWriter             = (*ResponseWriter)(nil)
	_ http.Flusher                    = (*ResponseWriter)(nil)
	_ interface{ FlushError() error } = (*ResponseWriter)(nil)
)
