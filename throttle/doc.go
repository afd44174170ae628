// Package throttle slows a client's traffic down to a fixed number of bytes
// per second, the way a regulator's slowdown order asks (Roskomnadzor slowed
// photo and video uploads to Twitter in Russia in March 2021): precisely, and
// only for the clients and routes it is applied to.
//
// A [Store] hands out one [Budget] per client and rate. Every throttled
// request of that client takes the same budget, so ten parallel uploads share
// one rate instead of getting ten. [NewReader] limits a request body and
// [NewResponseWriter] a response body to a budget.
//
// # How a transfer is paced
//
// A budget is a token bucket (golang.org/x/time/rate) of one token per byte.
// A Read first reads from the body into the caller's buffer, then waits until
// the budget has paid for the bytes it got, and only then returns them.
// Charging what was actually read keeps the rate exact when the body returns
// short reads, which request bodies do all the time. Nothing is buffered
// here: while a Read waits, the client is held back by TCP (HTTP/1) or by
// flow control (HTTP/2, HTTP/3), because nobody reads its data.
//
// A single Read asks for at most one second of the request's share of the
// rate (and never more than the burst), so with one request or many, no wait
// is longer than about a second and the body is read at least once a second,
// however slow the rate. A Read with a larger buffer returns a short read;
// io.Copy, io.ReadAll and the like simply call again. A Write larger than
// that is written in several pieces, with a wait before each.
//
// With the default burst, a second of the rate, a slow upload is read once
// a second: one wake-up, one read from the client and one write onward per
// second, what a client that is slow by itself costs the server anyway.
//
// A wait ends as soon as the request's context is done: Read or Write
// returns the context's error (its cause, if it was given one) at once and
// leaves no goroutine or timer behind. A deadline on the context therefore
// bounds how long a transfer is paced, however much the client has left in
// the socket buffers. A Read blocked inside the body itself (a client that
// stopped sending) is the server's to end, with its read timeouts.
//
// # Memory
//
// A throttled request costs its Reader or ResponseWriter and a share of its
// budget: a few hundred bytes, whatever the size of the body. The Store
// remembers at most StoreOptions.MaxClients budgets and forgets idle ones;
// see [Store] for what happens under pressure.
package throttle
