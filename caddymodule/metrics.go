package caddymodule

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/georestrict/caddy-georestrict/blocklist"
)

// metrics are the handler's Prometheus collectors. Caddy makes a new registry
// for every config, so they are registered again on every Provision; handlers
// of one config share the collectors. Labels are bounded: results, countries
// (ISO codes) and actions, never addresses, paths or order ids.
type metrics struct {
	// requests counts every request the handler decided on, by result.
	// The results are resolved once, so counting one is a single atomic
	// add.
	requests      *prometheus.CounterVec
	allowed       prometheus.Counter
	exempt        prometheus.Counter
	refused       prometheus.Counter
	enforcedCount prometheus.Counter
	dryRunCount   prometheus.Counter

	// enforcedVec counts requests an order applied to.
	enforcedVec *prometheus.CounterVec

	// orders reports the orders in force in each loaded register.
	orders *ordersCollector
	// live reports the state of the live registers and databases.
	live *liveCollector

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
			Help:      "Requests decided by geo_restrict, by result (allowed, exempt, enforced, dry_run, refused).",
		}, []string{"result"}),
		enforcedVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "caddy",
			Subsystem: "georestrict",
			Name:      "enforced_total",
			Help:      "Requests a legal order applied to, by client country, action and whether it was a dry run.",
		}, []string{"country", "action", "dry_run"}),
		orders: newOrdersCollector(),
		live:   newLiveCollector(),
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
		reuse(reg, &m.live),
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
	m.dryRunCount = m.requests.WithLabelValues("dry_run")
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

// observeRegister reports the orders of reg, which a handler enforces with
// the given register files and hosts, in dry run or not.
func (m *metrics) observeRegister(registers string, hosts []string, dryRun bool, reg *liveRegister) {
	m.orders.add(ordersKey{registers: registers, hosts: hostsLabel(hosts), dryRun: strconv.FormatBool(dryRun)}, reg)
}

// hostsLabel is the hosts setting as a label: the hosts decide which URL
// orders a register keeps, so handlers that name the same files with other
// hosts enforce other orders.
func hostsLabel(hosts []string) string {
	h := make([]string, len(hosts))
	for i, s := range hosts {
		h[i] = strings.ToLower(s)
	}
	slices.Sort(h)
	return strings.Join(slices.Compact(h), ",")
}

// ordersCollector reports caddy_georestrict_register_orders when it is
// scraped: the orders in force in each register that a handler of this
// config enforces. Orders with a start or an end count only inside their
// window, so the figure follows the orders that apply now rather than those
// loaded at the last reload. Handlers that enforce the same orders (same
// files, hosts and dry run) share one series.
//
// It also reports caddy_georestrict_register_offheap_bytes, the memory each
// of those registers keeps outside the Go heap: resident memory that Go's own
// metrics do not show. Dry-run and enforcing handlers of the same files and
// hosts share one register, and so one series.
type ordersCollector struct {
	desc, offHeap *prometheus.Desc
	mu            sync.Mutex
	sets          map[ordersKey]*liveRegister
}

type ordersKey struct{ registers, hosts, dryRun string }

func newOrdersCollector() *ordersCollector {
	return &ordersCollector{
		desc: prometheus.NewDesc("caddy_georestrict_register_orders",
			"Orders in force (inside their start and end) in the loaded registers, by register files, hosts, dry run and action.",
			[]string{"registers", "hosts", "dry_run", "action"}, nil),
		offHeap: prometheus.NewDesc("caddy_georestrict_register_offheap_bytes",
			"Memory the loaded registers keep outside the Go heap, by register files and hosts.",
			[]string{"registers", "hosts"}, nil),
		sets: make(map[ordersKey]*liveRegister),
	}
}

func (c *ordersCollector) add(k ordersKey, reg *liveRegister) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sets[k] = reg
}

// Describe implements prometheus.Collector.
func (c *ordersCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.desc
	ch <- c.offHeap
}

// Collect implements prometheus.Collector.
func (c *ordersCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	// Memory by files and hosts: each register once, however many handlers
	// (dry run or not) enforce it.
	counted := make(map[*liveRegister]bool)
	offHeap := make(map[ordersKey]int)
	for k, live := range c.sets {
		reg := live.register()
		counts := reg.InForce(now)
		for _, a := range [...]blocklist.Action{blocklist.ActionBlock, blocklist.ActionThrottle} {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[a]),
				k.registers, k.hosts, k.dryRun, a.String())
		}
		mk := ordersKey{registers: k.registers, hosts: k.hosts}
		if !counted[live] {
			counted[live] = true
			offHeap[mk] += reg.Stats().OffHeap
		}
	}
	for k, n := range offHeap {
		ch <- prometheus.MustNewConstMetric(c.offHeap, prometheus.GaugeValue, float64(n), k.registers, k.hosts)
	}
}

func (m *metrics) throttled(country, order string, bytes int64) {
	m.throttledRequests.WithLabelValues(countryLabel(country), order).Inc()
	m.throttledBytes.WithLabelValues(countryLabel(country), order).Add(float64(bytes))
}
