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
	requests *prometheus.CounterVec
	allowed  prometheus.Counter
	exempt   prometheus.Counter

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
			Help:      "Requests decided by geo_restrict, by result (allowed, exempt, enforced).",
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
	var err error
	if m.requests, err = registerOrReuse(reg, m.requests); err != nil {
		return nil, err
	}
	if m.enforcedVec, err = registerOrReuse(reg, m.enforcedVec); err != nil {
		return nil, err
	}
	if m.orders, err = registerOrReuse(reg, m.orders); err != nil {
		return nil, err
	}
	if m.throttledRequests, err = registerOrReuse(reg, m.throttledRequests); err != nil {
		return nil, err
	}
	if m.throttledBytes, err = registerOrReuse(reg, m.throttledBytes); err != nil {
		return nil, err
	}
	if m.throttleActive, err = registerOrReuse(reg, m.throttleActive); err != nil {
		return nil, err
	}
	m.allowed = m.requests.WithLabelValues("allowed")
	m.exempt = m.requests.WithLabelValues("exempt")
	return m, nil
}

// registerOrReuse registers c, or returns the collector of the same name that
// another handler of this config registered first.
func registerOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

func (m *metrics) enforced(country string, action blocklist.Action, dryRun bool) {
	if country == "" {
		country = "unknown"
	}
	m.requests.WithLabelValues("enforced").Inc()
	m.enforcedVec.WithLabelValues(country, action.String(), strconv.FormatBool(dryRun)).Inc()
}

func (m *metrics) observeRegister(name string, reg *blocklist.Register) {
	st := reg.Stats()
	m.orders.WithLabelValues(name, blocklist.ActionBlock.String()).Set(float64(st.Blocks))
	m.orders.WithLabelValues(name, blocklist.ActionThrottle.String()).Set(float64(st.Throttles))
}

func (m *metrics) throttled(country, order string, bytes int64) {
	if country == "" {
		country = "unknown"
	}
	m.throttledRequests.WithLabelValues(country, order).Inc()
	m.throttledBytes.WithLabelValues(country, order).Add(float64(bytes))
}
