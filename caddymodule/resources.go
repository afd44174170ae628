package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/georestrict/caddy-georestrict/geo"
	"github.com/georestrict/caddy-georestrict/throttle"
)

// resources holds what outlives a single config: opened country databases and
// compiled registers. Sites that name the same files share one loaded copy,
// and a config reload that changes nothing reuses it instead of loading twice.
//
// Keys carry each file's path and a SHA-256 of its content, so that
// `caddy reload` after geoipupdate or an edit of the register loads the new
// file, while the old config keeps serving the old copy until it is cleaned
// up. Content, not size and modification time: `cp -p`, tar and reproducible
// images keep mtimes, and an edit that keeps the size (one digit of a post id
// for another) would otherwise be silently ignored. A file that fails to load
// is never put in the pool: the failing Provision aborts the new config and
// Caddy keeps the old one.
//
// A file is read twice, once to hash it and once to load it. If it changes in
// between, the pool holds the newer content under the older hash until the
// next reload hashes the file again and loads it anew; nothing older than
// what was hashed is ever served.
var resources = caddy.NewUsagePool()

// sharedDatabase is an opened country database in the usage pool; it holds
// only memory, so destructing it is a no-op.
type sharedDatabase struct{ db *geo.Database }

func (sharedDatabase) Destruct() error { return nil }

// loadDatabase returns the shared database for path ("" for the embedded
// default), and the pool key to release it with.
func loadDatabase(path string, logger *zap.Logger) (*geo.Database, string, error) {
	id := "embedded"
	if path != "" {
		var err error
		if id, err = fileIdentity(path); err != nil {
			return nil, "", fmt.Errorf("opening geoip database: %w", err)
		}
	}
	key := "geo|" + id
	val, loaded, err := resources.LoadOrNew(key, func() (caddy.Destructor, error) {
		var db *geo.Database
		var err error
		if path == "" {
			db, err = geo.OpenDefault()
		} else {
			db, err = geo.Open(path)
		}
		if err != nil {
			return nil, err
		}
		return sharedDatabase{db}, nil
	})
	if err != nil {
		return nil, "", err
	}
	db := val.(sharedDatabase).db
	if !loaded {
		logDatabase(logger, db.Info())
	}
	return db, key, nil
}

func logDatabase(logger *zap.Logger, info geo.Info) {
	fields := []zap.Field{
		zap.String("database", info.Name),
		zap.String("type", info.DatabaseType),
		zap.String("schema", info.Schema.String()),
		zap.String("built", info.BuildTime.Format(time.DateOnly)),
	}
	if info.Embedded {
		logger.Info("using the embedded country database; for production, configure geoip_db with a maintained database (MaxMind GeoIP2/GeoLite2 kept fresh by geoipupdate, or DB-IP)",
			append(fields, zap.String("attribution", geo.DefaultAttribution))...)
		return
	}
	if age := time.Since(info.BuildTime); age > 60*24*time.Hour {
		logger.Warn("country database is more than 60 days old; addresses move between countries, keep it fresh",
			append(fields, zap.Duration("age", age.Round(time.Hour)))...)
		return
	}
	logger.Info("country database loaded", fields...)
}

// sharedBudgets is a throttle store in the usage pool: the budgets of
// clients being throttled survive a config reload, so a reload does not hand
// every throttled client a fresh, full budget.
type sharedBudgets struct{ store *throttle.Store }

func (sharedBudgets) Destruct() error { return nil }

// loadBudgets returns the shared throttle store for a burst size, and the
// pool key to release it with.
func loadBudgets(burst int64) (*throttle.Store, string) {
	key := fmt.Sprintf("throttle|burst=%d", burst)
	val, _, _ := resources.LoadOrNew(key, func() (caddy.Destructor, error) {
		return sharedBudgets{throttle.NewStore(throttle.StoreOptions{Burst: burst})}, nil
	})
	return val.(sharedBudgets).store, key
}

// fileIdentity identifies the file at path by its path and content:
// "path@sha256:<hex>".
func fileIdentity(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return path + "@sha256:" + hex.EncodeToString(sum.Sum(nil)), nil
}

func releaseResource(key string) {
	if key == "" {
		return
	}
	_, _ = resources.Delete(key)
}
