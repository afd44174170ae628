package caddymodule

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// loadConfig posts a config to the admin endpoint of the in-process Caddy
// and returns the error it answers with, if any. force reloads even when
// the config text did not change, as `caddy reload --force` does. Caddy must
// already run (tester.InitServer starts it).
func loadConfig(t *testing.T, config, adapter string, force bool) error {
	t.Helper()
	res, err := askAdmin(t, http.MethodPost, "/load", func(req *http.Request) {
		req.Body, req.ContentLength = io.NopCloser(strings.NewReader(config)), int64(len(config))
		req.Header.Set("Content-Type", "text/"+adapter)
		if adapter == "json" {
			req.Header.Set("Content-Type", "application/json")
		}
		if force {
			req.Header.Set("Cache-Control", "must-revalidate")
		}
	})
	if err != nil {
		return fmt.Errorf("posting the config: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusOK {
		return nil
	}
	var answer struct{ Error string }
	if json.Unmarshal(body, &answer) == nil && answer.Error != "" {
		return fmt.Errorf("%d: %s", res.StatusCode, answer.Error)
	}
	return fmt.Errorf("%d: %s", res.StatusCode, body)
}

// askAdmin sends a request to the in-process Caddy's admin endpoint, made by
// set from a bare one, on a new connection: each load replaces the admin
// server, which closes the old one's idle connections, and reusing one as it
// closes is a reset that says nothing about the config. Even a new
// connection can land on the admin server that the last load is replacing,
// and be closed unanswered as it stops: then it asks again, twice. A panic in
// the admin handler drops the connection every time: this is where it shows.
func askAdmin(t *testing.T, method, path string, set func(*http.Request)) (*http.Response, error) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequest(method, "http://localhost:2999"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if set != nil {
			set(req)
		}
		res, err := client.Do(req)
		if err == nil || attempt == 3 {
			return res, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// optionsSite is a Caddyfile with one site on the trusted port whose body is
// body, followed by an answer that shows every placeholder.
func optionsSite(body string) string {
	return integrationGlobals + `
http://localhost:9080 {
` + body + `
	respond "app country={http.geo_restrict.country} action={http.geo_restrict.action} order={http.geo_restrict.order_id} authority={http.geo_restrict.authority} dry_run={http.geo_restrict.dry_run}"
}
`
}

// optionsJSON is a JSON config whose one server, on the trusted port, runs
// routes, followed by an answer that shows every placeholder.
func optionsJSON(routes ...string) string {
	routes = append(routes, `{"handle": [{"handler": "static_response", "body": "app country={http.geo_restrict.country} action={http.geo_restrict.action} order={http.geo_restrict.order_id} authority={http.geo_restrict.authority} dry_run={http.geo_restrict.dry_run}"}]}`)
	return `{
	"admin": {"listen": "localhost:2999"},
	"apps": {"http": {
		"http_port": 9080,
		"grace_period": 1,
		"servers": {"gateway": {
			"listen": [":9080"],
			"trusted_proxies": {"source": "static", "ranges": ["127.0.0.1/32", "::1/128"]},
			"routes": [` + strings.Join(routes, ",\n") + `]
		}}
	}}
}`
}

// probe is one request to the site under test and what it must get.
type probe struct {
	xff    string // X-Forwarded-For; "" sends none (the client is 127.0.0.1)
	path   string
	accept string
	status int
	body   string // part of the body
	header string // "Name: value" the answer must have; "Name:" for none
}

func (p probe) check(t *testing.T, tester *caddytest.Tester) {
	t.Helper()
	var hdr []string
	if p.accept != "" {
		hdr = []string{"Accept", p.accept}
	}
	res, body := get(t, tester, "http://localhost:9080"+p.path, p.xff, hdr...)
	if res.StatusCode != p.status || !strings.Contains(body, p.body) {
		t.Errorf("GET %s from %q: %d %q, want %d with %q", p.path, p.xff, res.StatusCode, body, p.status, p.body)
	}
	if p.header != "" {
		name, value, _ := strings.Cut(p.header, ":")
		value = strings.TrimSpace(value)
		if got := res.Header.Get(name); got != value {
			t.Errorf("GET %s from %q: %s = %q, want %q", p.path, p.xff, name, got, value)
		}
	}
}

// TestIntegrationEveryDocumentedOption starts a real Caddy with every option
// that the README documents for geo_restrict and geo_country, each in a
// representative form, in the Caddyfile and in JSON, and checks that it
// starts, serves, and that the option does what it says. Bad values must be
// refused with an error that names the option, never a panic, and the
// running config must stay.
func TestIntegrationEveryDocumentedOption(t *testing.T) {
	dir := t.TempDir()
	db := testDatabase(t, dir)
	reg := writeFile(t, dir, testRegCSV, testRegister)
	reg2 := writeFile(t, dir, "extra.csv", registerHdr+"extra-1,RU,post:555,block,Roskomnadzor,,,,,\n")
	reg3 := writeFile(t, dir, "courts.jsonl", `{"id": "court-1", "countries": "RU", "target": "post:556", "authority": "Tverskoy District Court"}`+"\n")
	reg4 := writeFile(t, dir, "holds.json", "[\n  {\"id\": \"hold-1\", \"countries\": [\"RU\"],\n   \"target\": \"post:557\", \"authority\": \"Moscow City Court\"}\n]\n")
	hostsReg := writeFile(t, dir, "urls.csv", registerHdr+
		"url-1,RU,https://microblog.example/someuser/status/900,block,Roskomnadzor,,,,,\n"+
		"url-2,RU,https://other.example/someuser/status/901,block,Roskomnadzor,,,,,\n")
	page := writeFile(t, dir, "451.html", `<p>custom page {{.OrderID}} {{.CountryName}} {{.Kind}}</p>`)
	brokenPage := writeFile(t, dir, "broken.html", `<p>{{.OrderID</p>`)
	failingPage := writeFile(t, dir, "failing.html", `<p>{{.OrderID}} {{.Nope}}</p>`)

	rkn1 := probe{xff: ipRussia, path: "/someuser/status/123", status: 451, body: "rkn-1"}
	usAllowed := probe{xff: ipUS, path: "/someuser/status/123", status: 200, body: "country=US action=allow order= authority= dry_run=false"}

	tests := []struct {
		name    string
		adapter string
		config  string
		wantErr []string // parts of the load error; nil for a config that must load
		probes  []probe
	}{
		// geo_restrict, Caddyfile
		{name: "register alone, embedded database", adapter: "caddyfile",
			config: optionsSite("\tgeo_restrict {\n\t\tregister " + reg + "\n\t}"),
			probes: []probe{rkn1, usAllowed}},
		{name: "geoip_db", adapter: "caddyfile",
			config: optionsSite("\tgeo_restrict {\n\t\tgeoip_db " + db + "\n\t\tregister " + reg + "\n\t}"),
			probes: []probe{rkn1, usAllowed, {xff: ipUnlisted, path: "/someuser/status/123", status: 200, body: "country= action=allow"}}},
		{name: "register, several files and lines", adapter: "caddyfile",
			config: optionsSite("\tgeo_restrict {\n\t\tgeoip_db " + db + "\n\t\tregister " + reg + " " + reg2 + "\n\t\tregister " + reg3 + " " + reg4 + "\n\t}"),
			probes: []probe{rkn1,
				{xff: ipRussia, path: "/someuser/status/555", status: 451, body: "extra-1"},
				{xff: ipRussia, path: "/someuser/status/556", status: 451, body: "Tverskoy District Court"},
				{xff: ipRussia, path: "/someuser/status/557", status: 451, body: "Moscow City Court"}}},
		{name: "pattern", adapter: "caddyfile",
			config: optionsSite("\tgeo_restrict {\n\t\tgeoip_db " + db + "\n\t\tregister " + reg + "\n\t\tpattern /p/{post} /u/{account}\n\t\tpattern /api/v1/statuses/{post}\n\t}"),
			probes: []probe{
				{xff: ipRussia, path: "/p/123", status: 451, body: "rkn-1"},
				{xff: ipRussia, path: "/api/v1/statuses/123", status: 451, body: "rkn-1"},
				{xff: ipRussia, path: "/u/censoreduser", status: 451, body: "rkn-2"},
				{xff: ipRussia, path: "/someuser/status/123", status: 200, body: "action=allow"}}},
		{name: "hosts", adapter: "caddyfile",
			config: optionsSite("\tgeo_restrict {\n\t\tgeoip_db " + db + "\n\t\tregister " + hostsReg + "\n\t\thosts microblog.example www.microblog.example\n\t}"),
			probes: []probe{
				{xff: ipRussia, path: "/someuser/status/900", status: 451, body: "url-1"},
				{xff: ipRussia, path: "/someuser/status/901", status: 200, body: "action=allow"}}},
		{name: "blocked_by", adapter: "caddyfile",
			config: optionsSite("\tgeo_restrict {\n\t\tgeoip_db " + db + "\n\t\tregister " + reg + "\n\t\tblocked_by https://microblog.example/transparency?from=451%3B\n\t}"),
			probes: []probe{{xff: ipRussia, path: "/someuser/status/123", status: 451, body: "rkn-1",
				header: `Link: <https://microblog.example/transparency?from=451%3B>; rel="blocked-by"`}}},
		{name: "unknown_country block", adapter: "caddyfile",
			config: optionsSite("\tgeo_restrict {\n\t\tgeoip_db " + db + "\n\t\tregister " + reg + "\n\t\tunknown_country block\n\t}"),
			probes: []probe{{xff: ipUnlisted, path: "/someuser/status/123", status: 451, body: "rkn-1"}, usAllowed}},
		{name: "unknown_country allow", adapter: "caddyfile",
			config: optionsSite("\tgeo_restrict {\n\t\tgeoip_db " + db + "\n\t\tregister " + reg + "\n\t\tunknown_country allow\n\t}"),
			probes: []probe{{xff: ipUnlisted, path: "/someuser/status/123", status: 200, body: "action=allow"}}},
		{name: "exempt, range and address", adapter: "caddyfile",
			config: optionsSite("\tgeo_restrict {\n\t\tgeoip_db " + db + "\n\t\tregister " + reg + "\n\t\texempt 77.88.0.0/18\n\t\texempt " + ipRussiaV6 + "\n\t}"),
			probes: []probe{
				{xff: ipRussia, path: "/someuser/status/123", status: 200, body: "country= action=exempt order= authority= dry_run=false"},
				{xff: ipRussiaV6, path: "/someuser/status/123", status: 200, body: "action=exempt"},
				{xff: "2a02:6b8::1", path: "/someuser/status/123", status: 451, body: "rkn-1"}}},
		{name: "exempt private_ranges", adapter: "caddyfile",
			config: optionsSite("\tgeo_restrict {\n\t\tgeoip_db " + db + "\n\t\tregister " + reg + "\n\t\tunknown_country block\n\t\texempt private_ranges\n\t}"),
			probes: []probe{
				{xff: "", path: "/someuser/status/123", status: 200, body: "action=exempt"},
				{xff: "::1", path: "/someuser/status/123", status: 200, body: "action=exempt"},
				{xff: ipPrivate, path: "/someuser/status/123", status: 200, body: "action=exempt"},
				{xff: "fd12::1", path: "/someuser/status/123", status: 200, body: "action=exempt"},
				{xff: ipUnlisted, path: "/someuser/status/123", status: 451, body: "rkn-1"}}},
		{name: "dry_run", adapter: "caddyfile",
			config: optionsSite("\tgeo_restrict {\n\t\tgeoip_db " + db + "\n\t\tregister " + reg + "\n\t\tdry_run\n\t}"),
			probes: []probe{{xff: ipRussia, path: "/someuser/status/123", status: 200,
				body: "country=RU action=block order=rkn-1 authority=Roskomnadzor dry_run=true"}}},
		{name: "page", adapter: "caddyfile",
			config: optionsSite("\tgeo_restrict {\n\t\tgeoip_db " + db + "\n\t\tregister " + reg + "\n\t\tpage " + page + "\n\t}"),
			probes: []probe{{xff: ipRussia, path: "/someuser/status/123", accept: "text/html", status: 451, body: "<p>custom page rkn-1 Russia post</p>"}}},
		{name: "log_client_ip", adapter: "caddyfile",
			config: optionsSite("\tgeo_restrict {\n\t\tgeoip_db " + db + "\n\t\tregister " + reg + "\n\t\tlog_client_ip\n\t}"),
			probes: []probe{rkn1}},
		{name: "throttle_burst", adapter: "caddyfile",
			config: optionsSite("\tgeo_restrict {\n\t\tgeoip_db " + db + "\n\t\tregister " + reg + "\n\t\tthrottle_burst 64KiB\n\t}"),
			probes: []probe{{xff: ipRussia, path: "/media/upload", status: 200, body: "action=throttle order=rkn-3"}}},
		{name: "throttle_max_duration", adapter: "caddyfile",
			config: optionsSite("\tgeo_restrict {\n\t\tgeoip_db " + db + "\n\t\tregister " + reg + "\n\t\tthrottle_max_duration 30m\n\t}"),
			probes: []probe{{xff: ipRussia, path: "/media/upload", status: 200, body: "action=throttle order=rkn-3"}}},
		{name: "throttle_max_duration 0", adapter: "caddyfile",
			config: optionsSite("\tgeo_restrict {\n\t\tgeoip_db " + db + "\n\t\tregister " + reg + "\n\t\tthrottle_max_duration 0\n\t}"),
			probes: []probe{{xff: ipRussia, path: "/media/upload", status: 200, body: "action=throttle order=rkn-3"}}},

		// geo_country, Caddyfile
		{name: "geo_country with geoip_db", adapter: "caddyfile",
			config: optionsSite("\t@m geo_country RU by {\n\t\tgeoip_db " + db + "\n\t}\n\theader @m X-Match yes"),
			probes: []probe{
				{xff: ipRussia, path: "/", status: 200, body: "app", header: "X-Match: yes"},
				{xff: ipBelarus, path: "/", status: 200, body: "app", header: "X-Match: yes"},
				{xff: ipUS, path: "/", status: 200, body: "app", header: "X-Match:"}}},
		{name: "geo_country, embedded database", adapter: "caddyfile",
			config: optionsSite("\t@m geo_country RU\n\theader @m X-Match yes"),
			probes: []probe{{xff: ipRussia, path: "/", status: 200, header: "X-Match: yes"}, {xff: ipUS, path: "/", status: 200, header: "X-Match:"}}},
		{name: "geo_country unknown", adapter: "caddyfile",
			config: optionsSite("\t@m geo_country unknown {\n\t\tgeoip_db " + db + "\n\t}\n\theader @m X-Match yes"),
			probes: []probe{
				{xff: "", path: "/", status: 200, header: "X-Match: yes"},
				{xff: ipUnlisted, path: "/", status: 200, header: "X-Match: yes"},
				{xff: ipUS, path: "/", status: 200, header: "X-Match:"}}},
		{name: "geo_country lines add up", adapter: "caddyfile",
			config: optionsSite("\t@m {\n\t\tgeo_country RU {\n\t\t\tgeoip_db " + db + "\n\t\t}\n\t\tgeo_country BY\n\t}\n\theader @m X-Match yes"),
			probes: []probe{{xff: ipBelarus, path: "/", status: 200, header: "X-Match: yes"}, {xff: ipUS, path: "/", status: 200, header: "X-Match:"}}},
		{name: "geo_country in an expression", adapter: "caddyfile",
			config: optionsSite("\t@m expression `geo_country('RU', 'BY') && path('/media/*')`\n\theader @m X-Match yes"),
			probes: []probe{
				{xff: ipRussia, path: "/media/1.jpg", status: 200, header: "X-Match: yes"},
				{xff: ipRussia, path: "/other", status: 200, header: "X-Match:"},
				{xff: ipUS, path: "/media/1.jpg", status: 200, header: "X-Match:"}}},

		// JSON
		{name: "geo_restrict JSON, every field", adapter: "json",
			config: optionsJSON(fmt.Sprintf(`{"handle": [{"handler": "geo_restrict",
				"geoip_db": %q, "registers": [%q, %q],
				"patterns": ["/{account}/status/{post}", "/{account}"], "hosts": ["microblog.example"],
				"blocked_by": "https://microblog.example/transparency", "unknown_country": "block",
				"exempt": ["192.0.2.0/24", "private_ranges"], "dry_run": false, "page": %q,
				"log_client_ip": true, "throttle_burst": 65536, "throttle_max_duration": "30m"}]}`, db, reg, reg2, page)),
			probes: []probe{
				{xff: ipRussia, path: "/someuser/status/123", accept: "text/html", status: 451, body: "custom page rkn-1 Russia post",
					header: `Link: <https://microblog.example/transparency>; rel="blocked-by"`},
				{xff: ipRussia, path: "/someuser/status/555", status: 451, body: "extra-1"},
				{xff: ipUnlisted, path: "/someuser/status/123", status: 451, body: "rkn-1"},
				{xff: "192.0.2.9", path: "/someuser/status/123", status: 200, body: "action=exempt"},
				{xff: "", path: "/someuser/status/123", status: 200, body: "action=exempt"},
				usAllowed}},
		{name: "geo_restrict JSON, dry_run", adapter: "json",
			config: optionsJSON(fmt.Sprintf(`{"handle": [{"handler": "geo_restrict", "geoip_db": %q, "registers": [%q], "dry_run": true}]}`, db, reg)),
			probes: []probe{{xff: ipRussia, path: "/someuser/status/123", status: 200, body: "action=block order=rkn-1 authority=Roskomnadzor dry_run=true"}}},
		{name: "geo_country JSON", adapter: "json",
			config: optionsJSON(fmt.Sprintf(`{"match": [{"geo_country": {"countries": ["RU", "unknown"], "geoip_db": %q}}],
				"handle": [{"handler": "headers", "response": {"set": {"X-Match": ["yes"]}}}]}`, db)),
			probes: []probe{
				{xff: ipRussia, path: "/", status: 200, header: "X-Match: yes"},
				{xff: ipUnlisted, path: "/", status: 200, header: "X-Match: yes"},
				{xff: ipUS, path: "/", status: 200, header: "X-Match:"}}},
		{name: "geo_country JSON expression", adapter: "json",
			config: optionsJSON(`{"match": [{"expression": "geo_country('BY')"}],
				"handle": [{"handler": "headers", "response": {"set": {"X-Match": ["yes"]}}}]}`),
			probes: []probe{{xff: ipBelarus, path: "/", status: 200, header: "X-Match: yes"}, {xff: ipRussia, path: "/", status: 200, header: "X-Match:"}}},

		// Bad values, Caddyfile: refused with the option and the line.
		{name: "blocked_by that breaks the Link header", adapter: "caddyfile",
			config:  optionsSite("\tgeo_restrict {\n\t\tregister " + reg + "\n\t\tblocked_by https://microblog.example/a>b\n\t}"),
			wantErr: []string{"blocked_by", "percent-encode", "%3E", "Caddyfile:16"}},
		{name: "hosts with a scheme", adapter: "caddyfile",
			config:  optionsSite("\tgeo_restrict {\n\t\tregister " + reg + "\n\t\thosts https://blog.example.net\n\t}"),
			wantErr: []string{"hosts", "is a URL", "e.g. blog.example.net", "Caddyfile:16"}},
		{name: "hosts with a port", adapter: "caddyfile",
			config:  optionsSite("\tgeo_restrict {\n\t\tregister " + reg + "\n\t\thosts blog.example.net:443\n\t}"),
			wantErr: []string{"hosts", "port", "Caddyfile:16"}},
		{name: "bad exempt", adapter: "caddyfile",
			config:  optionsSite("\tgeo_restrict {\n\t\tregister " + reg + "\n\t\texempt private_ranges 10.0.0.0/33\n\t}"),
			wantErr: []string{"exempt", "10.0.0.0/33", "Caddyfile:16"}},
		{name: "page that does not parse", adapter: "caddyfile",
			config:  optionsSite("\tgeo_restrict {\n\t\tregister " + reg + "\n\t\tpage " + brokenPage + "\n\t}"),
			wantErr: []string{"page", "broken.html"}},
		{name: "page that fails when rendered", adapter: "caddyfile",
			config:  optionsSite("\tgeo_restrict {\n\t\tregister " + reg + "\n\t\tpage " + failingPage + "\n\t}"),
			wantErr: []string{"page", "failing.html", "Nope"}},
		{name: "missing page", adapter: "caddyfile",
			config:  optionsSite("\tgeo_restrict {\n\t\tregister " + reg + "\n\t\tpage " + dir + "/absent.html\n\t}"),
			wantErr: []string{"page", "absent.html"}},
		{name: "unknown_country deny", adapter: "caddyfile",
			config:  optionsSite("\tgeo_restrict {\n\t\tregister " + reg + "\n\t\tunknown_country deny\n\t}"),
			wantErr: []string{"unknown_country", "Caddyfile:16"}},
		{name: "geoip_cache, removed", adapter: "caddyfile",
			config:  optionsSite("\tgeo_restrict {\n\t\tregister " + reg + "\n\t\tgeoip_cache 0\n\t}"),
			wantErr: []string{"geoip_cache was removed", "slower than the lookup", "remove the line", "Caddyfile:16"}},
		{name: "throttle_burst 0", adapter: "caddyfile",
			config:  optionsSite("\tgeo_restrict {\n\t\tregister " + reg + "\n\t\tthrottle_burst 0\n\t}"),
			wantErr: []string{"throttle_burst", "Caddyfile:16"}},
		{name: "throttle_max_duration negative", adapter: "caddyfile",
			config:  optionsSite("\tgeo_restrict {\n\t\tregister " + reg + "\n\t\tthrottle_max_duration -1m\n\t}"),
			wantErr: []string{"throttle_max_duration", "Caddyfile:16"}},
		{name: "throttle_max_duration twice", adapter: "caddyfile",
			config:  optionsSite("\tgeo_restrict {\n\t\tregister " + reg + "\n\t\tthrottle_max_duration 1h\n\t\tthrottle_max_duration 2h\n\t}"),
			wantErr: []string{"throttle_max_duration", "more than once", "Caddyfile:17"}},
		{name: "pattern without a placeholder", adapter: "caddyfile",
			config:  optionsSite("\tgeo_restrict {\n\t\tregister " + reg + "\n\t\tpattern /status/post\n\t}"),
			wantErr: []string{"patterns"}},
		{name: "no register", adapter: "caddyfile",
			config:  optionsSite("\tgeo_restrict {\n\t\tgeoip_db " + db + "\n\t}"),
			wantErr: []string{"registers"}},
		{name: "missing register", adapter: "caddyfile",
			config:  optionsSite("\tgeo_restrict {\n\t\tregister " + dir + "/absent.csv\n\t}"),
			wantErr: []string{"absent.csv"}},
		{name: "missing geoip_db", adapter: "caddyfile",
			config:  optionsSite("\tgeo_restrict {\n\t\tgeoip_db " + dir + "/absent.mmdb\n\t\tregister " + reg + "\n\t}"),
			wantErr: []string{"absent.mmdb"}},
		{name: "geo_country with a bad code", adapter: "caddyfile",
			config:  optionsSite("\t@m geo_country RU XX\n\theader @m X-Match yes"),
			wantErr: []string{"geo_country", `"XX"`}},
		{name: "geo_country with a missing database", adapter: "caddyfile",
			config:  optionsSite("\t@m geo_country RU {\n\t\tgeoip_db " + dir + "/absent.mmdb\n\t}\n\theader @m X-Match yes"),
			wantErr: []string{"absent.mmdb"}},

		// Bad values, JSON: refused by Provision and Validate.
		{name: "JSON blocked_by with a space", adapter: "json",
			config:  optionsJSON(fmt.Sprintf(`{"handle": [{"handler": "geo_restrict", "registers": [%q], "blocked_by": "https://microblog.example/a b"}]}`, reg)),
			wantErr: []string{"blocked_by", "percent-encode"}},
		{name: "JSON hosts with a scheme", adapter: "json",
			config:  optionsJSON(fmt.Sprintf(`{"handle": [{"handler": "geo_restrict", "registers": [%q], "hosts": ["https://blog.example.net"]}]}`, reg)),
			wantErr: []string{"hosts", "is a URL"}},
		{name: "JSON hosts with a port", adapter: "json",
			config:  optionsJSON(fmt.Sprintf(`{"handle": [{"handler": "geo_restrict", "registers": [%q], "hosts": ["blog.example.net:443"]}]}`, reg)),
			wantErr: []string{"hosts", "port"}},
		{name: "JSON bad exempt", adapter: "json",
			config:  optionsJSON(fmt.Sprintf(`{"handle": [{"handler": "geo_restrict", "registers": [%q], "exempt": ["private_ranges", "10.0.0.300"]}]}`, reg)),
			wantErr: []string{"exempt", "10.0.0.300"}},
		{name: "JSON unknown_country", adapter: "json",
			config:  optionsJSON(fmt.Sprintf(`{"handle": [{"handler": "geo_restrict", "registers": [%q], "unknown_country": "deny"}]}`, reg)),
			wantErr: []string{"unknown_country"}},
		{name: "JSON negative throttle_burst", adapter: "json",
			config:  optionsJSON(fmt.Sprintf(`{"handle": [{"handler": "geo_restrict", "registers": [%q], "throttle_burst": -1}]}`, reg)),
			wantErr: []string{"throttle_burst"}},
		{name: "JSON negative throttle_max_duration", adapter: "json",
			config:  optionsJSON(fmt.Sprintf(`{"handle": [{"handler": "geo_restrict", "registers": [%q], "throttle_max_duration": "-1m"}]}`, reg)),
			wantErr: []string{"throttle_max_duration"}},
		// encoding/json leaves the error of a caddy.Duration it cannot
		// parse bare; the handler names the field, nested ones by path.
		{name: "JSON throttle_max_duration not a duration", adapter: "json",
			config:  optionsJSON(fmt.Sprintf(`{"handle": [{"handler": "geo_restrict", "registers": [%q], "throttle_max_duration": "forever"}]}`, reg)),
			wantErr: []string{`geo_restrict: throttle_max_duration: time: invalid duration "forever"`}},
		{name: "JSON log_limit interval not a duration", adapter: "json",
			config:  optionsJSON(fmt.Sprintf(`{"handle": [{"handler": "geo_restrict", "registers": [%q], "log_limit": {"lines": 5, "interval": "1 minute"}}]}`, reg)),
			wantErr: []string{`geo_restrict: log_limit.interval: time: unknown unit " minute"`}},
		{name: "JSON a source's refresh not a duration", adapter: "json",
			config:  optionsJSON(fmt.Sprintf(`{"handle": [{"handler": "geo_restrict", "registers": [%q, {"path": %q, "refresh": "hourly"}]}]}`, reg, reg)),
			wantErr: []string{`geo_restrict: registers[1].refresh: time: invalid duration "hourly"`}},
		{name: "JSON unknown field", adapter: "json",
			config:  optionsJSON(fmt.Sprintf(`{"handle": [{"handler": "geo_restrict", "registers": [%q], "refresh_every": "1m"}]}`, reg)),
			wantErr: []string{`geo_restrict: json: unknown field "refresh_every"`}},
		{name: "JSON geoip_cache, removed", adapter: "json",
			config:  optionsJSON(fmt.Sprintf(`{"handle": [{"handler": "geo_restrict", "registers": [%q], "geoip_cache": 0}]}`, reg)),
			wantErr: []string{"geoip_cache was removed", "slower than the lookup", "remove the field"}},
		{name: "JSON page that fails when rendered", adapter: "json",
			config:  optionsJSON(fmt.Sprintf(`{"handle": [{"handler": "geo_restrict", "registers": [%q], "page": %q}]}`, reg, failingPage)),
			wantErr: []string{"page", "Nope"}},
		{name: "JSON no registers", adapter: "json",
			config:  optionsJSON(`{"handle": [{"handler": "geo_restrict"}]}`),
			wantErr: []string{"registers"}},
		{name: "JSON geo_country with a bad code", adapter: "json",
			config:  optionsJSON(`{"match": [{"geo_country": {"countries": ["RX"]}}], "handle": [{"handler": "headers"}]}`),
			wantErr: []string{"geo_country", `"RX"`}},
		{name: "JSON geo_country expression with a bad code", adapter: "json",
			config:  optionsJSON(`{"match": [{"expression": "geo_country('RX')"}], "handle": [{"handler": "headers"}]}`),
			wantErr: []string{"geo_country", `"RX"`}},
	}

	tester := caddytest.NewTester(t)
	tester.InitServer(optionsSite("\tgeo_restrict {\n\t\tgeoip_db "+db+"\n\t\tregister "+reg+"\n\t}"), "caddyfile")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wantErr == nil {
				tester := caddytest.NewTester(t)
				tester.InitServer(tc.config, tc.adapter)
				for _, p := range tc.probes {
					p.check(t, tester)
				}
				return
			}
			err := loadConfig(t, tc.config, tc.adapter, false)
			if err == nil {
				t.Fatal("the config loaded, want it refused")
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("load error lacks %q:\n%v", s, err)
				}
			}
			// Refused, not crashed: Caddy still answers.
			res, err := askAdmin(t, http.MethodGet, "/config/", nil)
			if err != nil {
				t.Fatalf("Caddy is gone after the refused config: %v", err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("Caddy's admin API answers %d after the refused config", res.StatusCode)
			}
		})
	}
}

// TestIntegrationReloadSeesAnEditThatKeepsSizeAndTime edits the register so
// that it keeps its size and modification time, as cp -p, tar and
// reproducible images do, and reloads the unchanged config with --force:
// the new order applies.
func TestIntegrationReloadSeesAnEditThatKeepsSizeAndTime(t *testing.T) {
	dir := t.TempDir()
	db := testDatabase(t, dir)
	reg := writeFile(t, dir, testRegCSV, testRegister+"rkn-7,RU,post:71,block,Roskomnadzor,,,,,\n")
	stamp := time.Date(2024, 5, 23, 12, 0, 0, 0, time.UTC)
	touch(t, reg, stamp)
	config := integrationConfig(db, reg, "app")

	tester := caddytest.NewTester(t)
	tester.InitServer(config, "caddyfile")
	if res, body := get(t, tester, "http://localhost:9080/someuser/status/71", ipRussia); res.StatusCode != 451 || !strings.Contains(body, "rkn-7") {
		t.Fatalf("before the edit: %d %q, want 451 for rkn-7", res.StatusCode, body)
	}

	before, err := os.Stat(reg)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, testRegCSV, testRegister+"rkn-7,RU,post:72,block,Roskomnadzor,,,,,\n")
	touch(t, reg, stamp)
	after, err := os.Stat(reg)
	if err != nil {
		t.Fatal(err)
	}
	if before.Size() != after.Size() || !before.ModTime().Equal(after.ModTime()) {
		t.Fatalf("the edit changed size or time: %d %s, then %d %s", before.Size(), before.ModTime(), after.Size(), after.ModTime())
	}

	if err := loadConfig(t, config, "caddyfile", true); err != nil {
		t.Fatalf("reload --force: %v", err)
	}
	if res, body := get(t, tester, "http://localhost:9080/someuser/status/72", ipRussia); res.StatusCode != 451 || !strings.Contains(body, "rkn-7") {
		t.Errorf("after the reload: post 72 answers %d %q, want 451 for rkn-7", res.StatusCode, body)
	}
	if res, body := get(t, tester, "http://localhost:9080/someuser/status/71", ipRussia); res.StatusCode != 200 {
		t.Errorf("after the reload: post 71 answers %d %q, want 200: the old order is still in force", res.StatusCode, body)
	}
}

// TestIntegrationPlaceholdersAndLogs runs the README's recipes: placeholders
// in response headers (`header >Name {…}`) and in the access log
// (`log_append`). Every placeholder has a value on every request, empty when
// it does not apply, never its own literal text. The enforcement log line
// carries the order's reference and the request id that the access log
// shows as uuid.
func TestIntegrationPlaceholdersAndLogs(t *testing.T) {
	dir := t.TempDir()
	db := testDatabase(t, dir)
	reg := writeFile(t, dir, testRegCSV, testRegister)
	accessLog := filepath.Join(dir, "access.log")
	enforcementLog := filepath.Join(dir, "georestrict.log")

	globals := strings.Replace(integrationGlobals, "\tskip_install_trust\n", fmt.Sprintf(`	skip_install_trust
	log georestrict {
		output file %s
		format json
		include http.handlers.geo_restrict
	}
`, enforcementLog), 1)
	config := globals + fmt.Sprintf(`
http://localhost:9080 {
	log {
		output file %s
		format json
	}
	log_append order {http.geo_restrict.order_id}
	log_append geo_action {http.geo_restrict.action}
	header >X-Country "{http.geo_restrict.country}"
	header >X-Action "{http.geo_restrict.action}"
	header >X-Order "{http.geo_restrict.order_id}"
	header >X-Authority "{http.geo_restrict.authority}"
	header >X-Dry-Run "{http.geo_restrict.dry_run}"
	geo_restrict {
		geoip_db %s
		register %s
		exempt 81.2.69.0/24
	}
	respond "app"
}
`, accessLog, db, reg)

	tester := caddytest.NewTester(t)
	tester.InitServer(config, "caddyfile")

	tests := []struct {
		name, xff, path string
		status          int
		headers         map[string]string
	}{
		{"allowed", ipUS, "/someuser/status/123", 200,
			map[string]string{"X-Country": "US", "X-Action": "allow", "X-Order": "", "X-Authority": "", "X-Dry-Run": "false"}},
		{"allowed, unknown country", ipUnlisted, "/someuser/status/123", 200,
			map[string]string{"X-Country": "", "X-Action": "allow", "X-Order": "", "X-Authority": "", "X-Dry-Run": "false"}},
		{"exempt", "81.2.69.1", "/someuser/status/123", 200,
			map[string]string{"X-Country": "", "X-Action": "exempt", "X-Order": "", "X-Authority": "", "X-Dry-Run": "false"}},
		{"withheld", ipRussia, "/someuser/status/123", 451,
			map[string]string{"X-Country": "RU", "X-Action": "block", "X-Order": "rkn-1", "X-Authority": "Roskomnadzor", "X-Dry-Run": "false"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := get(t, tester, "http://localhost:9080"+tc.path, tc.xff)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %q", res.StatusCode, tc.status, body)
			}
			for name, want := range tc.headers {
				got := res.Header.Values(name)
				if len(got) != 1 || got[0] != want {
					t.Errorf("%s = %q, want [%q]", name, got, want)
				}
			}
		})
	}

	// The access log has the placeholders through log_append, and the
	// enforcement log line joins it by request id.
	var access []map[string]any
	for range 50 {
		if access = readJSONLines(t, accessLog); len(access) >= len(tests) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(access) != len(tests) {
		t.Fatalf("access log has %d lines, want %d", len(access), len(tests))
	}
	for i, tc := range tests {
		if got, want := access[i]["order"], tc.headers["X-Order"]; got != want {
			t.Errorf("access log line %d (%s): order = %v, want %q", i+1, tc.name, got, want)
		}
		if got, want := access[i]["geo_action"], tc.headers["X-Action"]; got != want {
			t.Errorf("access log line %d (%s): geo_action = %v, want %q", i+1, tc.name, got, want)
		}
	}
	enforced := readJSONLines(t, enforcementLog)
	var lines []map[string]any
	for _, l := range enforced {
		if l["msg"] == "request withheld" {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("enforcement log has %d withheld lines, want 1: %v", len(lines), enforced)
	}
	line := lines[0]
	if line["order"] != "rkn-1" || line["reference"] != "2-1687/2024" {
		t.Errorf("enforcement line: order %v, reference %v; want rkn-1, 2-1687/2024", line["order"], line["reference"])
	}
	id, _ := line["request_id"].(string)
	if len(id) != 36 {
		t.Fatalf("enforcement line: request_id = %q, want a UUID", id)
	}
	if uuid := access[3]["uuid"]; uuid != id {
		t.Errorf("the access log's uuid of the withheld request is %v, the enforcement line's request_id %q", uuid, id)
	}
}

// readJSONLines reads a log file of JSON lines; a missing file has none.
func readJSONLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v: %s", path, err, sc.Bytes())
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestIntegrationMetrics scrapes Caddy's admin /metrics after requests to
// two sites, one enforcing and one in dry run with its own hosts: dry runs
// are a result of their own, and register_orders counts each handler set's
// orders in force.
func TestIntegrationMetrics(t *testing.T) {
	dir := t.TempDir()
	db := testDatabase(t, dir)
	reg := writeFile(t, dir, testRegCSV, testRegister+
		"expired,RU,post:9,block,Roskomnadzor,,,,2020-01-01,2021-01-01\n"+
		"url-1,RU,https://microblog.example/someuser/status/900,block,Roskomnadzor,,,,,\n"+
		"url-2,RU,https://other.example/someuser/status/901,block,Roskomnadzor,,,,,\n")
	config := fmt.Sprintf(`{
	admin localhost:2999
	http_port 9080
	https_port 9443
	grace_period 1ns
	skip_install_trust
	servers {
		trusted_proxies static 127.0.0.1/32 ::1/128
	}
}

http://localhost:9080 {
	geo_restrict {
		geoip_db %[1]s
		register %[2]s
	}
	respond "app"
}

http://localhost:9081 {
	geo_restrict {
		geoip_db %[1]s
		register %[2]s
		hosts microblog.example
		dry_run
	}
	respond "app"
}
`, db, reg)
	tester := caddytest.NewTester(t)
	tester.InitServer(config, "caddyfile")

	for _, req := range []struct {
		url, xff string
		status   int
	}{
		{"http://localhost:9080/someuser/status/123", ipRussia, 451},
		{"http://localhost:9080/someuser/status/123", ipRussia, 451},
		{"http://localhost:9080/someuser/status/123", ipUS, 200},
		{"http://localhost:9081/someuser/status/123", ipRussia, 200},
	} {
		if res, body := get(t, tester, req.url, req.xff); res.StatusCode != req.status {
			t.Fatalf("GET %s from %s: %d %q, want %d", req.url, req.xff, res.StatusCode, body, req.status)
		}
	}

	res, err := http.Get("http://localhost:2999/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	// Of the register's seven orders, "expired" is not in force, and the
	// dry-run site's hosts leave url-2 out.
	for _, want := range []string{
		`caddy_georestrict_requests_total{result="enforced"} 2`,
		`caddy_georestrict_requests_total{result="dry_run"} 1`,
		`caddy_georestrict_requests_total{result="allowed"} 1`,
		`caddy_georestrict_enforced_total{action="block",country="RU",dry_run="false"} 2`,
		`caddy_georestrict_enforced_total{action="block",country="RU",dry_run="true"} 1`,
		fmt.Sprintf(`caddy_georestrict_register_orders{action="block",dry_run="false",hosts="",registers=%q} 5`, reg),
		fmt.Sprintf(`caddy_georestrict_register_orders{action="throttle",dry_run="false",hosts="",registers=%q} 1`, reg),
		fmt.Sprintf(`caddy_georestrict_register_orders{action="block",dry_run="true",hosts="microblog.example",registers=%q} 4`, reg),
		fmt.Sprintf(`caddy_georestrict_register_orders{action="throttle",dry_run="true",hosts="microblog.example",registers=%q} 1`, reg),
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		for line := range strings.SplitSeq(string(body), "\n") {
			if strings.HasPrefix(line, "caddy_georestrict_") {
				t.Log(line)
			}
		}
	}
}
