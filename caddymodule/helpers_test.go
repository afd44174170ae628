package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/georestrict/caddy-georestrict/internal/testmmdb"
)

// Addresses of the test database. They are public ranges, so the same
// addresses mean the same countries in the real database too.
const (
	ipRussia    = "77.88.55.88"
	ipRussiaV6  = "2a02:6b8::2:242"
	ipBelarus   = "178.120.0.1"
	ipGermany   = "91.198.174.192"
	ipUS        = "8.8.8.8"
	ipPrivate   = "10.1.2.3"
	ipUnlisted  = "203.0.113.9" // documentation range: never in a database
	testRegCSV  = "register.csv"
	registerHdr = "id,countries,target,action,authority,reference,notice,reason,start,end\n"
)

var testNetworks = map[string]string{
	"77.88.0.0/18":     "RU",
	"2a02:6b8::/32":    "RU",
	"178.120.0.0/13":   "BY",
	"91.198.174.0/24":  "DE",
	"8.8.8.0/24":       "US",
	"2001:4860::/32":   "US",
	"81.2.69.0/24":     "GB",
	"185.199.108.0/22": "NL",
}

// testRegister is the register most handler tests enforce.
const testRegister = registerHdr +
	`rkn-1,RU,post:123,block,Roskomnadzor,2-1687/2024,https://notice.example/rkn-1,Prohibited information.,,` + "\n" +
	`rkn-2,RU BY,account:censoreduser,block,Roskomnadzor,27-31-2024,,,,` + "\n" +
	`de-1,DE,path:/hashtag/banned,block,Landgericht Berlin,27 O 123/24,,,,` + "\n" +
	`rkn-3,RU,path:/media/upload*,throttle 64KiB/s,Roskomnadzor,2021-03-10,,,,` + "\n"

// writeFile writes content to name in dir and returns its path.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// testDatabase writes the test country database into dir.
func testDatabase(t testing.TB, dir string) string {
	t.Helper()
	return testmmdb.WriteFile(t, dir, testmmdb.GeoIP2, testNetworks)
}

// newTestContext returns a real Caddy context, cancelled when the test ends.
func newTestContext(t testing.TB) caddy.Context {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	return ctx
}

// provisionHandler provisions h in a real Caddy context and cleans it up
// when the test ends.
func provisionHandler(t testing.TB, h *Handler) {
	t.Helper()
	if err := h.Provision(newTestContext(t)); err != nil {
		t.Fatalf("provision: %v", err)
	}
	t.Cleanup(func() { _ = h.Cleanup() })
	if err := h.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
}

// newRequest returns a request prepared the way Caddy's server prepares it,
// with clientIP as the `client_ip` variable.
func newRequest(method, target, clientIP string) (*http.Request, *caddy.Replacer) {
	r := httptest.NewRequest(method, target, nil)
	repl := caddy.NewReplacer()
	r = caddyhttp.PrepareRequest(r, repl, httptest.NewRecorder(), nil)
	caddyhttp.SetVar(r.Context(), caddyhttp.ClientIPVarKey, clientIP)
	return r, repl
}

// freshRequests returns a function that makes a request as Caddy's server
// hands one to its handlers, with a replacer and variables of its own each
// time. Benchmarks and allocation tests need a new request per run: a
// handler adds its placeholders' provider to a request once, and stores its
// values over it when it sees the request again (see setPlaceholders).
func freshRequests(method, target, clientIP string) func() *http.Request {
	return freshRequestsOn(nil, method, target, clientIP)
}

// freshRequestsOn is freshRequests for requests that srv serves.
func freshRequestsOn(srv *caddyhttp.Server, method, target, clientIP string) func() *http.Request {
	tmpl := httptest.NewRequest(method, target, nil)
	w := httptest.NewRecorder()
	return func() *http.Request {
		r := caddyhttp.PrepareRequest(tmpl, caddy.NewReplacer(), w, srv)
		caddyhttp.SetVar(r.Context(), caddyhttp.ClientIPVarKey, clientIP)
		return r
	}
}

// nextHandler records whether the request was passed on, and answers 200.
type nextHandler struct{ called int }

func (n *nextHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	n.called++
	w.WriteHeader(http.StatusOK)
	_, err := w.Write([]byte("app"))
	return err
}

// registers returns sources for paths, with no options.
func registers(paths ...string) []RegisterSource {
	out := make([]RegisterSource, len(paths))
	for i, p := range paths {
		out[i] = RegisterSource{Path: p}
	}
	return out
}
