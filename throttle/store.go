package throttle

import (
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"
)

// DefaultMaxClients is the number of budgets a Store remembers when
// StoreOptions.MaxClients is zero. A budget is a few hundred bytes, so the
// default costs at most a few tens of MiB.
const DefaultMaxClients = 1 << 16

// DefaultBurstDuration is how much of its rate a budget may send at once when
// StoreOptions.Burst is zero: the size of its token bucket, measured in time.
//
// A second, because every wait of a throttled transfer costs the server what
// a slow client's packet does: a goroutine woken, a read from the client, a
// write to the upstream. With a bucket of a second, a slow upload is read
// once a second, in a piece of a second of its rate, which is what plain
// Caddy pays for a client that is slow by itself. A bucket of 1/8 s woke
// every upload eight times a second: 5,000 uploads at 16 KiB/s saturated a
// core where plain Caddy held as many slow ones with 0.6 of one, and got a
// third of their rate (BENCHMARKS.md, "Throttled uploads"). Sized in
// time, the bucket also forgives a reader woken up to a second late at every
// rate, so a busy server loses no accuracy; the price is a head start of a
// second of the rate for a new or rested client, which nobody notices in an
// upload that the order slows to minutes.
const DefaultBurstDuration = time.Second

// minBurst keeps default buckets of very low rates from shrinking to a few
// bytes, which would only make reads tiny and frequent.
const minBurst = 1 << 10

// StoreOptions configure a Store.
type StoreOptions struct {
	// MaxClients bounds the number of budgets remembered, in use or idle
	// (see Store for in-use budgets beyond it). Zero or less means
	// DefaultMaxClients.
	MaxClients int
	// Burst is the size in bytes of every budget's token bucket: how much a
	// client may send at once after a pause, and how much a new client may
	// send before it is slowed. Zero or less means DefaultBurstDuration of
	// each budget's rate, at least 1 KiB. A Burst below a second of the rate
	// makes reads smaller and more frequent, which costs CPU, and at a high
	// rate accuracy (see DefaultBurstDuration).
	Burst int64
}

// Store keeps one Budget per client and rate, shared by all of that client's
// throttled requests at that rate. It is safe for concurrent use; the zero
// Store is not usable, call NewStore.
//
// Clients are told apart by address, except that an IPv6 client is its /64:
// one subscriber usually holds a whole /64 and could otherwise multiply its
// rate by spreading uploads over addresses. IPv4-mapped IPv6 addresses count
// as the IPv4 address they carry.
//
// A budget is in use while a request holds it (Acquire without Release yet),
// and idle after. In-use budgets are pinned: never forgotten, because a
// client whose budget was dropped while its uploads run would get a fresh one
// for its next upload, and a second full rate. Idle budgets sit in an LRU
// list and are forgotten when their bucket has refilled (a new budget starts
// full, so forgetting one loses nothing) or, oldest first, when the store
// holds more than MaxClients budgets. If more than MaxClients budgets are in
// use at the same time, the store keeps exactly those and no idle one: it
// grows past MaxClients only with the number of requests in flight, each of
// which costs the server far more than its budget.
//
// A budget counts bytes whichever way they go: a client's uploads and
// downloads at the same rate share one. Give each direction its own Store to
// limit them separately.
//
// Acquire and Release take one exclusive lock. They run once per throttled
// request, not per read, so a single lock is not a bottleneck; reads and
// writes only touch their budget's token bucket.
type Store struct {
	maxClients int
	burst      int64

	mu    sync.Mutex
	inUse map[budgetKey]*Budget
	idle  *simplelru.LRU[budgetKey, *Budget]

	active atomic.Int64
}

// budgetKey identifies a budget. Rates are part of it so that two rules with
// different rates never share a bucket refilling at the wrong speed.
type budgetKey struct {
	client netip.Addr
	rate   int64
}

// NewStore returns an empty store.
func NewStore(opts StoreOptions) *Store {
	maxClients := opts.MaxClients
	if maxClients <= 0 {
		maxClients = DefaultMaxClients
	}
	idle, err := simplelru.NewLRU[budgetKey, *Budget](maxClients, nil)
	if err != nil {
		// NewLRU only fails for a size <= 0, excluded above.
		panic(err)
	}
	return &Store{
		maxClients: maxClients,
		burst:      max(opts.Burst, 0),
		inUse:      make(map[budgetKey]*Budget),
		idle:       idle,
	}
}

// Budget is the bandwidth of one client at one rate, shared by its requests.
// Pass it to NewReader or NewResponseWriter, and call Release exactly once
// when the request that acquired it ends.
type Budget struct {
	store   *Store
	key     budgetKey
	limiter *rate.Limiter // nil: no limit
	rate    int64
	burst   int

	// holders is the number of requests holding the budget. The store
	// changes it under its lock (except for budgets without limit, which it
	// does not keep); readers and writers load it to size their pieces.
	holders atomic.Int64
}

// Acquire returns the budget of client at rate bytes per second, shared with
// the client's other requests at that rate, and marks it in use. Call
// Release on it when the request ends.
//
// A rate <= 0 means no limit: the budget lets everything through at once and
// is not remembered. Configuration should refuse such rates before any
// request is served; an order to slow traffic down that silently does
// nothing is an order not enforced, but blocking traffic forever would be
// worse.
func (s *Store) Acquire(client netip.Addr, rate int64) *Budget {
	s.active.Add(1)
	if rate <= 0 {
		b := &Budget{store: s}
		b.holders.Store(1)
		return b
	}
	key := budgetKey{client: clientKey(client), rate: rate}

	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.inUse[key]
	if !ok {
		if b, ok = s.idle.Peek(key); ok {
			s.idle.Remove(key)
		} else {
			b = s.newBudget(key)
		}
		s.inUse[key] = b
		s.trimLocked()
	}
	b.holders.Add(1)
	return b
}

// Release marks the end of one request holding b. The budget stays
// remembered, idle, until it has refilled, so that a client cannot get a
// fresh burst by starting a new request each time.
func (b *Budget) Release() {
	s := b.store
	if b.limiter == nil {
		if b.holders.Add(-1) < 0 {
			panic("throttle: Budget released more often than acquired")
		}
		s.active.Add(-1)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	switch n := b.holders.Add(-1); {
	case n < 0:
		panic("throttle: Budget released more often than acquired")
	case n == 0:
		delete(s.inUse, b.key)
		s.idle.Add(b.key, b)
		s.trimLocked()
	}
	s.active.Add(-1)
}

// Rate returns the budget's rate in bytes per second; 0 means no limit.
func (b *Budget) Rate() int64 { return b.rate }

// Burst returns the size of the budget's token bucket in bytes: how much it
// lets through at once when rested. It is 0 for a budget without limit.
func (b *Budget) Burst() int64 { return int64(b.burst) }

// Len returns the number of budgets remembered, in use or idle.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inUse) + s.idle.Len()
}

// Active returns the number of requests holding a budget now, for a gauge.
func (s *Store) Active() int64 {
	return s.active.Load()
}

func (s *Store) newBudget(key budgetKey) *Budget {
	burst := s.burst
	if burst == 0 {
		burst = max(key.rate/int64(time.Second/DefaultBurstDuration), minBurst)
	}
	burst = min(burst, math.MaxInt)
	return &Budget{
		store:   s,
		key:     key,
		limiter: rate.NewLimiter(rate.Limit(key.rate), int(burst)),
		rate:    key.rate,
		burst:   int(burst),
	}
}

// maxRefilledSweep bounds how many refilled idle budgets one call forgets, so
// that the first request after a quiet spell does not sweep the whole store
// under the lock. Every Release adds one idle budget at most, so sweeping a
// few per call is enough for the sweep to keep up.
const maxRefilledSweep = 8

// trimLocked forgets idle budgets: refilled ones from the old end of the
// list, then the oldest ones while the store is over its bound. The list is
// in release order, so the oldest are the likeliest to have refilled; one
// that has not yet stops the sweep, which keeps it cheap and only delays
// forgetting the others.
func (s *Store) trimLocked() {
	now := time.Now()
	for range maxRefilledSweep {
		_, b, ok := s.idle.GetOldest()
		if !ok || b.limiter.TokensAt(now) < float64(b.burst) {
			break
		}
		s.idle.RemoveOldest()
	}
	for s.idle.Len() > 0 && len(s.inUse)+s.idle.Len() > s.maxClients {
		s.idle.RemoveOldest()
	}
}

// clientKey returns the address that identifies client's budget: the
// IPv4 address itself, or the /64 of an IPv6 one.
func clientKey(client netip.Addr) netip.Addr {
	client = client.Unmap().WithZone("")
	if !client.Is6() {
		return client
	}
	p, err := client.Prefix(64)
	if err != nil {
		return client
	}
	return p.Addr()
}

// chunk returns the most bytes one Read or Write may move before it waits:
// the request's share of one second of the rate, so that no wait lasts much
// longer than a second however many requests share the budget, and never more
// than the bucket holds, since a larger reservation could not be granted.
// Requests are counted by Acquire, so a caller that runs several Readers on
// one Acquire gets longer waits than that.
func (b *Budget) chunk() int {
	if b.limiter == nil {
		return math.MaxInt
	}
	share := b.rate / max(b.holders.Load(), 1)
	return int(max(min(share, int64(b.burst)), 1))
}
