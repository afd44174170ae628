package caddymodule

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestLogLimit: under log_limit, each order logs its first lines in each
// country and interval one by one, and the requests beyond them in one
// summary line when the interval ends; every request is in the log, on a
// line of its own or in a count, and the transparency report counts them
// all.
func TestLogLimit(t *testing.T) {
	h := newTestHandler(t, func(h *Handler) {
		// An interval far longer than the test: it ends by flush below.
		h.LogLimit = &LogLimit{Lines: 3, Interval: caddy.Duration(time.Hour)}
	})
	core, logs := observer.New(zap.InfoLevel)
	h.logger = zap.New(core)
	h.logLimit.logger = h.logger
	before := reportCount(t, "rkn-1", "RU")

	ask := func(n int, target, ip string) {
		for range n {
			r, _ := newRequest("GET", target, ip)
			if err := h.ServeHTTP(httptest.NewRecorder(), r, &nextHandler{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	ask(10, "/someuser/status/123", ipRussia)    // rkn-1 in RU: 3 lines, 7 counted
	ask(2, "/censoreduser", ipRussia)            // rkn-2 in RU: 2 lines
	ask(4, "/someuser/status/123", ipUS)         // not withheld: no line
	ask(5, "/someuser/status/123?x=1", ipRussia) // rkn-1 again: counted

	if n := logs.FilterMessage("request withheld").FilterField(zap.String("order", "rkn-1")).Len(); n != 3 {
		t.Errorf("rkn-1: %d lines of their own, want 3", n)
	}
	if n := logs.FilterMessage("request withheld").FilterField(zap.String("order", "rkn-2")).Len(); n != 2 {
		t.Errorf("rkn-2: %d lines of their own, want 2", n)
	}
	if n := logs.FilterMessage("requests withheld beyond the log limit").Len(); n != 0 {
		t.Fatalf("summary logged before the interval ended: %v", logs.All())
	}

	h.logLimit.flush(time.Now())
	summaries := logs.FilterMessage("requests withheld beyond the log limit").All()
	if len(summaries) != 1 {
		t.Fatalf("%d summary lines, want 1 (for rkn-1): %v", len(summaries), logs.All())
	}
	f := summaries[0].ContextMap()
	for k, want := range map[string]any{"order": "rkn-1", "country": "RU", "action": "block", "authority": "Roskomnadzor",
		"requests": int64(12), "logged": int64(3), "dry_run": false} {
		if f[k] != want {
			t.Errorf("summary %s = %v (%T), want %v", k, f[k], f[k], want)
		}
	}
	if got := reportCount(t, "rkn-1", "RU") - before; got != 15 {
		t.Errorf("the transparency report counted %d requests for rkn-1 in RU, want all 15", got)
	}

	// A new interval starts afresh; an order idle for a whole interval is
	// forgotten, and starts afresh when it is asked for again.
	logs.TakeAll()
	ask(4, "/someuser/status/123", ipRussia)
	h.logLimit.flush(time.Now())
	h.logLimit.flush(time.Now())
	if _, ok := h.logLimit.windows.Load(logKey{"rkn-2", "RU"}); ok {
		t.Error("rkn-2, idle for an interval, is still tracked")
	}
	ask(4, "/censoreduser", ipRussia)
	h.logLimit.flush(time.Now())
	for _, tc := range []struct {
		order         string
		lines, counts int
	}{{"rkn-1", 3, 1}, {"rkn-2", 3, 1}} {
		lines := logs.FilterMessage("request withheld").FilterField(zap.String("order", tc.order)).Len()
		summaries := logs.FilterMessage("requests withheld beyond the log limit").FilterField(zap.String("order", tc.order)).AllUntimed()
		if lines != tc.lines || len(summaries) != tc.counts || summaries[0].ContextMap()["requests"] != int64(1) {
			t.Errorf("%s in the next intervals: %d lines and summaries %v; want %d lines and one summary of 1 request", tc.order, lines, summaries, tc.lines)
		}
	}

	// Unloading the config logs what the interval has not.
	logs.TakeAll()
	ask(5, "/someuser/status/123", ipRussia)
	if err := h.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if s := logs.FilterMessage("requests withheld beyond the log limit").AllUntimed(); len(s) != 1 || s[0].ContextMap()["requests"] != int64(2) {
		t.Errorf("at cleanup: summaries %v, want one of 2 requests", s)
	}
}

// reportCount is what the transparency report has counted as withheld for
// order (of testRegister) in country.
func reportCount(t *testing.T, order, country string) uint64 {
	t.Helper()
	for _, row := range transparency.snapshot(time.Now()).Rows {
		if row.OrderID == order && row.Country == country && row.Authority == "Roskomnadzor" && row.Reference == "2-1687/2024" {
			return row.Withheld
		}
	}
	return 0
}

func TestLogLimitCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "log_limit 100 1m", want: "100/1m0s"},
		{in: "log_limit 1 1s", want: "1/1s"},
		{in: "log_limit 100", err: "want <lines> <interval>"},
		{in: "log_limit 100 1m 5", err: "want <lines> <interval>"},
		{in: "log_limit many 1m", err: `lines: want a whole number, got "many"`},
		{in: "log_limit 0 1m", err: "lines: must be at least 1"},
		{in: "log_limit 10 soon", err: "interval"},
		{in: "log_limit 10 100ms", err: "interval: must be at least 1s"},
		{in: "log_limit 10 1m\n\tlog_limit 10 1m", err: "given more than once"},
	} {
		var h Handler
		d := caddyfile.NewTestDispenser("geo_restrict {\n\tregister r.csv\n\t" + tc.in + "\n}")
		err := h.UnmarshalCaddyfile(d)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "Testfile:") {
				t.Errorf("%q: error %v, want one with %q and the file:line", tc.in, err, tc.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case h.LogLimit == nil:
			t.Errorf("%q: no log_limit set", tc.in)
		default:
			if got := strings.Join([]string{strconv.Itoa(h.LogLimit.Lines), time.Duration(h.LogLimit.Interval).String()}, "/"); got != tc.want {
				t.Errorf("%q: %s, want %s", tc.in, got, tc.want)
			}
		}
	}
}

func TestLogLimitJSONIsChecked(t *testing.T) {
	for _, tc := range []struct {
		limit LogLimit
		err   string
	}{
		{LogLimit{}, "log_limit: lines: must be at least 1"},
		{LogLimit{Lines: 5}, "log_limit: interval: must be at least 1s"},
	} {
		h := &Handler{Registers: registers("r.csv"), LogLimit: &tc.limit}
		if err := h.Validate(); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%+v: %v, want %q", tc.limit, err, tc.err)
		}
	}
}
