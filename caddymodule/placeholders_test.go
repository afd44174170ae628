package caddymodule

import (
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestPlaceholdersOfEveryCountry: the providers made at start answer each
// country's code, and "" for an unknown one.
func TestPlaceholdersOfEveryCountry(t *testing.T) {
	for _, country := range []string{"RU", "XK", "AA", "ZZ", "", "not a code"} {
		want := country
		if len(country) != 2 {
			want = ""
		}
		for _, v := range []struct {
			name   string
			get    caddy.ReplacerFunc
			action string
			dryRun bool
		}{
			{"allow", allowValues[countryIndex(country)], "allow", false},
			{"refuse", refuseValues[countryIndex(country)], "refuse", false},
			{"refuse, dry run", refuseDryRunValues[countryIndex(country)], "refuse", true},
		} {
			name, get := v.name, v.get
			if got, ok := get(placeholderCountry); !ok || got != any(want) {
				t.Errorf("%s, %q: country %v, %v", name, country, got, ok)
			}
			if got, _ := get(placeholderAction); got != any(v.action) {
				t.Errorf("%s, %q: action %v", name, country, got)
			}
			if got, _ := get(placeholderDryRun); got != any(v.dryRun) {
				t.Errorf("%s, %q: dry_run %v", name, country, got)
			}
			if got, ok := get("http.geo_restrict.other"); ok {
				t.Errorf("%s: an unknown placeholder answered %v", name, got)
			}
		}
	}
}

// TestPlaceholdersLastHandlerWins: with two geo_restrict handlers on a
// request (a route that nests one in another, or handle_errors), the
// placeholders are those of the last to run, whichever the order.
func TestPlaceholdersLastHandlerWins(t *testing.T) {
	plain := newTestHandler(t, nil)
	exempting := newTestHandler(t, func(h *Handler) { h.Exempt = []string{ipUS + "/32"} })
	w := discardWriter{header: http.Header{}}
	for _, tc := range []struct {
		name                 string
		handlers             []*Handler
		wantAction, wantCode string
	}{
		{"allow, then exempt", []*Handler{plain, exempting}, "exempt", ""},
		{"exempt, then allow", []*Handler{exempting, plain}, "allow", "US"},
		{"allow, exempt, allow", []*Handler{plain, exempting, plain}, "allow", "US"},
		{"exempt, allow, exempt", []*Handler{exempting, plain, exempting}, "exempt", ""},
	} {
		r, repl := newRequest(http.MethodGet, "/someuser/status/123", ipUS)
		for _, h := range tc.handlers {
			if err := h.ServeHTTP(w, r, noopHandler{}); err != nil {
				t.Fatal(err)
			}
		}
		action, _ := repl.GetString(placeholderAction)
		country, _ := repl.GetString(placeholderCountry)
		if action != tc.wantAction || country != tc.wantCode {
			t.Errorf("%s: action %q, country %q; want %q, %q", tc.name, action, country, tc.wantAction, tc.wantCode)
		}
	}
}
