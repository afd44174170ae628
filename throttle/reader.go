package throttle

import (
	"context"
	"io"
)

// Reader limits reads from a request body to a budget. See the package
// documentation for how it paces. Like most readers, it is not safe for
// concurrent Reads; Bytes may be called at any time.
type Reader struct {
	body  io.ReadCloser
	pacer pacer
}

// NewReader returns a Reader of body that keeps to b. ctx is the request's
// context: when it is done, a waiting Read returns at once with ctx's error,
// or its cause if it has one (context.Cause).
func NewReader(ctx context.Context, body io.ReadCloser, b *Budget) *Reader {
	return &Reader{body: body, pacer: pacer{ctx: ctx, budget: b}}
}

// Read reads at most the request's share of one second of the budget (and
// no more than its burst) into p, then waits until the budget has paid for
// what it read before returning it. A larger p gets a short read. Errors of
// the body, io.EOF included, are returned as they come, with the bytes read
// along with them.
func (r *Reader) Read(p []byte) (int, error) {
	if err := r.pacer.err(); err != nil {
		return 0, err
	}
	if limit := r.pacer.budget.chunk(); len(p) > limit {
		p = p[:limit]
	}
	n, err := r.body.Read(p)
	if werr := r.pacer.wait(n); werr != nil {
		// The request is over: what was read is dropped, as the
		// connection it came from will be.
		return 0, werr
	}
	r.pacer.bytes.Add(int64(n))
	return n, err
}

// Close closes the body.
func (r *Reader) Close() error {
	return r.body.Close()
}

// Bytes returns the number of bytes Read has returned so far.
func (r *Reader) Bytes() int64 {
	return r.pacer.bytes.Load()
}

// Interface guards
var _ io.ReadCloser = (*Reader)(nil)
