package caddymodule

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/georestrict/caddy-georestrict/blocklist"
)

// The transparency report counts, since the process started, the requests
// that each order withheld or throttled in each country: what a legal team
// hands a regulator to show that orders are enforced, and publishes. It is
// served by the admin API (GET /geo_restrict/report, JSON or CSV).
//
// One store serves the whole process, so that the counts survive config
// reloads. Counting happens only for requests that an order applied to (never
// on the allow path), and costs a read lock, a map lookup and an atomic add
// once the (order, country) pair has been counted before: no allocation. The
// store keeps at most maxReportRows pairs, so memory stays bounded whatever
// the size of the registers; requests for pairs beyond that are counted in
// one row that says how many were not itemised.

// maxReportRows bounds the (order, country) pairs the report itemises. A row
// costs about 300 bytes (its strings are copied out of the register, so that
// the report does not keep old registers alive), so the report stays near
// 30 MB at most, whatever the size of the registers.
const maxReportRows = 100_000

// transparency is the process's transparency report.
var transparency = newReport(maxReportRows)

// report is a transparency report: see above.
type report struct {
	since time.Time
	limit int

	mu   sync.RWMutex
	rows map[reportKey]*reportCounts

	// Requests for pairs beyond the limit.
	overflowWithheld, overflowThrottled atomic.Uint64
}

// reportKey identifies a row: an order, as the report names it, and the
// client's country ("" when unknown). Orders of different registers that
// share an id but not their authority, reference or notice are different
// orders, and get rows of their own.
type reportKey struct {
	id, authority, reference, notice, country string
}

type reportCounts struct {
	withheld, throttled atomic.Uint64
}

func newReport(limit int) *report {
	return &report{since: time.Now(), limit: limit, rows: make(map[reportKey]*reportCounts)}
}

// enforced counts a request that order applied to, for a client in country:
// withheld for a block order, throttled for a throttle order. A dry run
// enforces nothing and is not counted.
func (t *report) enforced(order *blocklist.Order, country string, dryRun bool) {
	if dryRun {
		return
	}
	t.count(t.row(order, country), order.Action)
}

// row returns the row that counts order for clients in country, made if
// need be; nil when the report is full. Rows are never removed, so a caller
// may keep the row (see answers.go) and count into it directly.
func (t *report) row(order *blocklist.Order, country string) *reportCounts {
	k := reportKey{order.ID, order.Authority, order.Reference, order.Notice, country}
	t.mu.RLock()
	c := t.rows[k]
	t.mu.RUnlock()
	if c == nil {
		c = t.add(k)
	}
	return c
}

// count counts one request that an order with action applied to, in row c
// (nil: not itemised).
func (t *report) count(c *reportCounts, action blocklist.Action) {
	switch {
	case c == nil && action == blocklist.ActionThrottle:
		t.overflowThrottled.Add(1)
	case c == nil:
		t.overflowWithheld.Add(1)
	case action == blocklist.ActionThrottle:
		c.throttled.Add(1)
	default:
		c.withheld.Add(1)
	}
}

// add makes the row for k, unless the report is full (then nil). The row's
// strings are copies: the order's share the register's memory, which must
// be freed when the register is replaced.
func (t *report) add(k reportKey) *reportCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.rows[k]; ok {
		return c
	}
	if len(t.rows) >= t.limit {
		return nil
	}
	k = reportKey{
		id:        strings.Clone(k.id),
		authority: strings.Clone(k.authority),
		reference: strings.Clone(k.reference),
		notice:    strings.Clone(k.notice),
		country:   strings.Clone(k.country),
	}
	c := new(reportCounts)
	t.rows[k] = c
	return c
}

// reportSnapshot is the report at one moment, as the admin API serves it in
// JSON.
type reportSnapshot struct {
	// Since is when counting began: when the process started.
	Since time.Time `json:"since"`
	// Until is when the snapshot was taken.
	Until time.Time `json:"until"`
	// Rows are the orders that fired, per client country, sorted by order
	// id, then country.
	Rows []reportRow `json:"rows"`
	// NotItemised counts the requests for (order, country) pairs beyond
	// RowLimit: they were withheld or throttled, but are in no row.
	NotItemised reportOverflow `json:"not_itemised"`
	RowLimit    int            `json:"row_limit"`
}

type reportRow struct {
	OrderID   string `json:"order_id"`
	Country   string `json:"country"` // ISO 3166-1 alpha-2, or "unknown"
	Authority string `json:"authority"`
	Reference string `json:"reference"`
	Notice    string `json:"notice"`
	Withheld  uint64 `json:"withheld"`
	Throttled uint64 `json:"throttled"`
}

type reportOverflow struct {
	Withheld  uint64 `json:"withheld"`
	Throttled uint64 `json:"throttled"`
}

// snapshot copies the report, sorted.
func (t *report) snapshot(now time.Time) reportSnapshot {
	s := reportSnapshot{Since: t.since, Until: now, RowLimit: t.limit}
	t.mu.RLock()
	s.Rows = make([]reportRow, 0, len(t.rows))
	for k, c := range t.rows {
		s.Rows = append(s.Rows, reportRow{
			OrderID: k.id, Country: countryLabel(k.country),
			Authority: k.authority, Reference: k.reference, Notice: k.notice,
			Withheld: c.withheld.Load(), Throttled: c.throttled.Load(),
		})
	}
	t.mu.RUnlock()
	s.NotItemised = reportOverflow{Withheld: t.overflowWithheld.Load(), Throttled: t.overflowThrottled.Load()}
	slices.SortFunc(s.Rows, func(a, b reportRow) int {
		return cmp.Or(
			strings.Compare(a.OrderID, b.OrderID),
			strings.Compare(a.Country, b.Country),
			strings.Compare(a.Authority, b.Authority),
			strings.Compare(a.Reference, b.Reference),
			strings.Compare(a.Notice, b.Notice),
		)
	})
	return s
}

// reportColumns are the CSV report's columns, in their order; they do not
// change, so that scripts that read the report keep working.
var reportColumns = []string{"since", "until", "order_id", "country", "authority", "reference", "notice", "withheld", "throttled"}

// notItemised is the order_id of the CSV row that counts the requests the
// report could not itemise.
const notItemised = "(not itemised)"

// writeJSON writes the snapshot as JSON.
func (s reportSnapshot) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "\t")
	return enc.Encode(s)
}

// writeCSV writes the snapshot as CSV (RFC 4180: CRLF line ends, fields with
// commas, quotes or line breaks quoted): a header row with reportColumns,
// one row per order and country, and, when some requests could not be
// itemised, a last row whose order_id is "(not itemised)" and whose counts
// are theirs. Times are RFC 3339, in UTC.
func (s reportSnapshot) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	since, until := s.Since.UTC().Format(time.RFC3339), s.Until.UTC().Format(time.RFC3339)
	if err := cw.Write(reportColumns); err != nil {
		return err
	}
	for _, r := range s.Rows {
		rec := []string{since, until, cell(r.OrderID), r.Country, cell(r.Authority), cell(r.Reference), cell(r.Notice),
			strconv.FormatUint(r.Withheld, 10), strconv.FormatUint(r.Throttled, 10)}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	if o := s.NotItemised; o.Withheld+o.Throttled > 0 {
		rec := []string{since, until, notItemised, "", "", "", "",
			strconv.FormatUint(o.Withheld, 10), strconv.FormatUint(o.Throttled, 10)}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// cell guards a text field of the CSV report against spreadsheets that run
// a cell starting with =, +, -, @, a tab or a carriage return as a formula:
// the register's text (an authority, a reference) comes from the regulator's
// file, and the report is opened in spreadsheets. Such a cell gets a leading
// apostrophe, as OWASP advises. Order ids, authorities, references and notice
// URLs rarely start that way; the JSON report carries them unchanged.
func cell(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 {
		return "'" + s
	}
	return s
}
