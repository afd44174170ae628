package caddymodule

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/georestrict/caddy-georestrict/blocklist"
)

func blockOrder(id string) blocklist.Order {
	return blocklist.Order{ID: id, Action: blocklist.ActionBlock, Authority: "Roskomnadzor", Reference: "2-1687/2024", Notice: "https://notice.example/" + id}
}

func throttleOrder(id string) blocklist.Order {
	return blocklist.Order{ID: id, Action: blocklist.ActionThrottle, Rate: 65536, Authority: "Roskomnadzor", Reference: "2021-03-10"}
}

func TestReportCounts(t *testing.T) {
	rkn1, rkn3 := blockOrder("rkn-1"), throttleOrder("rkn-3")
	// The same id with another authority is another order.
	other := blockOrder("rkn-1")
	other.Authority = "Landgericht Berlin"

	tests := []struct {
		name   string
		counts func(r *report)
		want   []reportRow
	}{
		{"withheld, per country", func(r *report) {
			r.enforced(&rkn1, "RU", false)
			r.enforced(&rkn1, "RU", false)
			r.enforced(&rkn1, "BY", false)
		}, []reportRow{
			{OrderID: "rkn-1", Country: "BY", Authority: "Roskomnadzor", Reference: "2-1687/2024", Notice: "https://notice.example/rkn-1", Withheld: 1},
			{OrderID: "rkn-1", Country: "RU", Authority: "Roskomnadzor", Reference: "2-1687/2024", Notice: "https://notice.example/rkn-1", Withheld: 2},
		}},
		{"throttled", func(r *report) {
			r.enforced(&rkn3, "RU", false)
		}, []reportRow{
			{OrderID: "rkn-3", Country: "RU", Authority: "Roskomnadzor", Reference: "2021-03-10", Throttled: 1},
		}},
		{"a dry run is not counted", func(r *report) {
			r.enforced(&rkn1, "RU", true)
		}, []reportRow{}},
		{"unknown country", func(r *report) {
			r.enforced(&rkn1, "", false)
		}, []reportRow{
			{OrderID: "rkn-1", Country: "unknown", Authority: "Roskomnadzor", Reference: "2-1687/2024", Notice: "https://notice.example/rkn-1", Withheld: 1},
		}},
		{"same id, other authority", func(r *report) {
			r.enforced(&rkn1, "DE", false)
			r.enforced(&other, "DE", false)
		}, []reportRow{
			{OrderID: "rkn-1", Country: "DE", Authority: "Landgericht Berlin", Reference: "2-1687/2024", Notice: "https://notice.example/rkn-1", Withheld: 1},
			{OrderID: "rkn-1", Country: "DE", Authority: "Roskomnadzor", Reference: "2-1687/2024", Notice: "https://notice.example/rkn-1", Withheld: 1},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newReport(10)
			tc.counts(r)
			s := r.snapshot(time.Now())
			if !reflect.DeepEqual(s.Rows, tc.want) {
				t.Errorf("rows:\n%+v\nwant\n%+v", s.Rows, tc.want)
			}
			if s.NotItemised != (reportOverflow{}) {
				t.Errorf("not itemised = %+v, want none", s.NotItemised)
			}
		})
	}
}

// Beyond its limit of rows, the report counts requests in one overflow
// figure: memory stays bounded, and no request goes uncounted.
func TestReportLimit(t *testing.T) {
	r := newReport(3)
	for i := range 5 {
		o := blockOrder("o-" + strconv.Itoa(i))
		r.enforced(&o, "RU", false)
		r.enforced(&o, "RU", false)
	}
	slow := throttleOrder("slow")
	r.enforced(&slow, "RU", false)
	o0 := blockOrder("o-0")
	r.enforced(&o0, "RU", false) // an existing row still counts

	s := r.snapshot(time.Now())
	if len(s.Rows) != 3 {
		t.Fatalf("%d rows, want the limit, 3: %+v", len(s.Rows), s.Rows)
	}
	if s.Rows[0].OrderID != "o-0" || s.Rows[0].Withheld != 3 {
		t.Errorf("first row = %+v, want o-0 withheld 3 times", s.Rows[0])
	}
	if want := (reportOverflow{Withheld: 4, Throttled: 1}); s.NotItemised != want {
		t.Errorf("not itemised = %+v, want %+v", s.NotItemised, want)
	}
	var total uint64
	for _, row := range s.Rows {
		total += row.Withheld + row.Throttled
	}
	if total+s.NotItemised.Withheld+s.NotItemised.Throttled != 12 {
		t.Errorf("%d requests itemised and %+v not, want 12 in all", total, s.NotItemised)
	}
}

// Counting a pair counted before costs no allocation, and neither does a
// request beyond the limit.
func TestReportCountAllocatesNothing(t *testing.T) {
	r := newReport(1)
	o, p := blockOrder("rkn-1"), throttleOrder("rkn-3")
	r.enforced(&o, "RU", false)
	r.enforced(&p, "RU", false) // beyond the limit
	for _, tc := range []struct {
		name  string
		order *blocklist.Order
	}{{"counted before", &o}, {"beyond the limit", &p}} {
		t.Run(tc.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(1000, func() { r.enforced(tc.order, "RU", false) }); n != 0 {
				t.Errorf("%v allocations per count", n)
			}
		})
	}
}

// The report copies what it keeps of an order, so that it does not keep a
// replaced register's memory alive.
func TestReportCopiesStrings(t *testing.T) {
	r := newReport(10)
	buf := []byte("rkn-1")
	id := unsafeString(buf)
	o := blockOrder("")
	o.ID = id
	r.enforced(&o, "RU", false)
	copy(buf, "XXXXX")
	if got := r.snapshot(time.Now()).Rows[0].OrderID; got != "rkn-1" {
		t.Errorf("order id = %q: the report shares the order's memory", got)
	}
}

// A row costs what the package comment says, so the limit bounds memory.
func TestReportMemoryPerRow(t *testing.T) {
	const rows = 20_000
	orders := make([]blocklist.Order, rows)
	for i := range orders {
		orders[i] = blockOrder("rkn-" + strconv.Itoa(1_000_000+i))
		orders[i].Reference = "№ " + strconv.Itoa(i) + "-ФЗ, 2024-03-10"
	}
	var before, after runtime.MemStats
	// Twice: the first collection only moves sync.Pool contents aside.
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := newReport(rows)
	for i := range orders {
		r.enforced(&orders[i], "RU", false)
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	perRow := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / rows
	t.Logf("%.0f bytes per row; %d rows cost %.1f MB", perRow, maxReportRows, perRow*maxReportRows/1e6)
	if perRow > 400 {
		t.Errorf("%.0f bytes per row: the limit of %d rows no longer bounds the report near 30 MB", perRow, maxReportRows)
	}
	runtime.KeepAlive(r)
	runtime.KeepAlive(orders)
}

func TestReportCSV(t *testing.T) {
	r := newReport(2)
	since := r.since
	a := blockOrder("rkn-1")
	a.Authority = "Roskomnadzor, Moscow"    // a comma: quoted
	a.Reference = `decision "2-1687/2024"`  // quotes: doubled
	b := throttleOrder("=HYPERLINK(\"x\")") // a formula: defused
	b.Authority = "@evil"
	c := blockOrder("rkn-9")
	r.enforced(&a, "RU", false)
	r.enforced(&a, "RU", false)
	r.enforced(&b, "RU", false)
	r.enforced(&c, "BY", false) // beyond the limit

	var buf bytes.Buffer
	until := since.Add(time.Hour)
	if err := r.snapshot(until).writeCSV(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.HasSuffix(out, "\r\n") || strings.Count(out, "\r\n") != 4 {
		t.Errorf("want 4 CRLF-terminated lines (RFC 4180):\n%q", out)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("the report does not read back as CSV: %v\n%s", err, out)
	}
	s, u := since.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339)
	want := [][]string{
		reportColumns,
		{s, u, `'=HYPERLINK("x")`, "RU", "'@evil", "2021-03-10", "", "0", "1"},
		{s, u, "rkn-1", "RU", "Roskomnadzor, Moscow", `decision "2-1687/2024"`, "https://notice.example/rkn-1", "2", "0"},
		{s, u, notItemised, "", "", "", "", "1", "0"},
	}
	if !reflect.DeepEqual(recs, want) {
		t.Errorf("CSV:\n%q\nwant\n%q", recs, want)
	}
}

func TestReportJSON(t *testing.T) {
	r := newReport(5)
	a := blockOrder("rkn-1")
	r.enforced(&a, "RU", false)
	var buf bytes.Buffer
	if err := r.snapshot(time.Now()).writeJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"since", "until", "rows", "not_itemised", "row_limit"} {
		if _, ok := got[k]; !ok {
			t.Errorf("JSON report lacks %q:\n%s", k, buf.String())
		}
	}
	row := got["rows"].([]any)[0].(map[string]any)
	want := map[string]any{"order_id": "rkn-1", "country": "RU", "authority": "Roskomnadzor", "reference": "2-1687/2024",
		"notice": "https://notice.example/rkn-1", "withheld": float64(1), "throttled": float64(0)}
	if !reflect.DeepEqual(row, want) {
		t.Errorf("row = %v, want %v", row, want)
	}
}

// The handler counts what it withholds and throttles in the process's
// report, and nothing else.
func TestHandlerCountsInReport(t *testing.T) {
	dir := t.TempDir()
	reg := writeFile(t, dir, "r.csv", registerHdr+
		"report-unit-451,RU,post:123,block,Roskomnadzor,,,,,\n"+
		"report-unit-slow,RU,path:/media/upload*,throttle 64KiB/s,Roskomnadzor,,,,,\n")
	h := &Handler{GeoIPDB: testDatabase(t, dir), Registers: registers(reg)}
	provisionHandler(t, h)
	dry := &Handler{GeoIPDB: testDatabase(t, dir), Registers: registers(reg), DryRun: true}
	provisionHandler(t, dry)

	before := transparency.snapshot(time.Now())
	for _, tc := range []struct {
		h              *Handler
		method, target string
		ip             string
	}{
		{h, "GET", "/someuser/status/123", ipRussia},
		{h, "GET", "/someuser/status/123", ipRussia},
		{h, "GET", "/someuser/status/123", ipUS},        // allowed
		{h, "GET", "/someuser/status/124", ipRussia},    // unlisted
		{h, "POST", "/media/upload", ipRussia},          // throttled
		{dry, "GET", "/someuser/status/123", ipRussia},  // a dry run
		{h, "GET", "/someuser/status/123/..", ipRussia}, // refused, no order
	} {
		r, _ := newRequest(tc.method, tc.target, tc.ip)
		if err := tc.h.ServeHTTP(httptest.NewRecorder(), r, &nextHandler{}); err != nil {
			t.Fatal(err)
		}
	}
	got := reportDelta(before, transparency.snapshot(time.Now()), "report-unit-")
	want := []reportRow{
		{OrderID: "report-unit-451", Country: "RU", Authority: "Roskomnadzor", Withheld: 2},
		{OrderID: "report-unit-slow", Country: "RU", Authority: "Roskomnadzor", Throttled: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("report rows = %+v\nwant %+v", got, want)
	}
}

// unsafeString is a string that shares buf's memory, as an order's strings
// share their register's.
func unsafeString(buf []byte) string { return unsafe.String(&buf[0], len(buf)) }

// reportDelta returns the rows of after whose order id starts with prefix,
// with what they counted since before: the report is the process's, and
// other tests (and earlier runs of this one, with -count) count in it too.
func reportDelta(before, after reportSnapshot, prefix string) []reportRow {
	type key struct{ id, country, authority, reference, notice string }
	old := map[key]reportRow{}
	for _, r := range before.Rows {
		old[key{r.OrderID, r.Country, r.Authority, r.Reference, r.Notice}] = r
	}
	out := []reportRow{}
	for _, r := range after.Rows {
		if !strings.HasPrefix(r.OrderID, prefix) {
			continue
		}
		o := old[key{r.OrderID, r.Country, r.Authority, r.Reference, r.Notice}]
		r.Withheld -= o.Withheld
		r.Throttled -= o.Throttled
		if r.Withheld+r.Throttled > 0 {
			out = append(out, r)
		}
	}
	return out
}
