package caddymodule

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/georestrict/caddy-georestrict/blocklist"
)

// metrics are the handler's Prometheus collectors. Caddy makes a new registry
// for every config, so they are registered again on every Provision; handlers
// of one config share the collectors. Labels are bounded: results, countries
// (ISO codes) and actions, never addresses, paths or order ids.
type metrics struct {
	// requests counts every request the handler decided on, by result.
	// The two results of the fast path are resolved once, so counting them
	// is a single atomic add.
	requests      *prometheus.CounterVec
	allowed       prometheus.Counter
	exempt        prometheus.Counter
	refused       prometheus.Counter
	enforcedCount prometheus.Counter

	// enforcedVec counts requests an order applied to.
	enforcedVec *prometheus.CounterVec

	// orders is the number of orders in each loaded register, by action.
	orders *prometheus.GaugeVec

	// Throttling, by client country and order: throttle orders are few
	// (a register names media routes, not posts), so order ids are a
	// bounded label here.
	throttledRequests *prometheus.CounterVec
	throttledBytes    *prometheus.CounterVec
	throttleActive    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy",
			Subsystem: "georestrict",
			Name:      "requests_total",
			Help:      "Requests decided by geo_restrict, by result (allowed, exempt, enforced, refused).",
		}, []string{"result"}),
		enforcedVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy",
			Subsystem: "georestrict",
			Name:      "enforced_total",
			Help:      "Requests a legal order applied to, by client country, action and whether it was a dry run.",
		}, []string{"country", "action", "dry_run"}),
		orders: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "caddy",
			Subsystem: "georestrict",
			Name:      "register_orders",
			Help:      "Orders in the loaded registers, by register files and action.",
		}, []string{"registers", "action"}),
		throttledRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy",
			Subsystem: "georestrict",
			Name:      "throttled_requests_total",
			Help:      "Throttled requests that ended, by client country and order.",
		}, []string{"country", "order"}),
		throttledBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy",
			Subsystem: "georestrict",
			Name:      "throttled_bytes_total",
			Help:      "Body bytes of throttled requests (and of their responses, for throttle ... both), by client country and order.",
		}, []string{"country", "order"}),
		throttleActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "caddy",
			Subsystem: "georestrict",
			Name:      "throttle_active_requests",
			Help:      "Throttled requests in progress.",
		}),
	}
	if err := errors.Join(
		reuse(reg, &m.requests),
		reuse(reg, &m.enforcedVec),
		reuse(reg, &m.orders),
		reuse(reg, &m.throttledRequests),
		reuse(reg, &m.throttledBytes),
		reuse(reg, &m.throttleActive),
	); err != nil {
		return nil, err
	}
	m.allowed = m.requests.WithLabelValues("allowed")
	m.exempt = m.requests.WithLabelValues("exempt")
	m.refused = m.requests.WithLabelValues("refused")
	m.enforcedCount = m.requests.WithLabelValues("enforced")
	return m, nil
}

// reuse registers *c, or replaces it with the collector of the same name
// that another handler of this config registered first.
func reuse[C prometheus.Collector](reg prometheus.Registerer, c *C) error {
	err := reg.Register(*c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			*c = existing
			return nil
		}
	}
	return err
}

// countryLabel is the country as a metric label: "unknown" rather than empty.
func countryLabel(country string) string {
	if country == "" {
		return "unknown"
	}
	return country
}

func (m *metrics) enforced(country string, action blocklist.Action, dryRun bool) {
	m.enforcedCount.Inc()
	m.enforcedVec.WithLabelValues(countryLabel(country), action.String(), strconv.FormatBool(dryRun)).Inc()
}

func (m *metrics) observeRegister(name string, reg *blocklist.Register) {
	st := reg.Stats()
	m.orders.WithLabelValues(name, blocklist.ActionBlock.String()).Set(float64(st.Blocks))
	m.orders.WithLabelValues(name, blocklist.ActionThrottle.String()).Set(float64(st.Throttles))
}

func (m *metrics) throttled(country, order string, bytes int64) {
	m.throttledRequests.WithLabelValues(countryLabel(country), order).Inc()
	m.throttledBytes.WithLabelValues(countryLabel(country), order).Add(float64(bytes))
}
