package caddymodule

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/georestrict/caddy-georestrict/geo"
	"github.com/georestrict/caddy-georestrict/throttle"
)

// resources holds what outlives a single config: live registers and country
// databases (which keep themselves current, see live.go and livedb.go) and
// throttle stores. Sites that name the same sources with the same settings
// share one, and a config load that names one in use checks its sources at
// once rather than loading them twice. What fails to load is never put in the
// pool: the failing Provision aborts the new config and Caddy keeps the old
// one.
var resources = caddy.NewUsagePool()

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

func releaseResource(key string) {
	if key == "" {
		return
	}
	_, _ = resources.Delete(key)
}
