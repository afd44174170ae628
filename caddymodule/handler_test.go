package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/georestrict/caddy-georestrict/blocklist"
)

func newTestHandler(t *testing.T, mutate func(h *Handler)) *Handler {
	t.Helper()
	dir := t.TempDir()
	h := &Handler{
		GeoIPDB:   testDatabase(t, dir),
		Registers: registers(writeFile(t, dir, testRegCSV, testRegister)),
		BlockedBy: "https://microblog.example/transparency",
	}
	if mutate != nil {
		mutate(h)
	}
	provisionHandler(t, h)
	return h
}

func TestHandlerDecisions(t *testing.T) {
	h := newTestHandler(t, func(h *Handler) { h.Exempt = []string{"77.88.55.80/28"} })
	tests := []struct {
		name       string
		clientIP   string
		target     string
		wantStatus int
		wantAction string
		wantOrder  string
		country    string
	}{
		{"russia, listed post", "77.88.60.1", "/someuser/status/123", 451, "block", "rkn-1", "RU"},
		{"russia, listed post, IPv6", ipRussiaV6, "/someuser/status/123", 451, "block", "rkn-1", "RU"},
		{"russia, IPv4-mapped IPv6", "::ffff:77.88.60.1", "/someuser/status/123", 451, "block", "rkn-1", "RU"},
		{"russia, zoned address", "77.88.60.1%eth0", "/someuser/status/123", 451, "block", "rkn-1", "RU"},
		{"russia, trailing segments", "77.88.60.1", "/someuser/status/00123/photo/1", 451, "block", "rkn-1", "RU"},
		{"russia, listed account", "77.88.60.1", "/CensoredUser", 451, "block", "rkn-2", "RU"},
		{"belarus, listed account", ipBelarus, "/censoreduser/with_replies", 451, "block", "rkn-2", "BY"},
		{"belarus, post listed only in russia", ipBelarus, "/someuser/status/123", 200, "allow", "", "BY"},
		{"russia, other post", "77.88.60.1", "/someuser/status/1234", 200, "allow", "", "RU"},
		{"germany, listed path", ipGermany, "/hashtag/banned", 451, "block", "de-1", "DE"},
		{"united states, listed post", ipUS, "/someuser/status/123", 200, "allow", "", "US"},
		{"private address", ipPrivate, "/someuser/status/123", 200, "allow", "", ""},
		{"exempt range", ipRussia, "/someuser/status/123", 200, "exempt", "", ""},
		{"unparseable client ip", "not-an-ip", "/someuser/status/123", 200, "allow", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, repl := newRequest(http.MethodGet, tc.target, tc.clientIP)
			w := httptest.NewRecorder()
			var next nextHandler
			if err := h.ServeHTTP(w, r, &next); err != nil {
				t.Fatalf("ServeHTTP: %v", err)
			}
			if w.Code != tc.wantStatus {
				t.Errorf("status = %d, want %d", w.Code, tc.wantStatus)
			}
			if passed := next.called == 1; passed != (tc.wantStatus == 200) {
				t.Errorf("next called %d times, want the request passed on: %v", next.called, tc.wantStatus == 200)
			}
			if got, _ := repl.GetString(placeholderAction); got != tc.wantAction {
				t.Errorf("{%s} = %q, want %q", placeholderAction, got, tc.wantAction)
			}
			if got, _ := repl.GetString(placeholderOrderID); got != tc.wantOrder {
				t.Errorf("{%s} = %q, want %q", placeholderOrderID, got, tc.wantOrder)
			}
			if got, _ := repl.GetString(placeholderCountry); got != tc.country {
				t.Errorf("{%s} = %q, want %q", placeholderCountry, got, tc.country)
			}
			// Every placeholder is set on every request, so a config that
			// uses one never sees its literal text.
			for _, p := range []string{placeholderCountry, placeholderAction, placeholderOrderID, placeholderAuthority, placeholderDryRun} {
				if _, ok := repl.Get(p); !ok {
					t.Errorf("{%s} is not set", p)
				}
			}
			if got, _ := repl.GetString(placeholderDryRun); got != "false" {
				t.Errorf("{%s} = %q, want false", placeholderDryRun, got)
			}
		})
	}
}

// TestHandlerAllowPathAllocatesNothing: deciding to let a request for
// something no order names pass, and setting every placeholder for it, costs
// no allocation. (A request for something an order names elsewhere gets the
// shared-cache guard, which does.)
func TestHandlerAllowPathAllocatesNothing(t *testing.T) {
	h := newTestHandler(t, func(h *Handler) { h.Exempt = []string{"81.2.69.0/24"} })
	for _, tc := range []struct{ name, ip, target string }{
		{"country without orders", ipUS, "/someuser/status/124"},
		{"country with orders", ipRussia, "/someuser/status/124"},
		{"unknown country", ipPrivate, "/someuser/status/124"},
		{"exempt", "81.2.69.1", "/someuser/status/124"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fresh := freshRequests(http.MethodGet, tc.target, tc.ip)
			w := discardWriter{header: http.Header{}}
			caddy := testing.AllocsPerRun(100, func() { _ = fresh() })
			served := testing.AllocsPerRun(100, func() { _ = h.ServeHTTP(w, fresh(), noopHandler{}) })
			if served != caddy {
				t.Errorf("%v allocations per request, Caddy's own %v of them", served, caddy)
			}
		})
	}
}

func TestHandlerWithholdHeadersAndBodies(t *testing.T) {
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	h := newTestHandler(t, nil)
	tests := []struct {
		name        string
		method      string
		accept      string
		language    string // Accept-Language
		contentType string
		wantLang    string
		contains    []string
	}{
		{"browser", "GET", browser, "", "text/html; charset=utf-8", "en",
			[]string{`<html lang="en">`, "<title>451 Unavailable For Legal Reasons</title>", "This post is withheld in your country",
				"visitors from your country (Russia)", "It is still available elsewhere.", "<dd>Russia</dd>", "Roskomnadzor", "2-1687/2024",
				`href="https://notice.example/rkn-1"`, "Prohibited information.", "post 123", "rkn-1", `name="viewport"`}},
		{"browser in russian", "GET", browser, "ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "text/html; charset=utf-8", "ru",
			[]string{`<html lang="ru">`, "Эта публикация недоступна в вашей стране", "из вашей страны (Россия)", "В других странах она доступна.",
				"<dd>Россия</dd>", "Орган, принявший решение", "публикация 123",
				// The register's own text is shown as written.
				"Roskomnadzor", "2-1687/2024", "Prohibited information."}},
		{"browser preferring english by quality", "GET", browser, "ru;q=0.5, en", "text/html; charset=utf-8", "en",
			[]string{`<html lang="en">`, "This post is withheld"}},
		{"browser in german", "GET", browser, "de-DE,de;q=0.9", "text/html; charset=utf-8", "en",
			[]string{`<html lang="en">`, "(Russia)"}},
		{"api client", "GET", "application/json", "", "application/json", "en",
			[]string{`"status":451`, `"id":"rkn-1"`, `"country":"RU"`, `"country_name":"Russia"`, `"authority":"Roskomnadzor"`,
				`"reference":"2-1687/2024"`, `"notice":"https://notice.example/rkn-1"`}},
		{"api client in russian", "GET", "application/json", "ru", "application/json", "ru",
			[]string{`"country":"RU"`, `"country_name":"Россия"`, `"target":"post:123"`}},
		{"curl", "GET", "*/*", "", "text/plain; charset=utf-8", "en",
			[]string{"451 Unavailable For Legal Reasons", "This post is withheld in your country", "Withheld: post 123",
				"Country: Russia (RU)", "Demanded by: Roskomnadzor", "Decision: 2-1687/2024", "Public notice: https://notice.example/rkn-1",
				"Reason: Prohibited information."}},
		{"curl in russian", "GET", "*/*", "ru", "text/plain; charset=utf-8", "ru",
			[]string{"Эта публикация недоступна в вашей стране", "Страна: Россия (RU)", "Орган, принявший решение: Roskomnadzor", "Предписание: rkn-1"}},
		{"no accept header", "GET", "", "", "text/plain; charset=utf-8", "en", []string{"Order: rkn-1"}},
		{"json preferred by quality", "GET", "text/html;q=0.5, application/json", "", "application/json", "en", []string{`"id":"rkn-1"`}},
		{"head", "HEAD", "text/html", "", "text/html; charset=utf-8", "en", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newRequest(tc.method, "/someuser/status/123", ipRussia)
			if tc.accept != "" {
				r.Header.Set("Accept", tc.accept)
			}
			if tc.language != "" {
				r.Header.Set("Accept-Language", tc.language)
			}
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, r, &nextHandler{}); err != nil {
				t.Fatal(err)
			}
			res := w.Result()
			if res.StatusCode != http.StatusUnavailableForLegalReasons {
				t.Fatalf("status = %d, want 451", res.StatusCode)
			}
			for k, want := range map[string]string{
				"Link":             `<https://microblog.example/transparency>; rel="blocked-by"`,
				"Cache-Control":    "no-store",
				"Content-Type":     tc.contentType,
				"Content-Language": tc.wantLang,
				"Vary":             "Accept, Accept-Language",
			} {
				if got := res.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			body := w.Body.String()
			if tc.method == http.MethodHead && body != "" {
				t.Errorf("HEAD answered with a body: %q", body)
			}
			for _, s := range tc.contains {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q:\n%s", s, body)
				}
			}
			if strings.HasPrefix(tc.contentType, "application/json") {
				var v map[string]any
				if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
					t.Errorf("body is not JSON: %v", err)
				}
			}
		})
	}
}

// TestHandlerPageSaysWhatIsWithheld renders the built-in answer for every
// kind of target, in both languages, for a known and an unknown country and
// an order that applies everywhere.
func TestHandlerPageSaysWhatIsWithheld(t *testing.T) {
	dir := t.TempDir()
	reg := registerHdr +
		"p-1,RU,post:123,block,,,,,,\n" +
		"a-1,RU,account:censoreduser,block,,,,,,\n" +
		"x-1,RU,path:/hashtag/banned,block,,,,,,\n" +
		"m-1,RU,path:/media/private*,block,,,,,,\n" +
		"w-1,*,post:42,block,,,,,,2031-03-05\n"
	h := &Handler{GeoIPDB: testDatabase(t, dir), Registers: registers(writeFile(t, dir, "r.csv", reg)), UnknownCountry: "block"}
	provisionHandler(t, h)

	tests := []struct {
		name, clientIP, target, language string
		contains                         []string
	}{
		{"post", ipRussia, "/someuser/status/123", "en", []string{"This post is withheld in your country", "this post is not shown to visitors from your country (Russia)", "post 123"}},
		{"account", ipRussia, "/CensoredUser/media", "en", []string{"This account is withheld in your country", "account @censoreduser"}},
		{"page", ipRussia, "/hashtag/banned", "en", []string{"This page is withheld in your country", "page /hashtag/banned"}},
		{"pages under a prefix", ipRussia, "/media/private/1.jpg", "en", []string{"This page is withheld", "pages starting with /media/private"}},
		{"unknown country", ipPrivate, "/someuser/status/123", "en", []string{"This post is withheld where you are", "the country you are visiting from cannot be determined"}},
		{"everywhere", ipUS, "/u/status/42", "en", []string{"This post is withheld in your country", "not shown in any country", "Until", "5 March 2031"}},
		{"post, russian", ipRussia, "/someuser/status/123", "ru", []string{"Эта публикация недоступна в вашей стране", "Доступ к ней", "(Россия)", "В других странах она доступна", "публикация 123"}},
		{"account, russian", ipRussia, "/censoreduser", "ru", []string{"Этот аккаунт недоступен в вашей стране", "Доступ к нему", "(Россия)", "он доступен", "аккаунт @censoreduser"}},
		{"page, russian", ipRussia, "/hashtag/banned", "ru", []string{"Эта страница недоступна в вашей стране", "страница /hashtag/banned"}},
		{"pages under a prefix, russian", ipRussia, "/media/private/1.jpg", "ru", []string{"страницы, начинающиеся с /media/private"}},
		{"unknown country, russian", ipUnlisted, "/someuser/status/123", "ru", []string{"недоступна в вашем регионе", "определить не удалось"}},
		{"everywhere, russian", ipUS, "/u/status/42", "ru", []string{"во всех странах", "США", "Действует до", "5 марта 2031 г."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, accept := range []string{"text/html", "text/plain"} {
				r, _ := newRequest("GET", tc.target, tc.clientIP)
				r.Header.Set("Accept", accept)
				r.Header.Set("Accept-Language", tc.language)
				w := httptest.NewRecorder()
				if err := h.ServeHTTP(w, r, &nextHandler{}); err != nil {
					t.Fatal(err)
				}
				if w.Code != 451 {
					t.Fatalf("%s: status %d, want 451", accept, w.Code)
				}
				body := w.Body.String()
				for _, s := range tc.contains {
					if !strings.Contains(body, s) {
						t.Errorf("%s: body lacks %q:\n%s", accept, s, body)
					}
				}
				if strings.Contains(body, "elsewhere") && strings.Contains(body, "any country") {
					t.Errorf("%s: an order for everywhere says the content is available elsewhere:\n%s", accept, body)
				}
			}
		})
	}
}

func TestNegotiateLanguage(t *testing.T) {
	tests := []struct {
		header, want string
	}{
		{"", "en"},
		{"ru", "ru"},
		{"ru-RU", "ru"},
		{"RU-ru", "ru"},
		{"ru_RU", "ru"},
		{"en-GB,en;q=0.9", "en"},
		{"ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "ru"},
		{"en;q=0.7, ru;q=0.8", "ru"},
		{"ru;q=0.5, en", "en"},
		{"ru, en", "ru"},
		{"en, ru", "en"},
		{"de-DE, de;q=0.9", "en"},
		{"de, ru;q=0.3", "ru"},
		{"uk, be;q=0.9", "en"},
		{"ru;q=0", "en"},
		{"ru;q=0.2, *;q=0.5", "en"},
		{"*;q=0.1, ru;q=0.5", "ru"},
		{"ru;q=bogus, en;q=0.1", "ru"},
		{" ru ; q=0.9 , en ; q=0.8 ", "ru"},
	}
	for _, tc := range tests {
		t.Run(tc.header, func(t *testing.T) {
			if got := negotiateLanguage(tc.header).code; got != tc.want {
				t.Errorf("negotiateLanguage(%q) = %s, want %s", tc.header, got, tc.want)
			}
		})
	}
}

func TestHandlerWithoutBlockedBySendsNoLink(t *testing.T) {
	h := newTestHandler(t, func(h *Handler) { h.BlockedBy = "" })
	r, _ := newRequest("GET", "/someuser/status/123", ipRussia)
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, &nextHandler{}); err != nil {
		t.Fatal(err)
	}
	if w.Code != 451 {
		t.Fatalf("status = %d, want 451", w.Code)
	}
	if got := w.Header().Values("Link"); len(got) != 0 {
		t.Errorf("Link = %q, want none", got)
	}
}

func TestHandlerPageEscapesRegisterText(t *testing.T) {
	dir := t.TempDir()
	reg := registerHdr + `x-1,RU,post:1,block,<script>alert(1)</script>,,,"<img src=x onerror=alert(1)>",,` + "\n"
	h := &Handler{GeoIPDB: testDatabase(t, dir), Registers: registers(writeFile(t, dir, "r.csv", reg))}
	provisionHandler(t, h)
	r, _ := newRequest("GET", "/u/status/1", ipRussia)
	r.Header.Set("Accept", "text/html")
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, &nextHandler{}); err != nil {
		t.Fatal(err)
	}
	if body := w.Body.String(); strings.Contains(body, "<script>") || strings.Contains(body, "<img") {
		t.Errorf("page does not escape register text:\n%s", body)
	}
}

func TestHandlerCustomPage(t *testing.T) {
	dir := t.TempDir()
	page := writeFile(t, dir, "451.html", `<p>{{.OrderID}} for {{.Country}} by {{.Authority}}</p>`)
	h := newTestHandler(t, func(h *Handler) { h.Page = page })
	r, _ := newRequest("GET", "/someuser/status/123", ipRussia)
	r.Header.Set("Accept", "text/html")
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, &nextHandler{}); err != nil {
		t.Fatal(err)
	}
	if got, want := w.Body.String(), "<p>rkn-1 for RU by Roskomnadzor</p>"; got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
}

func TestHandlerCustomPageGetsTheNewFields(t *testing.T) {
	dir := t.TempDir()
	page := writeFile(t, dir, "451.html", `<p lang="{{.Language}}">{{.Kind}} withheld in {{.CountryName}}</p>`)
	h := newTestHandler(t, func(h *Handler) { h.Page = page })
	for _, tc := range []struct{ language, want string }{
		{"", `<p lang="en">post withheld in Russia</p>`},
		{"ru", `<p lang="ru">post withheld in Россия</p>`},
	} {
		r, _ := newRequest("GET", "/someuser/status/123", ipRussia)
		r.Header.Set("Accept", "text/html")
		r.Header.Set("Accept-Language", tc.language)
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r, &nextHandler{}); err != nil {
			t.Fatal(err)
		}
		if got := w.Body.String(); got != tc.want {
			t.Errorf("Accept-Language %q: body = %q, want %q", tc.language, got, tc.want)
		}
		if got := w.Header().Values("Content-Language"); len(got) != 0 {
			t.Errorf("Content-Language = %q for a custom page, want none: its language is its author's", got)
		}
	}
}

func TestHandlerDryRun(t *testing.T) {
	h := newTestHandler(t, func(h *Handler) { h.DryRun = true })
	core, logs := observer.New(zap.InfoLevel)
	h.logger = zap.New(core)

	r, repl := newRequest("GET", "/someuser/status/123", ipRussia)
	w := httptest.NewRecorder()
	var next nextHandler
	if err := h.ServeHTTP(w, r, &next); err != nil {
		t.Fatal(err)
	}
	if w.Code != 200 || next.called != 1 {
		t.Fatalf("dry run: status %d, next called %d times; want 200 and passed on", w.Code, next.called)
	}
	if got, _ := repl.GetString(placeholderAction); got != "block" {
		t.Errorf("action = %q, want block", got)
	}
	if got, ok := repl.Get(placeholderDryRun); !ok || got != true {
		t.Errorf("dry_run placeholder = %v, want true", got)
	}
	if n := logs.FilterMessage("request would be withheld (dry run)").Len(); n != 1 {
		t.Errorf("logged %d dry-run lines, want 1: %v", n, logs.All())
	}
	if got := testutil.ToFloat64(h.metrics.enforcedVec.WithLabelValues("RU", "block", "true")); got != 1 {
		t.Errorf("enforced{RU,block,dry_run=true} = %v, want 1", got)
	}
}

func TestHandlerUnknownCountry(t *testing.T) {
	tests := []struct {
		policy     string
		target     string
		wantStatus int
	}{
		{"allow", "/someuser/status/123", 200},
		{"block", "/someuser/status/123", 451},
		{"block", "/hashtag/banned", 451},
		{"block", "/someuser/status/124", 200},
	}
	for _, tc := range tests {
		t.Run(tc.policy+" "+tc.target, func(t *testing.T) {
			h := newTestHandler(t, func(h *Handler) { h.UnknownCountry = tc.policy })
			for _, ip := range []string{ipPrivate, ipUnlisted} {
				r, _ := newRequest("GET", tc.target, ip)
				w := httptest.NewRecorder()
				if err := h.ServeHTTP(w, r, &nextHandler{}); err != nil {
					t.Fatal(err)
				}
				if w.Code != tc.wantStatus {
					t.Errorf("%s: status = %d, want %d", ip, w.Code, tc.wantStatus)
				}
			}
		})
	}
}

func TestHandlerLogLine(t *testing.T) {
	for _, logIP := range []bool{false, true} {
		for _, accessLog := range []bool{false, true} {
			t.Run(fmt.Sprintf("log_client_ip=%v,access_log=%v", logIP, accessLog), func(t *testing.T) {
				h := newTestHandler(t, func(h *Handler) { h.LogClientIP = logIP })
				core, logs := observer.New(zap.InfoLevel)
				h.logger = zap.New(core)
				srv := &caddyhttp.Server{}
				if accessLog {
					srv.Logs = &caddyhttp.ServerLogConfig{}
				}
				var withheld *caddy.Replacer
				for _, target := range []string{"/someuser/status/123", "/someuser/status/9"} {
					r, repl := newRequest("GET", target, ipRussia)
					r = r.WithContext(context.WithValue(r.Context(), caddyhttp.ServerCtxKey, srv))
					if err := h.ServeHTTP(httptest.NewRecorder(), r, &nextHandler{}); err != nil {
						t.Fatal(err)
					}
					if withheld == nil {
						withheld = repl
					}
				}
				requestID, _ := withheld.GetString("http.request.uuid") // made by the handler, or now
				if logs.Len() != 1 {
					t.Fatalf("logged %d lines for one enforced and one allowed request, want 1: %v", logs.Len(), logs.All())
				}
				fields := logs.All()[0].ContextMap()
				for k, want := range map[string]any{"order": "rkn-1", "country": "RU", "action": "block", "path": "/someuser/status/123",
					"reference": "2-1687/2024"} {
					if fields[k] != want {
						t.Errorf("field %s = %v, want %v", k, fields[k], want)
					}
				}
				// With an access log, the line carries the request's uuid,
				// which the access log carries too; without, no id is made.
				if id, has := fields["request_id"]; has != accessLog || (accessLog && (requestID == "" || id != requestID)) {
					t.Errorf("request_id = %v (present: %v), the request's uuid %q; want it exactly when there is an access log", id, has, requestID)
				}
				if _, has := fields["client_ip"]; has != logIP {
					t.Errorf("client_ip logged: %v, want %v", has, logIP)
				}
			})
		}
	}
}

func TestHandlerMetrics(t *testing.T) {
	h := newTestHandler(t, func(h *Handler) { h.Exempt = []string{"81.2.69.0/24"} })
	dry := newTestHandler(t, func(h *Handler) { h.DryRun = true })
	for _, req := range []struct {
		h          *Handler
		ip, target string
	}{
		{h, ipRussia, "/someuser/status/123"},
		{h, ipRussia, "/someuser/status/123"},
		{h, ipRussia, "/someuser/status/9"},
		{h, ipUS, "/someuser/status/123"},
		{h, "81.2.69.1", "/someuser/status/123"},
		{dry, ipRussia, "/someuser/status/123"},
	} {
		r, _ := newRequest("GET", req.target, req.ip)
		if err := req.h.ServeHTTP(httptest.NewRecorder(), r, &nextHandler{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"requests{allowed}", testutil.ToFloat64(h.metrics.allowed), 2},
		{"requests{exempt}", testutil.ToFloat64(h.metrics.exempt), 1},
		{"requests{enforced}", testutil.ToFloat64(h.metrics.requests.WithLabelValues("enforced")), 2},
		{"requests{enforced}, dry run", testutil.ToFloat64(dry.metrics.requests.WithLabelValues("enforced")), 0},
		{"requests{dry_run}, dry run", testutil.ToFloat64(dry.metrics.requests.WithLabelValues("dry_run")), 1},
		{"enforced{RU,block,false}", testutil.ToFloat64(h.metrics.enforcedVec.WithLabelValues("RU", "block", "false")), 2},
		{"enforced{RU,block,true}, dry run", testutil.ToFloat64(dry.metrics.enforcedVec.WithLabelValues("RU", "block", "true")), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	want := fmt.Sprintf(`
# HELP caddy_georestrict_register_orders Orders in force (inside their start and end) in the loaded registers, by register files, hosts, dry run and action.
# TYPE caddy_georestrict_register_orders gauge
caddy_georestrict_register_orders{action="block",dry_run="false",hosts="",registers=%[1]q} 3
caddy_georestrict_register_orders{action="throttle",dry_run="false",hosts="",registers=%[1]q} 1
`, h.Registers[0].Path)
	if err := testutil.CollectAndCompare(h.metrics.orders, strings.NewReader(want), "caddy_georestrict_register_orders"); err != nil {
		t.Error(err)
	}
}

// TestRegisterOrdersMetric checks that caddy_georestrict_register_orders
// counts what the handlers of a config enforce now: orders inside their time
// window, separately for handlers whose hosts keep other orders of the same
// files, and separately for dry runs.
func TestRegisterOrdersMetric(t *testing.T) {
	dir := t.TempDir()
	db := testDatabase(t, dir)
	reg := writeFile(t, dir, "timed.csv", registerHdr+
		"always,RU,post:1,block,,,,,,\n"+
		"expired,RU,post:2,block,,,,,2020-01-01,2021-01-01\n"+
		"future,RU,post:3,block,,,,,2999-01-01,\n"+
		"current,RU,post:4,block,,,,,2020-01-01,9999-12-31\n"+
		"slow,RU,path:/media/*,throttle 64KiB/s,,,,,2020-01-01,\n"+
		"own-host,RU,https://microblog.example/u/status/5,block,,,,,,\n"+
		"other-host,RU,https://other.example/u/status/6,block,,,,,,\n")

	ctx := newTestContext(t)
	handlers := []*Handler{
		{GeoIPDB: db, Registers: registers(reg)},
		{GeoIPDB: db, Registers: registers(reg)},
		{GeoIPDB: db, Registers: registers(reg), Hosts: []string{"Microblog.example"}},
		{GeoIPDB: db, Registers: registers(reg), DryRun: true},
	}
	for _, h := range handlers {
		if err := h.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Cleanup() })
	}
	if handlers[0].metrics.orders != handlers[3].metrics.orders {
		t.Fatal("handlers of one config do not share the collector")
	}
	// Of seven orders, expired and future are not in force now, and
	// other-host is skipped where hosts are set.
	want := fmt.Sprintf(`
# HELP caddy_georestrict_register_orders Orders in force (inside their start and end) in the loaded registers, by register files, hosts, dry run and action.
# TYPE caddy_georestrict_register_orders gauge
caddy_georestrict_register_orders{action="block",dry_run="false",hosts="",registers=%[1]q} 4
caddy_georestrict_register_orders{action="throttle",dry_run="false",hosts="",registers=%[1]q} 1
caddy_georestrict_register_orders{action="block",dry_run="false",hosts="microblog.example",registers=%[1]q} 3
caddy_georestrict_register_orders{action="throttle",dry_run="false",hosts="microblog.example",registers=%[1]q} 1
caddy_georestrict_register_orders{action="block",dry_run="true",hosts="",registers=%[1]q} 4
caddy_georestrict_register_orders{action="throttle",dry_run="true",hosts="",registers=%[1]q} 1
`, reg)
	if err := testutil.CollectAndCompare(handlers[0].metrics.orders, strings.NewReader(want), "caddy_georestrict_register_orders"); err != nil {
		t.Error(err)
	}
	// The register's memory outside the heap: once per register, however many
	// handlers enforce it (the dry run shares the first two handlers').
	if runtime.GOOS == "linux" {
		all := handlers[0].live.register().Stats().OffHeap
		own := handlers[2].live.register().Stats().OffHeap
		if all == 0 || own == 0 {
			t.Fatalf("registers kept outside the heap: %d and %d bytes", all, own)
		}
		want := fmt.Sprintf(`
# HELP caddy_georestrict_register_offheap_bytes Memory the loaded registers keep outside the Go heap, by register files and hosts.
# TYPE caddy_georestrict_register_offheap_bytes gauge
caddy_georestrict_register_offheap_bytes{hosts="",registers=%[1]q} %[2]d
caddy_georestrict_register_offheap_bytes{hosts="microblog.example",registers=%[1]q} %[3]d
`, reg, all, own)
		if err := testutil.CollectAndCompare(handlers[0].metrics.orders, strings.NewReader(want), "caddy_georestrict_register_offheap_bytes"); err != nil {
			t.Error(err)
		}
	}

	// The count follows the clock, not the last reload.
	for _, tc := range []struct {
		name string
		at   time.Time
		want [3]int
	}{
		{"before every window", time.Date(2019, 6, 1, 0, 0, 0, 0, time.UTC), [3]int{0, 3, 0}},
		{"inside the expired window", time.Date(2020, 6, 1, 0, 0, 0, 0, time.UTC), [3]int{0, 5, 1}},
		{"the instant the expired one ends", time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC), [3]int{0, 4, 1}},
		{"after the future one starts", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), [3]int{0, 5, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := handlers[0].live.register().InForce(tc.at)
			if got[blocklist.ActionBlock] != tc.want[blocklist.ActionBlock] || got[blocklist.ActionThrottle] != tc.want[blocklist.ActionThrottle] {
				t.Errorf("in force at %s: %d blocks, %d throttles; want %d, %d", tc.at.Format(time.DateOnly),
					got[blocklist.ActionBlock], got[blocklist.ActionThrottle], tc.want[blocklist.ActionBlock], tc.want[blocklist.ActionThrottle])
			}
		})
	}
}

func TestHandlerProvisionErrors(t *testing.T) {
	dir := t.TempDir()
	db := testDatabase(t, dir)
	good := writeFile(t, dir, "good.csv", testRegister)
	typo := writeFile(t, dir, "typo.csv", registerHdr+"a,RU,post:1,block,,,,,,\nb,RX,post:2,block,,,,,,\n")
	dup := writeFile(t, dir, "dup.csv", registerHdr+"rkn-1,RU,post:9,block,,,,,,\n")
	corrupt := writeFile(t, dir, "corrupt.mmdb", "not a database")
	badPage := writeFile(t, dir, "bad.html", "{{.Nope")
	failingPage := writeFile(t, dir, "failing.html", "<p>{{.OrderID}} {{.Nope}}</p>")
	nilPage := writeFile(t, dir, "nil.html", `{{template "missing" .}}`)

	tests := []struct {
		name string
		h    Handler
		want []string
	}{
		{"register typo names file, line and field", Handler{GeoIPDB: db, Registers: registers(typo)}, []string{"typo.csv", "line 3", "countries", `"RX"`}},
		{"duplicate id across registers", Handler{GeoIPDB: db, Registers: registers(good, dup)}, []string{"rkn-1", "dup.csv", "good.csv"}},
		{"missing register", Handler{GeoIPDB: db, Registers: registers(dir + "/absent.csv")}, []string{"absent.csv"}},
		{"missing database", Handler{GeoIPDB: dir + "/absent.mmdb", Registers: registers(good)}, []string{"absent.mmdb"}},
		{"corrupt database", Handler{GeoIPDB: corrupt, Registers: registers(good)}, []string{"corrupt.mmdb"}},
		{"bad exempt range", Handler{GeoIPDB: db, Registers: registers(good), Exempt: []string{"10.0.0.0/33"}}, []string{"exempt", "10.0.0.0/33"}},
		{"bad page template", Handler{GeoIPDB: db, Registers: registers(good), Page: badPage}, []string{"page", "bad.html"}},
		{"bad pattern", Handler{GeoIPDB: db, Registers: registers(good), Patterns: []string{"/status/post"}}, []string{"patterns"}},
		{"page that fails when rendered", Handler{GeoIPDB: db, Registers: registers(good), Page: failingPage}, []string{"page", "failing.html", "Nope"}},
		{"page that calls a missing template", Handler{GeoIPDB: db, Registers: registers(good), Page: nilPage}, []string{"page", "nil.html", "missing"}},
		{"missing page", Handler{GeoIPDB: db, Registers: registers(good), Page: dir + "/absent.html"}, []string{"page", "absent.html"}},
		{"blocked_by that breaks the Link header", Handler{GeoIPDB: db, Registers: registers(good), BlockedBy: "https://ops.example/a>b"}, []string{"blocked_by", "percent-encode", "%3E"}},
		{"hosts with a scheme", Handler{GeoIPDB: db, Registers: registers(good), Hosts: []string{"https://blog.example.net"}}, []string{"hosts", "is a URL", "blog.example.net"}},
		{"hosts with a port", Handler{GeoIPDB: db, Registers: registers(good), Hosts: []string{"blog.example.net:443"}}, []string{"hosts", "port"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h
			err := h.Provision(newTestContext(t))
			_ = h.Cleanup()
			if err == nil {
				t.Fatal("Provision succeeded, want an error")
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
}

func TestHandlerValidate(t *testing.T) {
	tests := []struct {
		name string
		h    Handler
		want string
	}{
		{"no register", Handler{}, "registers"},
		{"unknown_country", Handler{Registers: registers("r.csv"), UnknownCountry: "deny"}, "unknown_country"},
		{"relative blocked_by", Handler{Registers: registers("r.csv"), BlockedBy: "/transparency"}, "blocked_by"},
		{"blocked_by not http", Handler{Registers: registers("r.csv"), BlockedBy: "javascript:alert(1)"}, "blocked_by"},
		{"blocked_by with a space", Handler{Registers: registers("r.csv"), BlockedBy: "https://ops.example/a b"}, "blocked_by"},
		{"hosts with a path", Handler{Registers: registers("r.csv"), Hosts: []string{"blog.example.net/"}}, "hosts"},
		{"exempt", Handler{Registers: registers("r.csv"), Exempt: []string{"10.0.0.0/8", "10.0.0.300"}}, "exempt"},
		{"negative throttle_burst", Handler{Registers: registers("r.csv"), ThrottleBurst: -1}, "throttle_burst"},
		{"bad pattern", Handler{Registers: registers("r.csv"), Patterns: []string{"/status/post"}}, "patterns"},
		{"missing page", Handler{Registers: registers("r.csv"), Page: "/nonexistent/451.html"}, "page"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.h.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error about %s", err, tc.want)
			}
		})
	}
	ok := Handler{Registers: registers("r.csv"), UnknownCountry: "block", BlockedBy: "https://ops.example/"}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate() of a good config = %v", err)
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		accept string
		want   format
	}{
		{"", formatText},
		{"*/*", formatText},
		{"text/plain", formatText},
		{"text/html", formatHTML},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8", formatHTML},
		{"application/json", formatJSON},
		{"application/problem+json", formatJSON},
		{"application/json, text/html", formatHTML},
		{"application/json, text/html;q=0.9", formatJSON},
		{"text/html;q=0, application/json;q=0.1", formatJSON},
		{"image/png", formatText},
		{"TEXT/HTML; Q=0.5", formatHTML},
	}
	for _, tc := range tests {
		t.Run(tc.accept, func(t *testing.T) {
			if got := negotiate(tc.accept); got != tc.want {
				t.Errorf("negotiate(%q) = %v, want %v", tc.accept, got, tc.want)
			}
		})
	}
}

func TestHandlerOrdersForEverywhereCoverUnknownCountries(t *testing.T) {
	dir := t.TempDir()
	reg := registerHdr + "global-1,*,post:42,block,Court of Justice,C-1/24,,,,\n"
	h := &Handler{GeoIPDB: testDatabase(t, dir), Registers: registers(writeFile(t, dir, "r.csv", reg))}
	provisionHandler(t, h)
	for _, ip := range []string{ipPrivate, ipUnlisted, ipUS, ipRussia} {
		r, _ := newRequest("GET", "/u/status/42", ip)
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r, &nextHandler{}); err != nil {
			t.Fatal(err)
		}
		if w.Code != 451 {
			t.Errorf("%s: status %d, want 451 for an order that applies everywhere", ip, w.Code)
		}
	}
}
