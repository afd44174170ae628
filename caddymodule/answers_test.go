package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/georestrict/caddy-georestrict/blocklist"
)

// withheld asks h for target from clientIP with the given Accept and
// Accept-Language, and returns the recorded answer.
func withheld(t *testing.T, h *Handler, target, clientIP, accept, language string) *httptest.ResponseRecorder {
	t.Helper()
	r, _ := newRequest(http.MethodGet, target, clientIP)
	r.Header.Set("Accept", accept)
	r.Header.Set("Accept-Language", language)
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, &nextHandler{}); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestAnswersAreWhatRenderingGives: an answer from the cache is, byte for
// byte, the answer rendered afresh for that very request, in every format
// and language, for the first request and the ones after it; the JSON
// answer, whose text holds the request path, is spliced around it for any
// path, including ones that JSON must escape.
func TestAnswersAreWhatRenderingGives(t *testing.T) {
	h := newTestHandler(t, nil)
	reg := h.live.register()
	paths := []string{
		"/someuser/status/123",
		"/someone_else/status/123",
		`/a%22b%5Cc/status/123`,                 // a"b\c
		"/%3Cscript%3E&amp;/status/123",         // <script>&amp;
		"/%D0%BF%D0%BE%D1%81%D1%82/status/123",  // Cyrillic
		"/%E2%80%A8line%E2%80%A9sep/status/123", // U+2028, U+2029: escaped by encoding/json
	}
	for _, accept := range []string{"", "text/html", "application/json"} {
		for _, language := range []string{"", "ru"} {
			for _, target := range paths {
				for round := range 2 {
					name := accept + "|" + language + "|" + target + "|" + strconv.Itoa(round)
					w := withheld(t, h, target, ipRussia, accept, language)
					if w.Code != http.StatusUnavailableForLegalReasons {
						t.Fatalf("%s: status %d, want 451", name, w.Code)
					}
					r := httptest.NewRequest(http.MethodGet, target, nil)
					f, lang := negotiate(accept), negotiateLanguage(language)
					o, v := reg.Match("RU", r.URL.EscapedPath(), "", time.Time{})
					if v != blocklist.Applies {
						t.Fatalf("%s: the register says %v", name, v)
					}
					want, contentType, contentLanguage := h.renderBody(&o, h.notice(&o, "RU", lang, r.URL.Path), f, lang)
					if got := w.Body.String(); got != string(want) {
						t.Errorf("%s: body\n%s\nwant\n%s", name, got, want)
					}
					hdr := w.Header()
					if hdr.Get("Content-Type") != contentType || hdr.Get("Content-Language") != contentLanguage ||
						hdr.Get("Content-Length") != strconv.Itoa(len(want)) {
						t.Errorf("%s: header %v; want Content-Type %q, Content-Language %q, Content-Length %d",
							name, hdr, contentType, contentLanguage, len(want))
					}
					if f == formatJSON {
						var answer struct{ Order Notice }
						if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil || answer.Order.Path != r.URL.Path {
							t.Errorf("%s: JSON path %q (%v), want %q", name, answer.Order.Path, err, r.URL.Path)
						}
					}
				}
			}
		}
	}
}

// TestAnswerHeadersAreTheResponsesOwn: a handler after this one that edits
// a header value in place (as Caddy's `header` directive does for
// replacements) edits that response only, never the answers that follow.
func TestAnswerHeadersAreTheResponsesOwn(t *testing.T) {
	h := newTestHandler(t, nil)
	first := withheld(t, h, "/someuser/status/123", ipRussia, "", "")
	for _, values := range first.Header() {
		for i := range values {
			values[i] = "edited"
		}
	}
	second := withheld(t, h, "/someuser/status/123", ipRussia, "", "")
	for name, values := range second.Header() {
		for _, v := range values {
			if v == "edited" {
				t.Errorf("%s: %q leaked from the response before", name, v)
			}
		}
	}
	if second.Header().Get("Cache-Control") != "no-store" || second.Header().Get("Link") == "" {
		t.Errorf("second answer's header: %v", second.Header())
	}
}

// TestAnswersFollowTheRegister: when a new version of the register is put in
// force, the next answer is rendered from it, though the order keeps its id
// and the answer was kept.
func TestAnswersFollowTheRegister(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, testRegCSV, testRegister)
	h := &Handler{GeoIPDB: testDatabase(t, dir), Registers: registers(path)}
	provisionHandler(t, h)
	for range 2 {
		if w := withheld(t, h, "/someuser/status/123", ipRussia, "", ""); !strings.Contains(w.Body.String(), "Roskomnadzor") {
			t.Fatalf("before: %s", w.Body)
		}
	}
	replaceFile(t, path, []byte(strings.Replace(testRegister, "Roskomnadzor,2-1687/2024", "Tverskoy District Court,2-9999/2026", 1)))
	if err := h.live.checkNow(t.Context()); err != nil {
		t.Fatal(err)
	}
	w := withheld(t, h, "/someuser/status/123", ipRussia, "", "")
	if body := w.Body.String(); !strings.Contains(body, "Tverskoy District Court") || !strings.Contains(body, "2-9999/2026") {
		t.Errorf("after the register changed, the answer says:\n%s", body)
	}
}

// TestCustomPageThatShowsThePath: a custom page whose text changes with the
// request path is rendered for every request; one that does not is kept.
func TestCustomPageThatShowsThePath(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, page string
		perRequest bool
	}{
		{"shows the path", `<p>{{.Path}} is withheld under {{.OrderID}}</p>`, true},
		{"does not", `<p>withheld under {{.OrderID}}</p>`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHandler(t, func(h *Handler) { h.Page = writeFile(t, dir, filepath.Base(t.Name())+".html", tc.page) })
			for _, target := range []string{"/someuser/status/123", "/other/status/123"} {
				w := withheld(t, h, target, ipRussia, "text/html", "")
				want := "<p>withheld under rkn-1</p>"
				if tc.perRequest {
					want = "<p>" + target + " is withheld under rkn-1</p>"
				}
				if got := w.Body.String(); got != want || w.Header().Get("Content-Length") != strconv.Itoa(len(want)) {
					t.Errorf("%s: body %q (Content-Length %s), want %q", target, got, w.Header().Get("Content-Length"), want)
				}
			}
		})
	}
}

// TestWithheldRequestAllocations: answering 451 from a kept answer costs one
// allocation (the response's header values); the JSON answer, which
// carries the request path, one more for its Content-Length. The log line is
// not counted (a nop logger): its cost is measured by BenchmarkWithheldLog.
func TestWithheldRequestAllocations(t *testing.T) {
	h := newTestHandler(t, nil)
	h.logger = zap.NewNop()
	for _, tc := range []struct {
		accept string
		max    float64
	}{{"", 1}, {"text/html", 1}, {"application/json", 2}} {
		r, _ := newRequest(http.MethodGet, "/someuser/status/123", ipRussia)
		r.Header.Set("Accept", tc.accept)
		w := discardWriter{header: http.Header{}}
		if n := testing.AllocsPerRun(100, func() { _ = h.ServeHTTP(w, r, noopHandler{}) }); n > tc.max {
			t.Errorf("Accept %q: %v allocations per withheld request, want at most %v", tc.accept, n, tc.max)
		}
	}
}
