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
	dir := t.TempDir()
	app := httptest.NewServer(apptest.Handler())
	defer app.Close()
	tester := caddytest.NewTester(t)
	tester.InitServer(integrationGlobals+fmt.Sprintf(`
http://localhost:9080 {
	geo_restrict {
		geoip_db %s
		register %s
	}
	reverse_proxy %s
}
`, testDatabase(t, dir), writeFile(t, dir, "register.csv", apptest.Register), strings.TrimPrefix(app.URL, "http://")), "caddyfile")

	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 2))
	n := 150
	if testing.Short() {
		n = 30
	}
	var withheld, refused, passed int
	for _, client := range []struct {
		name string
		c    *http.Client
	}{{"HTTP/1.1", tester.Client}, {"HTTP/2", h2cClient()}} {
		for range n {
			raw := apptest.Spelling(rnd, apptest.Bases[rnd.IntN(len(apptest.Bases))])
			u, err := url.Parse("http://localhost:9080" + raw)
			if err != nil {
				continue // Go's client cannot send it; Go's server would refuse it
			}
			for i, rt := range apptest.Routers {
				req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
				req.URL = u
				req.Header.Set("X-Forwarded-For", ipRussia)
				req.Header.Set("X-App", strconv.Itoa(i))
				res, err := client.c.Do(req)
				if err != nil {
					t.Fatalf("%s %q: %v", client.name, raw, err)
				}
				res.Body.Close()
				if item := res.Header.Get("X-Served-Withheld"); item != "" {
					t.Fatalf("seed %d, %s, %s: %q reached the application, which served %s (status %d)", seed, client.name, rt.Name, raw, item, res.StatusCode)
				}
				switch res.StatusCode {
				case http.StatusUnavailableForLegalReasons:
					withheld++
				case http.StatusBadRequest:
					refused++
				default:
					passed++
				}
			}
		}
	}
	t.Logf("%d withheld, %d refused, %d passed", withheld, refused, passed)
	if withheld == 0 || passed == 0 {
		t.Errorf("the spellings exercised one side only: %d withheld, %d refused, %d passed", withheld, refused, passed)
	}

	// And the plain addresses of items no order names reach the application.
	for _, p := range []string{"/other/status/124", "/someuser2", "/banned2"} {
		res, body := get(t, tester, "http://localhost:9080"+p, ipRussia)
		if res.StatusCode != http.StatusOK {
			t.Errorf("%s: %d %q, want the application's 200", p, res.StatusCode, body)
		}
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

	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 3))
	n := 300
	if testing.Short() {
		n = 60
	}
	var withheld, passed int
	for range n {
		raw := apptest.Spelling(rnd, apptest.Bases[rnd.IntN(len(apptest.Bases))])
		u, err := url.Parse("http://localhost:9080" + raw)
		if err != nil {
			continue
		}
		req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
		req.URL = u
		req.Header.Set("X-Forwarded-For", ipRussia)
		res, err := tester.Client.Do(req)
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		res.Body.Close()
		if item := res.Header.Get("X-Served-Withheld"); item != "" {
			t.Fatalf("seed %d: %q reached Flask, which served %s", seed, raw, item)
		}
		if res.StatusCode == http.StatusOK {
			passed++
		} else {
			withheld++
		}
	}
	t.Logf("%d withheld or refused, %d passed", withheld, passed)
	if passed == 0 || withheld == 0 {
		t.Errorf("the spellings exercised one side only: %d withheld or refused, %d passed", withheld, passed)
	}
}
