package caddymodule

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
)

func TestParseExplainRequest(t *testing.T) {
	tests := []struct {
		name, ip, url   string
		addr, path, qry string
		err             string
	}{
		{"path", ipRussia, "/someuser/status/123", ipRussia, "/someuser/status/123", "", ""},
		{"path with query", ipRussia, "/1.1/statuses/show.json?id=123", ipRussia, "/1.1/statuses/show.json", "id=123", ""},
		{"escapes are kept", ipRussia, "/SomeUser/%73tatus//00123/", ipRussia, "/SomeUser/%73tatus//00123/", "", ""},
		{"URL", ipRussia, "https://microblog.example/someuser/status/123?s=20#top", ipRussia, "/someuser/status/123", "s=20", ""},
		{"URL without a path", ipRussia, "https://microblog.example", ipRussia, "/", "", ""},
		{"IPv6 with a zone", "fe80::1%eth0", "/", "fe80::1", "/", "", ""},
		{"IPv4-mapped", "::ffff:" + ipRussia, "/", ipRussia, "/", "", ""},
		{"no ip", "", "/", "", "", "", "ip: required"},
		{"bad ip", "77.88.55", "/", "", "", "", `ip: "77.88.55" is not an IP address`},
		{"no url", ipRussia, "", "", "", "", "url: required"},
		{"no scheme", ipRussia, "microblog.example/someuser", "", "", "", "want a path (/...) or an http(s) URL"},
		{"other scheme", ipRussia, "ftp://microblog.example/x", "", "", "", "want a path (/...) or an http(s) URL"},
		{"bad escape", ipRussia, "/a%zz", "", "", "", `url: "/a%zz"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, err := parseExplainRequest(tc.ip, tc.url)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %+v, %v; want an error containing %q", in, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if in.addr.String() != tc.addr || in.path != tc.path || in.rawQuery != tc.qry {
				t.Errorf("got %s %q %q, want %s %q %q", in.addr, in.path, in.rawQuery, tc.addr, tc.path, tc.qry)
			}
		})
	}
}

// What explain says a handler answers is what the handler answers: for
// every setting that changes the answer and every kind of request, the
// explanation is held to a real ServeHTTP.
func TestExplainAnswersAsServeHTTP(t *testing.T) {
	handlers := []struct {
		name   string
		mutate func(*Handler)
	}{
		{"defaults", nil},
		{"dry run", func(h *Handler) { h.DryRun = true }},
		{"shared_cache allow", func(h *Handler) { h.SharedCache = "allow" }},
		{"unknown_country block", func(h *Handler) { h.UnknownCountry = "block" }},
		{"exempt", func(h *Handler) { h.Exempt = []string{"77.88.55.0/24"} }},
		{"exempt, shared_cache allow", func(h *Handler) { h.Exempt = []string{"77.88.55.0/24"}; h.SharedCache = "allow" }},
		{"dry run, unknown_country block", func(h *Handler) { h.DryRun = true; h.UnknownCountry = "block" }},
	}
	requests := []struct {
		name, method, ip, target string
	}{
		{"withheld post", "GET", ipRussia, "/someuser/status/123"},
		{"post withheld elsewhere", "GET", ipUS, "/someuser/status/123"},
		{"unlisted post", "GET", ipRussia, "/someuser/status/124"},
		{"throttled upload", "POST", ipRussia, "/media/upload"},
		{"ambiguous path", "GET", ipRussia, "/someuser/status/123/.."},
		{"ambiguous path elsewhere", "GET", ipUS, "/someuser/status/123/.."},
		{"unknown country", "GET", ipPrivate, "/someuser/status/123"},
		{"withheld account", "GET", ipBelarus, "/censoreduser"},
	}
	for _, hc := range handlers {
		h := newTestHandler(t, hc.mutate)
		for _, rc := range requests {
			t.Run(hc.name+", "+rc.name, func(t *testing.T) {
				in, err := parseExplainRequest(rc.ip, rc.target)
				if err != nil {
					t.Fatal(err)
				}
				a := explainHandler(h, site{}, in).Answer

				r, repl := newRequest(rc.method, rc.target, rc.ip)
				w := httptest.NewRecorder()
				next := &publicApp{}
				if err := h.ServeHTTP(w, r, next); err != nil {
					t.Fatal(err)
				}
				action, _ := repl.GetString(placeholderAction)
				if a.Action != action {
					t.Errorf("explain says action %q, the handler set %q", a.Action, action)
				}
				switch a.Answer {
				case "451", "400":
					if w.Code != a.Status || next.called {
						t.Errorf("explain says %s, the handler answered %d (app called: %v)", a.Answer, w.Code, next.called)
					}
				case "pass", "throttle":
					if !next.called || a.Status != 0 {
						t.Errorf("explain says %s (status %d), but the app was not called; the handler answered %d", a.Answer, a.Status, w.Code)
					}
				default:
					t.Errorf("answer %q", a.Answer)
				}
				if throttled := action == "throttle" && !h.DryRun; throttled != (a.Answer == "throttle") {
					t.Errorf("explain says %s, the handler's action was %s (dry run %v)", a.Answer, action, h.DryRun)
				}
				cc := w.Header().Get("Cache-Control")
				want := map[string]string{"none": "public, max-age=60", "guard": "private, max-age=60", "no-store": "no-store"}[a.SharedCache]
				if cc != want {
					t.Errorf("explain says shared cache %q, the response has Cache-Control %q", a.SharedCache, cc)
				}
			})
		}
	}
}

// publicApp is an app that lets shared caches keep its answers.
type publicApp struct{ called bool }

func (a *publicApp) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	a.called = true
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.WriteHeader(http.StatusOK)
	return nil
}

func TestExplainHandler(t *testing.T) {
	h := newTestHandler(t, nil)
	block := newTestHandler(t, func(h *Handler) { h.UnknownCountry = "block" })
	s := site{Name: "srv0 (:443) microblog.example", Server: "srv0"}
	tests := []struct {
		name    string
		h       *Handler
		ip, url string
		check   func(t *testing.T, e handlerExplanation)
	}{
		{"withheld in russia", h, ipRussia, "https://microblog.example/SomeUser/status/00123", func(t *testing.T, e handlerExplanation) {
			if e.Country != "RU" || e.Verdict != "applies" || e.Order == nil || e.Order.ID != "rkn-1" || e.Answer.Answer != "451" {
				t.Errorf("got country %q verdict %q order %+v answer %+v", e.Country, e.Verdict, e.Order, e.Answer)
			}
			if want := []string{"/someuser/status/00123"}; !reflect.DeepEqual(e.Readings, want) {
				t.Errorf("readings %q, want %q", e.Readings, want)
			}
			if want := (explainedKey{Kind: "post", Value: "00123", Template: "/{account}/status/{post}"}); !containsKey(e.Keys, want) {
				t.Errorf("keys %+v lack %+v", e.Keys, want)
			}
			if len(e.Orders) != 1 || !e.Orders[0].Applies || e.Orders[0].Order.Authority != "Roskomnadzor" || e.Orders[0].Order.Notice != "https://notice.example/rkn-1" {
				t.Errorf("orders %+v", e.Orders)
			}
		}},
		{"listed, but not in the united states", h, ipUS, "/someuser/status/123", func(t *testing.T, e handlerExplanation) {
			if e.Verdict != "listed elsewhere" || e.Order != nil || e.Answer.Answer != "pass" || e.Answer.SharedCache != "guard" {
				t.Errorf("verdict %q order %+v answer %+v", e.Verdict, e.Order, e.Answer)
			}
			if len(e.Orders) != 1 || e.Orders[0].Applies || e.Orders[0].Why != "applies in RU, not in US" {
				t.Errorf("orders %+v", e.Orders)
			}
		}},
		{"throttled", h, ipRussia, "/media/upload/photo", func(t *testing.T, e handlerExplanation) {
			if e.Answer.Answer != "throttle" || e.Answer.Rate != 64<<10 || e.Order == nil || e.Order.ID != "rkn-3" {
				t.Errorf("answer %+v order %+v", e.Answer, e.Order)
			}
		}},
		{"unlisted", h, ipRussia, "/someuser/status/124", func(t *testing.T, e handlerExplanation) {
			if e.Verdict != "unlisted" || len(e.Orders) != 0 || e.Answer.Answer != "pass" || e.Answer.SharedCache != "none" {
				t.Errorf("verdict %q orders %+v answer %+v", e.Verdict, e.Orders, e.Answer)
			}
		}},
		{"unknown country, blocked", block, ipPrivate, "/someuser/status/123", func(t *testing.T, e handlerExplanation) {
			if e.Country != "" || e.MatchedAs != "*" || e.Answer.Answer != "451" {
				t.Errorf("country %q matched as %q answer %+v", e.Country, e.MatchedAs, e.Answer)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, err := parseExplainRequest(tc.ip, tc.url)
			if err != nil {
				t.Fatal(err)
			}
			e := explainHandler(tc.h, s, in)
			if e.Site.Name != s.Name || e.Database != tc.h.GeoIPDB {
				t.Errorf("site %+v database %q, want %q and %q", e.Site, e.Database, s.Name, tc.h.GeoIPDB)
			}
			tc.check(t, e)
		})
	}
}

func containsKey(keys []explainedKey, k explainedKey) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}

// The admin API, through a real Caddy: two sites share one register, which
// refreshes every second.

const adminRegister = registerHdr +
	`admin-451,RU,post:123,block,Roskomnadzor,2-1687/2024,https://notice.example/admin-451,,,` + "\n" +
	`admin-acct,RU BY,account:censoreduser,block,Roskomnadzor,27-31-2024,,,,` + "\n" +
	`admin-de,DE,path:/hashtag/banned,block,Landgericht Berlin,27 O 123/24,,,,` + "\n" +
	`admin-slow,RU,path:/media/upload*,throttle 64KiB/s,Roskomnadzor,2021-03-10,,,,` + "\n"

func adminConfig(db, register string) string {
	return integrationGlobals + fmt.Sprintf(`
http://localhost:9080, http://localhost:9081 {
	geo_restrict {
		geoip_db %s
		register %s
		refresh 1s
		max_shrink 50%%
	}
	respond "app"
}
`, db, register)
}

const adminURL = "http://localhost:2999"

// adminGet asks the admin API, and decodes a JSON answer into v.
func adminDo(t *testing.T, tester *caddytest.Tester, method, path string, v any) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, adminURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := tester.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil && res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, body)
		}
	}
	return res.StatusCode, string(body)
}

func adminStatus(t *testing.T, tester *caddytest.Tester) statusReport {
	t.Helper()
	var s statusReport
	if code, body := adminDo(t, tester, "GET", "/geo_restrict/status", &s); code != 200 {
		t.Fatalf("status: %d %s", code, body)
	}
	if len(s.Registers) != 1 || len(s.Registers[0].Sources) != 1 {
		t.Fatalf("status has %d registers, want 1 with 1 source: %+v", len(s.Registers), s)
	}
	return s
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestAdminAPI(t *testing.T) {
	dir := t.TempDir()
	db := testDatabase(t, dir)
	reg := writeFile(t, dir, "admin.csv", adminRegister)
	tester := caddytest.NewTester(t)
	tester.InitServer(adminConfig(db, reg), "caddyfile")

	t.Run("status after a load", func(t *testing.T) {
		s := adminStatus(t, tester)
		r := s.Registers[0]
		var names []string
		for _, st := range r.Sites {
			names = append(names, st.Name)
		}
		if want := []string{"srv0 (:9080) localhost", "srv1 (:9081) localhost"}; !reflect.DeepEqual(names, want) {
			t.Errorf("sites %q, want %q", names, want)
		}
		src := r.Sources[0]
		if src.Kind != "file" || src.Location != reg || src.Version != sha256Hex(adminRegister) || src.Orders != 4 || r.Orders != 4 {
			t.Errorf("source %+v", src)
		}
		if runtime.GOOS == "linux" && r.OffHeapBytes == 0 {
			t.Error("offheap_bytes is 0: the register is not kept outside the Go heap")
		}
		if want := map[string]int{"block": 3, "throttle": 1}; !reflect.DeepEqual(src.ByAction, want) {
			t.Errorf("by action %v, want %v", src.ByAction, want)
		}
		if want := map[string]int{"RU": 3, "BY": 1, "DE": 1}; !reflect.DeepEqual(src.ByCountry, want) {
			t.Errorf("by country %v, want %v", src.ByCountry, want)
		}
		if src.Refresh != "1s" || src.Failures != 0 || src.LastError != nil || src.HeldBack != nil || src.Applied.IsZero() || src.Signed {
			t.Errorf("source %+v", src)
		}
		if len(s.Databases) != 1 || s.Databases[0].Name != db || s.Databases[0].BuildTime.IsZero() || len(s.Databases[0].Sites) != 2 {
			t.Errorf("databases %+v", s.Databases)
		}
	})

	t.Run("explain", func(t *testing.T) {
		tests := []struct {
			name, ip, url string
			verdict       string
			order         string
			answer        string
		}{
			{"withheld", ipRussia, "http://localhost:9080/someuser/status/123", "applies", "admin-451", "451"},
			{"allowed", ipUS, "/someuser/status/123", "listed elsewhere", "", "pass"},
			{"throttled", ipRussia, "/media/upload", "applies", "admin-slow", "throttle"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var e explainResult
				q := url.Values{"ip": {tc.ip}, "url": {tc.url}}
				if code, body := adminDo(t, tester, "GET", "/geo_restrict/explain?"+q.Encode(), &e); code != 200 {
					t.Fatalf("%d %s", code, body)
				}
				if len(e.Handlers) != 2 {
					t.Fatalf("%d handlers explained, want 2: %+v", len(e.Handlers), e)
				}
				for i, h := range e.Handlers {
					if want := fmt.Sprintf("srv%d", i); h.Site.Server != want || !reflect.DeepEqual(h.Site.Hosts, []string{"localhost"}) {
						t.Errorf("handler %d: site %+v, want server %s, hosts [localhost]", i, h.Site, want)
					}
					if h.Database != db || h.Verdict != tc.verdict || h.Answer.Answer != tc.answer {
						t.Errorf("handler %d: database %q verdict %q answer %+v", i, h.Database, h.Verdict, h.Answer)
					}
					if got := ""; h.Order != nil {
						got = h.Order.ID
						if got != tc.order {
							t.Errorf("handler %d: order %q, want %q", i, got, tc.order)
						}
					} else if tc.order != "" {
						t.Errorf("handler %d: no order, want %q", i, tc.order)
					}
				}
			})
		}
		for _, bad := range []struct{ query, msg string }{
			{"ip=nonsense&url=/", "is not an IP address"},
			{"ip=" + ipRussia + "&url=ftp://x/y", "want a path"},
			{"url=/", "ip: required"},
		} {
			code, body := adminDo(t, tester, "GET", "/geo_restrict/explain?"+bad.query, nil)
			if code != 400 || !strings.Contains(body, bad.msg) {
				t.Errorf("explain?%s: %d %s, want 400 with %q", bad.query, code, body, bad.msg)
			}
		}
	})

	t.Run("report", func(t *testing.T) {
		var before reportSnapshot
		if code, body := adminDo(t, tester, "GET", "/geo_restrict/report", &before); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
		for range 2 {
			if res, body := get(t, tester, "http://localhost:9080/someuser/status/123", ipRussia); res.StatusCode != 451 {
				t.Fatalf("status %d, want 451: %s", res.StatusCode, body)
			}
		}
		if res, _ := get(t, tester, "http://localhost:9081/censoreduser", ""); res.StatusCode != 200 {
			t.Fatalf("status %d from loopback, want 200", res.StatusCode)
		}
		if res, _ := get(t, tester, "http://localhost:9080/censoreduser", ipBelarus); res.StatusCode != 451 {
			t.Fatalf("status %d from Belarus, want 451", res.StatusCode)
		}
		req, _ := http.NewRequest("POST", "http://localhost:9080/media/upload", strings.NewReader("photo"))
		req.Header.Set("X-Forwarded-For", ipRussia)
		res, err := tester.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()

		var rep reportSnapshot
		if code, body := adminDo(t, tester, "GET", "/geo_restrict/report", &rep); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
		got := reportDelta(before, rep, "admin-")
		want := []reportRow{
			{OrderID: "admin-451", Country: "RU", Authority: "Roskomnadzor", Reference: "2-1687/2024", Notice: "https://notice.example/admin-451", Withheld: 2},
			{OrderID: "admin-acct", Country: "BY", Authority: "Roskomnadzor", Reference: "27-31-2024", Withheld: 1},
			{OrderID: "admin-slow", Country: "RU", Authority: "Roskomnadzor", Reference: "2021-03-10", Throttled: 1},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("report rows\n%+v\nwant\n%+v", got, want)
		}
		if rep.Since.IsZero() || rep.Until.Before(rep.Since) || rep.RowLimit != maxReportRows {
			t.Errorf("since %v until %v limit %d", rep.Since, rep.Until, rep.RowLimit)
		}

		code, body := adminDo(t, tester, "GET", "/geo_restrict/report?format=csv", nil)
		if code != 200 {
			t.Fatalf("%d %s", code, body)
		}
		recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(recs[0], reportColumns) {
			t.Errorf("CSV header %q", recs[0])
		}
		// The CSV says what the JSON said: no request came in between.
		var rows, wantCSV [][]string
		for _, rec := range recs[1:] {
			if strings.HasPrefix(rec[2], "admin-") {
				rows = append(rows, rec[2:])
			}
		}
		for _, r := range rep.Rows {
			if strings.HasPrefix(r.OrderID, "admin-") {
				wantCSV = append(wantCSV, []string{r.OrderID, r.Country, r.Authority, r.Reference, r.Notice,
					strconv.FormatUint(r.Withheld, 10), strconv.FormatUint(r.Throttled, 10)})
			}
		}
		if len(rows) != 3 || !reflect.DeepEqual(rows, wantCSV) {
			t.Errorf("CSV rows %q, want %q", rows, wantCSV)
		}
		if code, body := adminDo(t, tester, "GET", "/geo_restrict/report?format=xml", nil); code != 400 {
			t.Errorf("format=xml: %d %s, want 400", code, body)
		}
	})

	t.Run("a broken update is refused and shown", func(t *testing.T) {
		writeFile(t, dir, "admin.csv", adminRegister+"admin-bad,RU,post:9,block,Roskomnadzor,,,,2024-13-01,\n")
		var src sourceStatus
		waitFor(t, "the broken version to be refused", func() bool {
			src = adminStatus(t, tester).Registers[0].Sources[0]
			return src.Failures > 0
		})
		if src.LastError == nil || !strings.Contains(src.LastError.Error, "admin.csv: line 6: start") || src.LastError.At.IsZero() {
			t.Errorf("last error %+v, want the file, line and field", src.LastError)
		}
		if src.Version != sha256Hex(adminRegister) || src.Orders != 4 {
			t.Errorf("version %s with %d orders in force, want the old one with 4", src.Version, src.Orders)
		}
		if res, _ := get(t, tester, "http://localhost:9080/someuser/status/123", ipRussia); res.StatusCode != 451 {
			t.Errorf("status %d, want the old version's 451", res.StatusCode)
		}
	})

	t.Run("a held-back version is applied", func(t *testing.T) {
		shrunk := registerHdr + `admin-de,DE,path:/hashtag/banned,block,Landgericht Berlin,27 O 123/24,,,,` + "\n"
		writeFile(t, dir, "admin.csv", shrunk)
		var src sourceStatus
		waitFor(t, "the shrunk version to be held back", func() bool {
			src = adminStatus(t, tester).Registers[0].Sources[0]
			return src.HeldBack != nil
		})
		if src.HeldBack.Version != sha256Hex(shrunk) || !strings.Contains(src.HeldBack.Reason, "held back: it has 1 orders, 3 fewer than the 4 in force") {
			t.Errorf("held back %+v", src.HeldBack)
		}
		if src.Version != sha256Hex(adminRegister) {
			t.Errorf("version in force %s, want the old one", src.Version)
		}
		if res, _ := get(t, tester, "http://localhost:9080/someuser/status/123", ipRussia); res.StatusCode != 451 {
			t.Errorf("status %d, want the old version's 451 while the new one is held back", res.StatusCode)
		}

		if code, body := adminDo(t, tester, "GET", "/geo_restrict/apply?source="+url.QueryEscape(reg), nil); code != 405 {
			t.Errorf("GET apply: %d %s, want 405", code, body)
		}
		if code, body := adminDo(t, tester, "POST", "/geo_restrict/apply?source="+url.QueryEscape(dir+"/other.csv"), nil); code != 404 {
			t.Errorf("apply of an unknown source: %d %s, want 404", code, body)
		}
		var applied struct{ Applied []appliedVersion }
		if code, body := adminDo(t, tester, "POST", "/geo_restrict/apply?source="+url.QueryEscape(reg), &applied); code != 200 {
			t.Fatalf("apply: %d %s", code, body)
		}
		if len(applied.Applied) != 1 || applied.Applied[0].Version != sha256Hex(shrunk) {
			t.Errorf("applied %+v", applied)
		}
		src = adminStatus(t, tester).Registers[0].Sources[0]
		if src.Version != sha256Hex(shrunk) || src.Orders != 1 || src.HeldBack != nil {
			t.Errorf("after apply: version %s, %d orders, held back %+v", src.Version, src.Orders, src.HeldBack)
		}
		if want := map[string]int{"DE": 1}; !reflect.DeepEqual(src.ByCountry, want) {
			t.Errorf("by country %v, want %v", src.ByCountry, want)
		}
		if res, _ := get(t, tester, "http://localhost:9080/someuser/status/123", ipRussia); res.StatusCode != 200 {
			t.Errorf("status %d, want 200 once the new version is applied", res.StatusCode)
		}
		if code, body := adminDo(t, tester, "POST", "/geo_restrict/apply?source="+url.QueryEscape(reg), nil); code != 409 {
			t.Errorf("apply with nothing held back: %d %s, want 409", code, body)
		}
	})
}
