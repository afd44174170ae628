package caddymodule

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// liveCollector reports, when it is scraped, the state of the live registers and country
// databases that the handlers of a config use: per source, the orders in force, when a
// version was last put in force and how long its load took, failures, a held-back version,
// and the version in force (an info metric); per database, its build time, when it was
// loaded, and failures. The live resources outlive configs, and Caddy makes a new registry
// for every config, so the figures are read from them at every scrape rather than kept in
// collectors of a registry. Labels are the configured sources and databases: a bounded set.
type liveCollector struct {
	mu        sync.Mutex
	registers map[*liveRegister]bool
	databases map[*liveDatabase]bool
}

func newLiveCollector() *liveCollector {
	return &liveCollector{registers: map[*liveRegister]bool{}, databases: map[*liveDatabase]bool{}}
}

func (c *liveCollector) add(lr *liveRegister, ld *liveDatabase) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.registers[lr] = true
	c.databases[ld] = true
}

func liveDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName("caddy", "georestrict", name), help, labels, nil)
}

var (
	// A source is labelled with the live register it belongs to (its settings' hash, which
	// the status endpoint shows): handlers that read one source with other hosts or
	// patterns keep other orders of it.
	sourceOrdersDesc      = liveDesc("source_orders", "Orders in force from each register source.", "register", "source")
	sourceAppliedDesc     = liveDesc("source_last_applied_timestamp_seconds", "When the version in force of each register source was put in force (Unix time).", "register", "source")
	sourceLoadDesc        = liveDesc("source_load_duration_seconds", "How long the load that put the version in force of each register source took.", "register", "source")
	sourceFailuresDesc    = liveDesc("source_failures_total", "Checks and loads of each register source that failed since start: unreachable, unsigned, broken or refused versions.", "register", "source")
	sourceHeldDesc        = liveDesc("source_held_back", "1 while a new version of the source is held back by max_shrink, awaiting an operator.", "register", "source")
	sourceInfoDesc        = liveDesc("source_info", "The version in force of each register source: its SHA-256 (first 12 hex digits), its kind (file or url), and whether it came from storage.", "register", "source", "version", "kind", "from_storage")
	unenforcedDesc        = liveDesc("register_unenforced_entries", "Entries of regulators' registers that are not enforced, by reason (other host, network, whole site, cannot be an order).", "register", "reason")
	databaseBuiltDesc     = liveDesc("database_build_timestamp_seconds", "When the country database in force was built, from its metadata (Unix time).", "database", "refresh")
	databaseLoadedDesc    = liveDesc("database_last_load_timestamp_seconds", "When the country database in force was loaded (Unix time).", "database", "refresh")
	databaseFailuresDesc  = liveDesc("database_failures_total", "Checks and loads of each country database that failed since start, the damaged and refused ones among them.", "database", "refresh")
	liveCollectorDescribe = []*prometheus.Desc{sourceOrdersDesc, sourceAppliedDesc, sourceLoadDesc, sourceFailuresDesc,
		sourceHeldDesc, sourceInfoDesc, unenforcedDesc, databaseBuiltDesc, databaseLoadedDesc, databaseFailuresDesc}
)

// Describe implements prometheus.Collector.
func (c *liveCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range liveCollectorDescribe {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *liveCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for lr := range c.registers {
		st := lr.status()
		for _, s := range st.Sources {
			gauge(sourceOrdersDesc, float64(s.Orders), lr.id, s.Location)
			gauge(sourceAppliedDesc, float64(s.Applied.UnixNano())/1e9, lr.id, s.Location)
			gauge(sourceLoadDesc, s.LoadSeconds, lr.id, s.Location)
			counter(sourceFailuresDesc, float64(s.Failures), lr.id, s.Location)
			held := 0.0
			if s.HeldBack != nil {
				held = 1
			}
			gauge(sourceHeldDesc, held, lr.id, s.Location)
			gauge(sourceInfoDesc, 1, lr.id, s.Location, shortHash(s.Version), s.Kind, boolLabel(s.FromStorage))
		}
		for reason, n := range st.Unenforced {
			gauge(unenforcedDesc, float64(n), lr.id, reason)
		}
	}
	for ld := range c.databases {
		s, info := ld.state(), ld.database().Info()
		gauge(databaseBuiltDesc, float64(info.BuildTime.Unix()), info.Name, s.Refresh)
		gauge(databaseLoadedDesc, float64(s.LoadedAt.UnixNano())/1e9, info.Name, s.Refresh)
		counter(databaseFailuresDesc, float64(s.Failures), info.Name, s.Refresh)
	}
}

func boolLabel(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
