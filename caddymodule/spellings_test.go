package caddymodule

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/georestrict/caddy-georestrict/internal/apptest"
)

// TestIntegrationSpellingsProperty sends generated spellings of withheld and unlisted items
// from a Russian client through a real Caddy to a real application behind reverse_proxy, over
// HTTP/1.1 and HTTP/2, with every router of package apptest (Go's http.ServeMux among them),
// following the application's redirects as browsers do. No spelling may get a withheld item
// out of the application: the gateway answers 451 or 400 first.
func TestIntegrationSpellingsProperty(t *testing.T) {
	app := httptest.NewServer(apptest.Handler())
	defer app.Close()
	tester := startSpellingsGateway(t, strings.TrimPrefix(app.URL, "http://"))
	var counts spellingCounts
	for _, client := range []*http.Client{tester.Client, h2cClient()} {
		for i := range apptest.Routers {
			counts.add(sendSpellings(t, client, 75, "X-App", strconv.Itoa(i)))
		}
	}
	counts.check(t)

	// And the plain addresses of items no order names reach the application.
	for _, p := range []string{"/other/status/124", "/someuser2", "/banned2"} {
		res, body := get(t, tester, "http://localhost:9080"+p, ipRussia)
		if res.StatusCode != http.StatusOK {
			t.Errorf("%s: %d %q, want the application's 200", p, res.StatusCode, body)
		}
	}
}

// startSpellingsGateway starts Caddy on localhost:9080 with the register of package apptest,
// in front of the application at appAddr.
func startSpellingsGateway(t *testing.T, appAddr string) *caddytest.Tester {
	t.Helper()
	dir := t.TempDir()
	tester := caddytest.NewTester(t)
	tester.InitServer(integrationGlobals+fmt.Sprintf(`
http://localhost:9080 {
	geo_restrict {
		geoip_db %s
		register %s
	}
	reverse_proxy %s
}
`, testDatabase(t, dir), writeFile(t, dir, "register.csv", apptest.Register), appAddr), "caddyfile")
	return tester
}

// sendSpellings sends n generated spellings from a Russian client, with the header given
// (name, value pairs), through the gateway, and fails the test if the application behind
// served a withheld item for any. The seed is logged, so a failure can be replayed.
func sendSpellings(t *testing.T, client *http.Client, n int, header ...string) spellingCounts {
	t.Helper()
	if testing.Short() {
		n /= 5
	}
	seed := rand.Uint64()
	rnd := rand.New(rand.NewPCG(seed, 2))
	var counts spellingCounts
	for range n {
		raw := apptest.Spelling(rnd, apptest.Bases[rnd.IntN(len(apptest.Bases))])
		u, err := url.Parse("http://localhost:9080" + raw)
		if err != nil {
			continue // Go's client cannot send it; Go's server would refuse it
		}
		req := &http.Request{Method: http.MethodGet, URL: u, Host: u.Host, Header: http.Header{"X-Forwarded-For": {ipRussia}}}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("seed %d: %q: %v", seed, raw, err)
		}
		res.Body.Close()
		if item := res.Header.Get("X-Served-Withheld"); item != "" {
			t.Fatalf("seed %d, %s %v: %q reached the application, which served %s (status %d)", seed, res.Proto, header, raw, item, res.StatusCode)
		}
		switch res.StatusCode {
		case http.StatusUnavailableForLegalReasons:
			counts.withheld++
		case http.StatusBadRequest:
			counts.refused++
		default:
			counts.passed++
		}
	}
	return counts
}

// spellingCounts tell whether the spellings exercised both sides of the gateway.
type spellingCounts struct{ withheld, refused, passed int }

func (c *spellingCounts) add(d spellingCounts) {
	c.withheld, c.refused, c.passed = c.withheld+d.withheld, c.refused+d.refused, c.passed+d.passed
}

func (c spellingCounts) check(t *testing.T) {
	t.Helper()
	t.Logf("%d withheld, %d refused, %d passed", c.withheld, c.refused, c.passed)
	if c.withheld == 0 || c.passed == 0 {
		t.Errorf("the spellings exercised one side only: %d withheld, %d refused, %d passed", c.withheld, c.refused, c.passed)
	}
}

// Applications behind IIS's URL Rewrite module, and some PHP frameworks, route by
// X-Original-URL or X-Rewrite-URL: the gateway reads them as further spellings.
func TestIntegrationRewriteHeaders(t *testing.T) {
	dir := t.TempDir()
	tester := caddytest.NewTester(t)
	tester.InitServer(integrationConfig(testDatabase(t, dir), writeFile(t, dir, testRegCSV, testRegister), "app"), "caddyfile")
	tests := []struct {
		name, ip, header, value string
		want                    int
	}{
		{"original URL names a withheld post", ipRussia, "X-Original-URL", "/someuser/status/123", 451},
		{"rewrite URL names a withheld account", ipRussia, "X-Rewrite-URL", "/CensoredUser?x=1", 451},
		{"absolute URL", ipRussia, "X-Original-URL", "https://microblog.example/someuser/status/123", 451},
		{"ambiguous spelling", ipRussia, "X-Original-URL", "/someuser/status/123/..", 400},
		{"names nothing listed", ipRussia, "X-Original-URL", "/someuser/status/124", 200},
		{"elsewhere", ipUS, "X-Original-URL", "/someuser/status/123", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := get(t, tester, "http://localhost:9080/harmless", tc.ip, tc.header, tc.value)
			if res.StatusCode != tc.want {
				t.Errorf("status %d, want %d; body %q", res.StatusCode, tc.want, body)
			}
		})
	}
}

// TestIntegrationFlask is the reproduction with the real thing: a Flask app (Werkzeug's
// router, its int converter that reads any Unicode digit, merge_slashes redirects) behind a
// real Caddy, fed the same generated spellings. Flask comes from Debian's python3-flask.
func TestIntegrationFlask(t *testing.T) {
	python := requireProgram(t, []string{"/usr/bin/python3"}, "-c", "import flask")
	appAddr := freeLoopbackAddr(t)
	_, port, _ := net.SplitHostPort(appAddr)
	startProgram(t, appAddr, nil, python, "testdata/apps/flask_app.py", port)
	tester := startSpellingsGateway(t, appAddr)

	// The reproductions of the issue first: Flask serves post 123 for each.
	for _, raw := range []string{"/%20/status/123", "/someuser/status/%EF%BC%91%EF%BC%92%EF%BC%93", "/x/status/%D9%A1%D9%A2%D9%A3"} {
		direct, err := http.Get("http://" + appAddr + raw)
		if err != nil {
			t.Fatal(err)
		}
		direct.Body.Close()
		if direct.Header.Get("X-Served-Withheld") == "" {
			t.Fatalf("Flask itself does not serve a withheld item for %q (status %d): the test would prove nothing", raw, direct.StatusCode)
		}
		res, _ := get(t, tester, "http://localhost:9080"+raw, ipRussia)
		if res.StatusCode != http.StatusUnavailableForLegalReasons {
			t.Errorf("%q through the gateway: %d, want 451", raw, res.StatusCode)
		}
	}
	counts := sendSpellings(t, tester.Client, 300)
	counts.check(t)
}
