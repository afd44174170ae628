package caddymodule

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/georestrict/caddy-georestrict/geo"
	"github.com/georestrict/caddy-georestrict/source"
)

// liveDatabase is a country database that keeps itself current, as a live register does:
// when its file changes (geoipupdate replaces it by rename), the new file is opened, checked
// and swapped in whole. A new file is checked before it replaces the one in force: its whole
// search tree and every record are read (geo.Database.Check), and a sample of addresses is
// looked up in both; a file that fails the check, or that has no country for clearly more of
// the sample than the one in force, is refused and the one in force stays. A damaged file
// whose metadata survives opens, and would otherwise make clients "unknown", which with
// unknown_country allow escapes every order.
//
// The embedded database never changes, and is not watched.
type liveDatabase struct {
	path    string // "" for the embedded database
	src     *source.Source
	refresh time.Duration
	logger  *zap.Logger

	current atomic.Pointer[geo.Database]

	// mu serialises loads, and guards the state below.
	mu        sync.Mutex
	hash      string // SHA-256 of the file in force
	loadedAt  time.Time
	unknown   float64 // of the database in force, over sampleAddrs
	failures  int
	lastErr   string
	lastErrAt time.Time

	stop     context.CancelFunc
	watchers sync.WaitGroup
}

// maxUnknownIncrease is how much larger a new database's share of unknown addresses (over
// sampleAddrs) may be than the share of the one in force: new versions of a country
// database move a fraction of a percent, and damage moves tens of percents.
const maxUnknownIncrease = 0.05

// sampleAddrs are the addresses a new database is compared on.
var sampleAddrs = geo.Sample(8192)

// loadLiveDatabase returns the shared live database for path ("" for the embedded one),
// loading it when no config uses it yet, and the pool key to release it with. A database
// in use is checked fully at once: a config load after geoipupdate applies its file.
func loadLiveDatabase(ctx context.Context, path string, refresh time.Duration, logger *zap.Logger) (*liveDatabase, string, error) {
	key := fmt.Sprintf("geo|%q|refresh=%v", path, refresh)
	val, loaded, err := resources.LoadOrNew(key, func() (caddy.Destructor, error) {
		return newLiveDatabase(ctx, path, refresh, logger)
	})
	if err != nil {
		return nil, "", err
	}
	ld := val.(*liveDatabase)
	if loaded && ld.src != nil {
		v, err := ld.src.CheckFull(ctx)
		if err == nil && v != nil {
			err = ld.apply(v)
		}
		if err != nil {
			releaseResource(key)
			return nil, "", fmt.Errorf("geoip database %s: %w", path, err)
		}
	}
	return ld, key, nil
}

func newLiveDatabase(ctx context.Context, path string, refresh time.Duration, logger *zap.Logger) (*liveDatabase, error) {
	ld := &liveDatabase{path: path, refresh: refresh, logger: logger}
	if path == "" {
		db, err := geo.OpenDefault()
		if err != nil {
			return nil, err
		}
		ld.current.Store(db)
		ld.loadedAt = time.Now()
		logDatabase(logger, db.Info())
		return ld, nil
	}
	src, err := source.New(path, source.Options{Dir: snapshotDir()})
	if err != nil {
		return nil, fmt.Errorf("geoip database %s: %w", path, err)
	}
	ld.src = src
	v, err := src.CheckFull(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening geoip database %s: %w", path, err)
	}
	if err := ld.apply(v); err != nil {
		return nil, err
	}
	if refresh > 0 {
		watchCtx, stop := context.WithCancel(context.Background())
		ld.stop = stop
		ld.watchers.Go(func() {
			src.Watch(watchCtx, refresh, func(e source.Event) {
				if e.Err != nil {
					ld.failed(e.Err)
					logger.Warn("country database check failed; the database in force stays",
						zap.String("database", path), zap.Error(e.Err), zap.Duration("next_check", e.Next))
					return
				}
				if e.Version != nil {
					_ = ld.apply(e.Version)
				}
			})
		})
	}
	return ld, nil
}

// database returns the database in force.
func (ld *liveDatabase) database() *geo.Database { return ld.current.Load() }

// apply opens version v, checks it, and puts it in force; it takes v over.
func (ld *liveDatabase) apply(v *source.Version) error {
	defer v.Release()
	db, unknown, err := openChecked(ld.path, v)
	ld.mu.Lock()
	defer ld.mu.Unlock()
	if err == nil && ld.current.Load() != nil && unknown > ld.unknown+maxUnknownIncrease {
		err = fmt.Errorf("geoip database %s: refused: it has no country for %.1f%% of a sample of addresses, against %.1f%% for the database in force; a damaged file looks like this",
			ld.path, unknown*100, ld.unknown*100)
	}
	if err != nil {
		ld.failures++
		ld.lastErr, ld.lastErrAt = err.Error(), time.Now()
		if ld.current.Load() != nil {
			ld.logger.Error("country database refused; the database in force stays", zap.String("database", ld.path), zap.Error(err))
		}
		return err
	}
	ld.current.Store(db)
	ld.loadedAt, ld.unknown, ld.hash = time.Now(), unknown, v.Hash
	logDatabase(ld.logger, db.Info())
	return nil
}

// openChecked opens a database version and checks all of it.
func openChecked(path string, v *source.Version) (*geo.Database, float64, error) {
	rc, err := v.Open()
	if err != nil {
		return nil, 0, err
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, 0, fmt.Errorf("reading geoip database %s: %w", path, err)
	}
	db, err := geo.OpenBytes(path, data)
	if err != nil {
		return nil, 0, err
	}
	if _, err := db.Check(); err != nil {
		return nil, 0, fmt.Errorf("geoip database %s is damaged: %w", path, err)
	}
	return db, db.UnknownShare(sampleAddrs), nil
}

func (ld *liveDatabase) failed(err error) {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	ld.failures++
	ld.lastErr, ld.lastErrAt = err.Error(), time.Now()
}

// Destruct stops watching.
func (ld *liveDatabase) Destruct() error {
	if ld.stop != nil {
		ld.stop()
	}
	ld.watchers.Wait()
	return nil
}

// liveDatabaseState is what became of a live database's files: for the status endpoint and
// the metrics.
type liveDatabaseState struct {
	LoadedAt    time.Time  `json:"loaded_at"`
	Version     string     `json:"version,omitempty"`
	Refresh     string     `json:"refresh"`
	Unknown     float64    `json:"unknown_share"`
	Failures    int        `json:"failures"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
}

func (ld *liveDatabase) state() liveDatabaseState {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	s := liveDatabaseState{
		LoadedAt: ld.loadedAt, Unknown: ld.unknown, Failures: ld.failures, LastError: ld.lastErr,
		Refresh: "off",
	}
	if ld.src != nil && ld.refresh > 0 {
		s.Refresh = ld.refresh.String()
	}
	s.Version = ld.hash
	if ld.lastErr != "" {
		at := ld.lastErrAt
		s.LastErrorAt = &at
	}
	return s
}
