package caddymodule

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/georestrict/caddy-georestrict/blocklist"
	"github.com/georestrict/caddy-georestrict/source"
)

// liveRegister is a register that keeps itself current. It loads its sources (files or
// URLs), and whenever one of them has a new version it loads the register anew and swaps it
// in whole: a request sees the old register or the new one, never a mix, and never waits
// for a load. A version that does not load, or that drops more of its source's orders than
// max_shrink allows, is not applied: the register in force stays, and the status endpoint,
// the log and the metrics say why.
//
// Handlers and sites that name the same sources with the same options share one live
// register, through the usage pool; it stops watching when the last config that uses it is
// cleaned up.
type liveRegister struct {
	id        string // a short hash of its settings, which tells apart live registers of one source
	name      string // its sources, for logs
	opts      blocklist.Options
	maxShrink float64
	logger    *zap.Logger
	sources   []*liveSource

	current atomic.Pointer[registerVersion]

	// loading serialises loads; mu guards the sources' state, and is held only briefly, so
	// that the status endpoint and the metrics never wait for a load.
	loading sync.Mutex
	mu      sync.Mutex

	stop     context.CancelFunc
	watchers sync.WaitGroup
}

// liveSource is one source of a live register and what became of its versions.
type liveSource struct {
	cfg     RegisterSource
	src     *source.Source
	refresh time.Duration

	// Under liveRegister.mu (and written under liveRegister.loading too).
	version     *source.Version // in force
	orders      int             // of version
	appliedAt   time.Time       // when version was put in force
	loadTook    time.Duration   // how long its load took
	failures    int             // checks and loads that failed, since start
	lastErr     string          // the latest failure, or ""
	lastErrAt   time.Time
	held        *source.Version // a version held back by max_shrink, or nil
	heldReason  string
	heldAt      time.Time
	lastChecked time.Time
}

// errHeldBack is returned when a new version is held back by max_shrink.
var errHeldBack = errors.New("held back")

// liveSettings are what a live register is built from; equal settings share one register.
type liveSettings struct {
	sources   []RegisterSource
	opts      blocklist.Options
	refresh   time.Duration // handler-wide default; a source may override it
	maxShrink float64       // handler-wide default
	verifyKey ed25519.PublicKey
}

// key identifies settings in the usage pool: every setting that changes what is loaded, or
// how it is kept current.
func (s liveSettings) key() string {
	var b strings.Builder
	b.WriteString("register")
	for _, src := range s.sources {
		fmt.Fprintf(&b, "|%q allow_empty=%t refresh=%v max_shrink=%v format=%q countries=%q authority=%q notice=%q whole_site=%t",
			src.Path, src.AllowEmpty, src.refresh(s.refresh), src.maxShrink(s.maxShrink),
			src.Format, src.Countries, src.Authority, src.Notice, src.WholeSite)
	}
	patterns := s.opts.Patterns
	if patterns == nil {
		patterns = blocklist.DefaultPatterns()
	}
	fmt.Fprintf(&b, "|patterns=%q|reserved=%q|hosts=%q|key=%x",
		patterns.Templates(), patterns.Reserved(), s.opts.Hosts, []byte(s.verifyKey))
	sum := sha256.Sum256([]byte(b.String()))
	return "register|" + hex.EncodeToString(sum[:])
}

// loadLiveRegister returns the shared live register for settings, loading it when no config
// uses it yet, and the pool key to release it with. A register that a running config already
// uses is checked at once, fully (so an edit that kept a file's size and modification time
// is seen, as `caddy reload --force` after an edit expects): a new version that does not load
// fails the new config, and the running one keeps its register.
func loadLiveRegister(ctx caddy.Context, s liveSettings, logger *zap.Logger) (*liveRegister, string, error) {
	key := s.key()
	val, loaded, err := resources.LoadOrNew(key, func() (caddy.Destructor, error) {
		return newLiveRegister(ctx, s, logger)
	})
	if err != nil {
		return nil, "", err
	}
	lr := val.(*liveRegister)
	if loaded {
		if err := lr.checkNow(ctx); err != nil {
			releaseResource(key)
			return nil, "", err
		}
	}
	return lr, key, nil
}

// newLiveRegister loads every source and starts watching them. A source that cannot be read
// at all fails the load: a URL whose origin is down is served from its last good copy in
// Caddy's storage if there is one, and a node that never had a good copy refuses to start
// rather than enforce nothing.
func newLiveRegister(ctx caddy.Context, s liveSettings, logger *zap.Logger) (*liveRegister, error) {
	lr := &liveRegister{
		id:        strings.TrimPrefix(s.key(), "register|")[:12],
		name:      strings.Join(registerPaths(s.sources), ", "),
		opts:      s.opts,
		maxShrink: s.maxShrink,
		logger:    logger,
	}
	for _, cfg := range s.sources {
		opts := source.Options{PublicKey: s.verifyKey, Dir: snapshotDir()}
		if cfg.isURL() {
			// Only URLs keep last good copies: a file is its own.
			opts.Storage = ctx.Storage()
		}
		src, err := source.New(cfg.Path, opts)
		if err != nil {
			return nil, fmt.Errorf("register %s: %w", cfg.Path, err)
		}
		lr.sources = append(lr.sources, &liveSource{cfg: cfg, src: src, refresh: cfg.refresh(s.refresh)})
	}

	versions := make([]*source.Version, len(lr.sources))
	release := func() {
		for _, v := range versions {
			if v != nil {
				_ = v.Release()
			}
		}
	}
	for i, ls := range lr.sources {
		v, err := ls.src.CheckFull(ctx)
		if err != nil && ls.cfg.isURL() {
			stored, storedErr := ls.src.LoadLastGood(ctx)
			if storedErr != nil {
				release()
				return nil, fmt.Errorf("register %s: %w; and there is no good copy of it in storage (%v): refusing to start with nothing to enforce", ls.src, err, storedErr)
			}
			logger.Warn("register source unreachable: using its last good copy from storage",
				zap.String("source", ls.src.String()), zap.Error(err),
				zap.String("version", shortHash(stored.Hash)), zap.Time("fetched", stored.Fetched))
			v, err = stored, nil
		}
		if err != nil {
			release()
			return nil, fmt.Errorf("register %s: %w", ls.src, err)
		}
		versions[i] = v
	}
	start := time.Now()
	reg, err := lr.load(ctx, versions)
	if err != nil {
		release()
		return nil, err
	}
	census := reg.Census()
	for i, ls := range lr.sources {
		if err := lr.checkShrink(ls, census[i].Orders); err != nil {
			release()
			return nil, fmt.Errorf("register %s: %w; raise max_shrink to apply it", ls.src, err)
		}
	}
	lr.put(reg)
	now := time.Now()
	for i, ls := range lr.sources {
		ls.version, ls.orders, ls.appliedAt, ls.loadTook, ls.lastChecked = versions[i], census[i].Orders, now, now.Sub(start), now
		lr.applied(ctx, ls)
	}
	lr.logLoaded(reg, time.Since(start))

	watchCtx, stop := context.WithCancel(context.Background())
	lr.stop = stop
	for i, ls := range lr.sources {
		if ls.refresh <= 0 {
			continue
		}
		lr.watchers.Go(func() {
			ls.src.Watch(watchCtx, ls.refresh, func(e source.Event) { lr.onEvent(watchCtx, i, e) })
		})
	}
	return lr, nil
}

// snapshotDir is where sources keep versions too large for memory: Caddy's data directory,
// on disk (os.TempDir may be memory), made when it is missing; os.TempDir if it cannot be.
func snapshotDir() string {
	dir := filepath.Join(caddy.AppDataDir(), "georestrict", "tmp")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return os.TempDir()
	}
	return dir
}

// load loads the register from one version of each source.
func (lr *liveRegister) load(ctx context.Context, versions []*source.Version) (*blocklist.Register, error) {
	sources := make([]blocklist.Source, len(versions))
	for i, v := range versions {
		rc, err := v.Open()
		if err != nil {
			for _, s := range sources[:i] {
				_ = s.Reader.(io.Closer).Close()
			}
			return nil, fmt.Errorf("register %s: %w", v.Location, err)
		}
		defer rc.Close()
		sources[i] = lr.sources[i].cfg.blocklistSource(rc)
	}
	return blocklist.Load(ctx, sources, lr.opts)
}

// registerVersion is a register put in force, with a number that no other register of the
// process ever gets: what is derived from one register (rendered answers, see answers.go) is
// keyed by it, and never outlives it in meaning, without keeping the register itself alive.
type registerVersion struct {
	reg *blocklist.Register
	gen uint64
}

// registerGenerations numbers every register any live register puts in force.
var registerGenerations atomic.Uint64

// put puts reg in force.
func (lr *liveRegister) put(reg *blocklist.Register) {
	lr.current.Store(&registerVersion{reg: reg, gen: registerGenerations.Add(1)})
}

// register returns the register in force; nil before the first is.
func (lr *liveRegister) register() *blocklist.Register {
	if v := lr.current.Load(); v != nil {
		return v.reg
	}
	return nil
}

// version returns the register in force and its generation.
func (lr *liveRegister) version() *registerVersion { return lr.current.Load() }

// onEvent handles what a source's watcher reports.
func (lr *liveRegister) onEvent(ctx context.Context, i int, e source.Event) {
	ls := lr.sources[i]
	if e.Err != nil {
		lr.mu.Lock()
		ls.failures++
		ls.lastErr, ls.lastErrAt = e.Err.Error(), time.Now()
		lr.mu.Unlock()
		lr.logger.Warn("register source check failed; the version in force stays",
			zap.String("source", ls.src.String()), zap.Error(e.Err),
			zap.Int("failures_in_a_row", e.Failures), zap.Duration("next_check", e.Next))
		return
	}
	lr.mu.Lock()
	ls.lastChecked = time.Now()
	lr.mu.Unlock()
	if e.Version != nil {
		_ = lr.apply(ctx, i, e.Version, true)
	}
}

// checkNow checks every source fully and applies what changed; what fails to apply is an
// error. Unreachable URLs are not: their version in force stays.
func (lr *liveRegister) checkNow(ctx context.Context) error {
	for i, ls := range lr.sources {
		v, err := ls.src.CheckFull(ctx)
		switch {
		case err != nil && ls.cfg.isURL():
			lr.logger.Warn("register source unreachable; the version in force stays",
				zap.String("source", ls.src.String()), zap.Error(err))
			continue
		case err != nil:
			return fmt.Errorf("register %s: %w", ls.src, err)
		case v == nil:
			continue
		}
		if err := lr.apply(ctx, i, v, true); err != nil {
			return err
		}
	}
	return nil
}

// apply loads the register with version v of source i and the versions in force of the
// others, and puts it in force, unless it fails to load or, with checkShrink, drops more
// of the source's orders than max_shrink allows (then v is held back until an operator
// applies it). It takes v over: v is released when it is no longer needed.
func (lr *liveRegister) apply(ctx context.Context, i int, v *source.Version, checkShrink bool) error {
	lr.loading.Lock()
	defer lr.loading.Unlock()
	err := lr.applyLocked(ctx, i, v, checkShrink)
	if err != nil && !errors.Is(err, errHeldBack) {
		_ = v.Release()
	}
	return err
}

// applyLocked is apply, with lr.loading held; it releases nothing that fails to load.
func (lr *liveRegister) applyLocked(ctx context.Context, i int, v *source.Version, checkShrink bool) error {
	ls := lr.sources[i]
	lr.mu.Lock()
	versions := make([]*source.Version, len(lr.sources))
	for j, o := range lr.sources {
		versions[j] = o.version
	}
	lr.mu.Unlock()
	versions[i] = v
	start := time.Now()
	reg, err := lr.load(ctx, versions)
	if err != nil {
		if ctx.Err() != nil {
			return err // stopping, not failing
		}
		lr.mu.Lock()
		ls.failures++
		ls.lastErr, ls.lastErrAt = err.Error(), time.Now()
		lr.mu.Unlock()
		lr.logger.Error("register version refused; the version in force stays",
			zap.String("source", ls.src.String()), zap.String("version", shortHash(v.Hash)), zap.Error(err))
		return err
	}
	orders := reg.Census()[i].Orders
	if checkShrink {
		if err := lr.checkShrink(ls, orders); err != nil {
			lr.mu.Lock()
			if ls.held != nil && ls.held != v {
				_ = ls.held.Release()
			}
			ls.held, ls.heldReason, ls.heldAt = v, err.Error(), time.Now()
			lr.mu.Unlock()
			lr.logger.Warn("register version held back; apply it with POST /geo_restrict/apply or raise max_shrink",
				zap.String("source", ls.src.String()), zap.String("version", shortHash(v.Hash)), zap.Error(err))
			return fmt.Errorf("register %s: %w", ls.src, err)
		}
	}
	lr.mu.Lock()
	old := ls.version
	lr.put(reg)
	ls.version, ls.orders, ls.appliedAt, ls.loadTook = v, orders, time.Now(), time.Since(start)
	if ls.held != nil {
		if ls.held != v {
			_ = ls.held.Release()
		}
		ls.held, ls.heldReason = nil, ""
	}
	lr.mu.Unlock()
	if old != nil && old != v {
		_ = old.Release()
	}
	lr.applied(ctx, ls)
	lr.logLoaded(reg, time.Since(start))
	return nil
}

// applyHeld puts a source's held-back version in force: an operator's decision. If it fails
// to load after all, it stays held back.
func (lr *liveRegister) applyHeld(ctx context.Context, location string) error {
	lr.loading.Lock()
	defer lr.loading.Unlock()
	lr.mu.Lock()
	i, v := -1, (*source.Version)(nil)
	for j, ls := range lr.sources {
		if (ls.cfg.Path == location || ls.src.String() == location) && ls.held != nil {
			i, v = j, ls.held
		}
	}
	lr.mu.Unlock()
	if v == nil {
		return fmt.Errorf("no version of %q is held back", location)
	}
	return lr.applyLocked(ctx, i, v, false)
}

// checkShrink refuses a version of ls with orders orders that drops more than max_shrink of
// the orders last applied from the same location (in this process, whichever config applied
// them).
func (lr *liveRegister) checkShrink(ls *liveSource, orders int) error {
	limit := ls.cfg.maxShrink(lr.maxShrink)
	before, ok := appliedOrders.get(ls.cfg.Path)
	if !ok || before == 0 || limit >= 1 {
		return nil
	}
	if drop := float64(before-orders) / float64(before); drop > limit {
		return fmt.Errorf("%w: it has %d orders, %d fewer than the %d in force (%.0f%%, more than max_shrink %.0f%%)",
			errHeldBack, orders, before-orders, before, drop*100, limit*100)
	}
	return nil
}

// applied records a version put in force: its order count for later shrink checks, and, for
// a URL, its copy in storage for a node that restarts while the origin is down.
func (lr *liveRegister) applied(ctx context.Context, ls *liveSource) {
	appliedOrders.set(ls.cfg.Path, ls.orders)
	if !ls.cfg.isURL() || ls.version.FromStorage {
		return
	}
	if err := ls.src.SaveLastGood(ctx, ls.version); err != nil {
		lr.logger.Warn("could not keep a copy of the register in storage",
			zap.String("source", ls.src.String()), zap.Error(err))
	}
}

func (lr *liveRegister) logLoaded(reg *blocklist.Register, took time.Duration) {
	st := reg.Stats()
	lr.logger.Info("register loaded",
		zap.String("sources", lr.name),
		zap.Int("orders", reg.Len()),
		zap.Int("block_orders", st.Blocks),
		zap.Int("throttle_orders", st.Throttles),
		zap.Int("countries", len(st.Countries)),
		zap.Int("skipped_foreign_host", st.SkippedForeignHost),
		zap.Int("offheap_bytes", st.OffHeap),
		zap.Duration("took", took))
	if len(st.Unenforced) > 0 {
		fields := []zap.Field{zap.String("sources", lr.name)}
		for reason, n := range st.Unenforced {
			fields = append(fields, zap.Int(strings.ReplaceAll(reason, " ", "_"), n))
		}
		lr.logger.Info("regulators' register entries not enforced", fields...)
	}
	for _, sk := range st.Skipped {
		// The regulator's file cannot be corrected by the platform: each entry for this
		// app that did not become an order is worth a look.
		lr.logger.Warn("register entry not enforced",
			zap.String("source", sk.Source), zap.Int("line", sk.Line), zap.String("id", sk.ID), zap.String("why", sk.Reason))
	}
	if st.SkippedForeignHost > 0 {
		// Usually other sites' entries; but if hosts does not name this app as the
		// register does (x.com, twitter.com), these are the orders that are not enforced.
		lr.logger.Warn("register orders skipped: their URL is on a host not in hosts",
			zap.String("sources", lr.name),
			zap.Strings("hosts", lr.opts.Hosts),
			zap.Int("skipped", st.SkippedForeignHost),
			zap.Strings("first_ids", st.SkippedForeignHostIDs))
	}
}

// Destruct stops watching and releases every version held.
func (lr *liveRegister) Destruct() error {
	if lr.stop != nil {
		lr.stop()
	}
	lr.watchers.Wait()
	lr.loading.Lock()
	defer lr.loading.Unlock()
	lr.mu.Lock()
	defer lr.mu.Unlock()
	for _, ls := range lr.sources {
		if ls.version != nil {
			_ = ls.version.Release()
		}
		if ls.held != nil {
			_ = ls.held.Release()
		}
	}
	return nil
}

// appliedOrders remembers how many orders the version last put in force from each location
// held, across configs, so that max_shrink also guards the first load of a new config.
var appliedOrders = &orderMemory{m: map[string]int{}}

type orderMemory struct {
	mu sync.Mutex
	m  map[string]int
}

func (a *orderMemory) get(location string) (int, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, ok := a.m[location]
	return n, ok
}

func (a *orderMemory) set(location string, n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.m[location] = n
}

func shortHash(h string) string { return h[:min(len(h), 12)] }
