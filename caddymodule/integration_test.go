package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// These tests run a real Caddy in-process (caddytest) with a generated
// country database and a register on disk, and talk to it over loopback.
// 127.0.0.1 is a trusted proxy on port 9080, so the client IP comes from
// X-Forwarded-For exactly as it would behind a load balancer; port 9081
// trusts no proxy.

const integrationGlobals = `{
	admin localhost:2999
	http_port 9080
	https_port 9443
	grace_period 1ns
	skip_install_trust
	servers :9080 {
		trusted_proxies static 127.0.0.1/32 ::1/128
		protocols h1 h2 h2c
	}
}
`

func integrationConfig(db, register, respond string) string {
	return integrationGlobals + fmt.Sprintf(`
http://localhost:9080, http://localhost:9081 {
	geo_restrict {
		geoip_db %s
		register %s
		blocked_by https://microblog.example/transparency
	}
	@sanctioned geo_country RU BY {
		geoip_db %s
	}
	header @sanctioned X-Sanctioned yes
	respond "%s country={http.geo_restrict.country} action={http.geo_restrict.action}"
}
`, db, register, db, respond)
}

func get(t *testing.T, tester *caddytest.Tester, url, forwardedFor string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := tester.Client.Do(req)
	for try := 0; err != nil && swappingConfigs(err) && try < 5; try++ {
		t.Logf("GET %s: %v; trying again", url, err)
		time.Sleep(20 * time.Millisecond)
		res, err = tester.Client.Do(req)
	}
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

// swappingConfigs reports whether err is what a client may get from a
// connection made while Caddy replaces one config with the next: each
// config listens on its own socket (SO_REUSEPORT), and connections the
// kernel queued on the old one are refused or reset when it closes. A
// client tries again; so do the tests.
func swappingConfigs(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)
}

func TestIntegrationEnforcesByCountry(t *testing.T) {
	dir := t.TempDir()
	tester := caddytest.NewTester(t)
	tester.InitServer(integrationConfig(testDatabase(t, dir), writeFile(t, dir, testRegCSV, testRegister), "app"), "caddyfile")

	tests := []struct {
		name         string
		forwardedFor string
		path         string
		wantStatus   int
		wantBody     string
		sanctioned   bool
	}{
		{"russia, listed post", ipRussia, "/someuser/status/123", 451, "Country: Russia (RU)", true},
		{"russia through two proxies: Caddy takes the leftmost address", ipRussia + ", " + ipUS, "/someuser/status/123", 451, "Roskomnadzor", true},
		{"russia, IPv6", ipRussiaV6, "/someuser/status/123", 451, "rkn-1", true},
		{"russia, IPv4-mapped", "::ffff:" + ipRussia, "/someuser/status/123", 451, "rkn-1", true},
		{"russia, encoded", ipRussia, "/SomeUser/%73tatus//00123/", 451, "rkn-1", true},
		{"russia, fullwidth digits", ipRussia, "/someuser/status/%EF%BC%91%EF%BC%92%EF%BC%93", 451, "rkn-1", true},
		{"russia, a dot segment is refused", ipRussia, "/someuser/status/123/..", 400, "Bad Request", true},
		{"united states, a dot segment passes", ipUS, "/someuser/status/123/..", 200, "app country=US action=allow", false},
		{"russia, not listed", ipRussia, "/someuser/status/124", 200, "app country=RU action=allow", true},
		{"belarus, listed account", ipBelarus, "/censoreduser", 451, "Country: Belarus (BY)", true},
		{"germany, listed path", ipGermany, "/hashtag/banned", 451, "Landgericht Berlin", false},
		{"united states", ipUS, "/someuser/status/123", 200, "app country=US action=allow", false},
		{"no forwarding header: loopback has no country", "", "/someuser/status/123", 200, "app country= action=allow", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := get(t, tester, "http://localhost:9080"+tc.path, tc.forwardedFor)
			if res.StatusCode != tc.wantStatus {
				t.Errorf("status = %d, want %d; body:\n%s", res.StatusCode, tc.wantStatus, body)
			}
			if !strings.Contains(body, tc.wantBody) {
				t.Errorf("body lacks %q:\n%s", tc.wantBody, body)
			}
			if got := res.Header.Get("X-Sanctioned") == "yes"; got != tc.sanctioned {
				t.Errorf("geo_country RU BY matched: %v, want %v", got, tc.sanctioned)
			}
			if tc.wantStatus == 451 {
				if got := res.Header.Get("Link"); got != `<https://microblog.example/transparency>; rel="blocked-by"` {
					t.Errorf("Link = %q", got)
				}
				if got := res.Header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", got)
				}
			}
		})
	}
}

func TestIntegrationIgnoresForwardedForFromUntrustedPeers(t *testing.T) {
	dir := t.TempDir()
	tester := caddytest.NewTester(t)
	tester.InitServer(integrationConfig(testDatabase(t, dir), writeFile(t, dir, testRegCSV, testRegister), "app"), "caddyfile")

	// Port 9081 trusts no proxy: a client cannot claim to be elsewhere, or
	// dodge an order, by sending X-Forwarded-For.
	res, body := get(t, tester, "http://localhost:9081/someuser/status/123", ipRussia)
	if res.StatusCode != 200 || !strings.Contains(body, "country= ") {
		t.Errorf("untrusted X-Forwarded-For was used: status %d, body %q", res.StatusCode, body)
	}
}

func TestIntegrationJSONBody(t *testing.T) {
	dir := t.TempDir()
	tester := caddytest.NewTester(t)
	tester.InitServer(integrationConfig(testDatabase(t, dir), writeFile(t, dir, testRegCSV, testRegister), "app"), "caddyfile")

	res, body := get(t, tester, "http://localhost:9080/api/v1/statuses/123", ipRussia, "Accept", "application/json")
	if res.StatusCode != 451 {
		t.Fatalf("status = %d, want 451", res.StatusCode)
	}
	var got struct {
		Status int
		Order  Notice
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	want := Notice{OrderID: "rkn-1", Country: "RU", CountryName: "Russia", Target: "post:123", Authority: "Roskomnadzor", Reference: "2-1687/2024",
		NoticeURL: "https://notice.example/rkn-1", Reason: "Prohibited information.", BlockedBy: "https://microblog.example/transparency",
		Path: "/api/v1/statuses/123"}
	if got.Status != 451 || got.Order != want {
		t.Errorf("JSON body = %+v, want status 451 and %+v", got, want)
	}
}

// TestIntegrationJSONConfig runs the handler from the JSON config that the
// README documents, behind a real reverse proxy to an upstream.
func TestIntegrationJSONConfig(t *testing.T) {
	dir := t.TempDir()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream saw %s", r.URL.Path)
	}))
	defer upstream.Close()

	tester := caddytest.NewTester(t)
	tester.InitServer(fmt.Sprintf(`{
		"admin": {"listen": "localhost:2999"},
		"apps": {"http": {
			"http_port": 9080,
			"grace_period": 1,
			"servers": {"gateway": {
				"listen": [":9080"],
				"trusted_proxies": {"source": "static", "ranges": ["127.0.0.1/32"]},
				"routes": [{"handle": [
					{"handler": "geo_restrict", "geoip_db": %q, "registers": [%q], "unknown_country": "block"},
					{"handler": "reverse_proxy", "upstreams": [{"dial": %q}]}
				]}]
			}}
		}}
	}`, testDatabase(t, dir), writeFile(t, dir, testRegCSV, testRegister), strings.TrimPrefix(upstream.URL, "http://")), "json")

	for _, tc := range []struct {
		ip, path string
		status   int
		body     string
	}{
		{ipRussia, "/someuser/status/123", 451, "rkn-1"},
		{ipUS, "/someuser/status/123", 200, "upstream saw /someuser/status/123"},
		{ipUnlisted, "/someuser/status/123", 451, "rkn-1"},
		{ipUnlisted, "/someuser/status/125", 200, "upstream saw /someuser/status/125"},
	} {
		res, body := get(t, tester, "http://localhost:9080"+tc.path, tc.ip)
		if res.StatusCode != tc.status || !strings.Contains(body, tc.body) {
			t.Errorf("%s %s: %d %q, want %d with %q", tc.ip, tc.path, res.StatusCode, body, tc.status, tc.body)
		}
	}
}

func TestIntegrationReload(t *testing.T) {
	dir := t.TempDir()
	db := testDatabase(t, dir)
	reg := writeFile(t, dir, testRegCSV, testRegister)
	tester := caddytest.NewTester(t)
	tester.InitServer(integrationConfig(db, reg, "v1"), "caddyfile")
	if res, _ := get(t, tester, "http://localhost:9080/someuser/status/777", ipRussia); res.StatusCode != 200 {
		t.Fatalf("before the edit: status %d, want 200", res.StatusCode)
	}

	// The legal team adds an order, the operator reloads: it applies.
	writeFile(t, dir, testRegCSV, testRegister+"rkn-777,RU,post:777,block,Roskomnadzor,,,,,\n")
	touch(t, reg, time.Now().Add(time.Second))
	tester.InitServer(integrationConfig(db, reg, "v2"), "caddyfile")
	if res, body := get(t, tester, "http://localhost:9080/someuser/status/777", ipRussia); res.StatusCode != 451 {
		t.Fatalf("after the reload: status %d, want 451; body %q", res.StatusCode, body)
	}

	// A typo is refused with file:line, and the running config stays.
	writeFile(t, dir, testRegCSV, testRegister+"rkn-778,RU,post:778,block,Roskomnadzor,,,,2024-13-01,\n")
	touch(t, reg, time.Now().Add(2*time.Second))
	caddytest.AssertLoadError(t, integrationConfig(db, reg, "v3"), "caddyfile", "register.csv: line 6: start")
	if res, body := get(t, tester, "http://localhost:9080/someuser/status/777", ipRussia); res.StatusCode != 451 {
		t.Errorf("after a refused reload: status %d, want the old config's 451; body %q", res.StatusCode, body)
	}
	if res, body := get(t, tester, "http://localhost:9080/someuser/status/1", ipUS); !strings.HasPrefix(body, "v2 ") {
		t.Errorf("after a refused reload the config in force answers %d %q, want v2", res.StatusCode, body)
	}
}
