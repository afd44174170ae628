package caddymodule

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/georestrict/caddy-georestrict/blocklist"
)

func TestRegisterSourceJSON(t *testing.T) {
	tests := []struct {
		name, in string
		want     RegisterSource
		out      string // as written back
		err      string
	}{
		{"path", `"/etc/r.csv"`, RegisterSource{Path: "/etc/r.csv"}, `"/etc/r.csv"`, ""},
		{"object", `{"path": "/etc/r.csv", "allow_empty": true}`, RegisterSource{Path: "/etc/r.csv", AllowEmpty: true}, `{"path":"/etc/r.csv","allow_empty":true}`, ""},
		{"object with only a path reads back as the path", ` {"path": "/etc/r.csv"}`, RegisterSource{Path: "/etc/r.csv"}, `"/etc/r.csv"`, ""},
		{"no path", `{"allow_empty": true}`, RegisterSource{}, "", `register: "path" is required`},
		{"null", `null`, RegisterSource{}, "", `register: "path" is required`},
		{"unknown option", `{"path": "/etc/r.csv", "allow_emtpy": true}`, RegisterSource{}, "", `register: want a path or {"path": ..., "allow_empty": true, ...}: json: unknown field "allow_emtpy"`},
		{"number", `7`, RegisterSource{}, "", `register: want a path or {"path": ..., "allow_empty": true, ...}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got RegisterSource
			err := json.Unmarshal([]byte(tc.in), &got)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %+v, %v; want an error containing %s", got, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
			out, err := json.Marshal(got)
			if err != nil || string(out) != tc.out {
				t.Errorf("written back as %s, %v; want %s", out, err, tc.out)
			}
		})
	}

	// In the handler's config, both forms mix.
	var h Handler
	cfg := `{"registers": ["a.csv", {"path": "b.csv", "allow_empty": true}]}`
	if err := json.Unmarshal([]byte(cfg), &h); err != nil {
		t.Fatal(err)
	}
	if want := []RegisterSource{{Path: "a.csv"}, {Path: "b.csv", AllowEmpty: true}}; !reflect.DeepEqual(h.Registers, want) {
		t.Errorf("registers = %+v, want %+v", h.Registers, want)
	}
	out, err := json.Marshal(h)
	if err != nil || string(out) != `{"registers":["a.csv",{"path":"b.csv","allow_empty":true}]}` {
		t.Errorf("handler written back as %s, %v", out, err)
	}
}

// A register without orders would lift every order it held: it is refused
// unless its source allows that.
func TestHandlerEmptyRegister(t *testing.T) {
	dir := t.TempDir()
	db := testDatabase(t, dir)
	empty := writeFile(t, dir, "holds.csv", registerHdr)
	good := writeFile(t, dir, "good.csv", testRegister)

	h := &Handler{GeoIPDB: db, Registers: registers(good, empty)}
	err := h.Provision(newTestContext(t))
	_ = h.Cleanup()
	if want := "register " + empty + ": no orders (a source that may have none must say so with allow_empty)"; err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}

	allowed := &Handler{GeoIPDB: db, Registers: []RegisterSource{{Path: good}, {Path: empty, AllowEmpty: true}}}
	provisionHandler(t, allowed)
	assertStatus(t, allowed, "/someuser/status/123", 451)
	assertStatus(t, allowed, "/someuser/status/124", 200)

	// Whether a file may be empty decides whether it loads: it is part of
	// the key under which the loaded register is shared.
	strict := &Handler{GeoIPDB: db, Registers: registers(good)}
	lenient := &Handler{GeoIPDB: db, Registers: []RegisterSource{{Path: good, AllowEmpty: true}}}
	provisionHandler(t, strict)
	provisionHandler(t, lenient)
	if strict.poolKeys[1] == lenient.poolKeys[1] {
		t.Errorf("allow_empty does not change the pool key %q", strict.poolKeys[1])
	}
}

// Reserved route names come with the patterns; configured ones replace the
// defaults.
func TestHandlerReserved(t *testing.T) {
	dir := t.TempDir()
	db := testDatabase(t, dir)
	reg := writeFile(t, dir, "r.csv", "id,countries,target\n"+
		"search,RU,https://microblog.example/search\n"+
		"old-link,RU,https://microblog.example/#!/someuser/status/715\n")

	defaults := &Handler{GeoIPDB: db, Registers: registers(reg)}
	provisionHandler(t, defaults)
	assertStatus(t, defaults, "/search", 451)
	assertStatus(t, defaults, "/search/live", 200) // an exact path, not an account
	assertStatus(t, defaults, "/someuser/status/715", 451)
	assertStatus(t, defaults, "/", 200)

	custom := &Handler{GeoIPDB: db, Registers: registers(reg), Reserved: []string{"jobs"}}
	provisionHandler(t, custom)
	assertStatus(t, custom, "/search/live", 451) // "search" is an account now
	if custom.poolKeys[1] == defaults.poolKeys[1] {
		t.Errorf("reserved names do not change the pool key %q", custom.poolKeys[1])
	}

	bad := &Handler{GeoIPDB: db, Registers: registers(reg), Reserved: []string{"@home"}}
	err := bad.Provision(newTestContext(t))
	_ = bad.Cleanup()
	if want := `patterns: reserved name "@home": write it without @`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// Orders skipped for a foreign host are logged at warn level with their
// ids, the first 20 of them.
func TestRegisterLogsSkippedOrders(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id,countries,target\nours,RU,https://microblog.example/someuser\n")
	for i := range 30 {
		b.WriteString("other-" + strings.Repeat("x", i) + ",RU,https://elsewhere.example/a\n")
	}
	reg := writeFile(t, dir, "r.csv", b.String())
	core, logs := observer.New(zapcore.InfoLevel)
	opts := blocklist.Options{Hosts: []string{"microblog.example"}}
	_, key, err := loadLiveRegister(newTestContext(t), liveSettings{sources: registers(reg), opts: opts}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer releaseResource(key)

	warn := logs.FilterLevelExact(zapcore.WarnLevel).All()
	if len(warn) != 1 {
		t.Fatalf("%d warnings, want 1: %v", len(warn), logs.All())
	}
	fields := warn[0].ContextMap()
	ids, _ := fields["first_ids"].([]any)
	if fields["skipped"] != int64(30) || len(ids) != 20 || ids[0] != "other-" || ids[19] != "other-"+strings.Repeat("x", 19) {
		t.Errorf("warning %q with %v", warn[0].Message, fields)
	}

	// A register with nothing skipped warns of nothing.
	core, logs = observer.New(zapcore.InfoLevel)
	_, key2, err := loadLiveRegister(newTestContext(t), liveSettings{sources: registers(writeFile(t, dir, "own.csv", testRegister)), opts: opts}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer releaseResource(key2)
	if n := logs.FilterLevelExact(zapcore.WarnLevel).Len(); n != 0 || logs.FilterMessage("register loaded").Len() != 1 {
		t.Errorf("%d warnings for a register without skipped orders: %v", n, logs.All())
	}
}

// Through a real Caddy: a register without orders is refused with a message
// that names it and says how to allow it, and loads with allow_empty, in the
// Caddyfile and in JSON; reserved names are configured alongside patterns.
func TestIntegrationRegisterSources(t *testing.T) {
	dir := t.TempDir()
	db := testDatabase(t, dir)
	good := writeFile(t, dir, testRegCSV, testRegister)
	empty := writeFile(t, dir, "holds.csv", registerHdr)
	config := func(registerLines string) string {
		return integrationGlobals + fmt.Sprintf(`
http://localhost:9080 {
	geo_restrict {
		geoip_db %s
		%s
	}
	respond "app"
}
`, db, registerLines)
	}

	caddytest.AssertLoadError(t, config("register "+good+" "+empty), "caddyfile",
		"register "+empty+": no orders (a source that may have none must say so with allow_empty)")

	tester := caddytest.NewTester(t)
	tester.InitServer(config("register "+good+"\n\t\tregister "+empty+" {\n\t\t\tallow_empty\n\t\t}"), "caddyfile")
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/someuser/status/123", 451},
		{"/someuser/status/124", 200},
	} {
		if res, body := get(t, tester, "http://localhost:9080"+tc.path, ipRussia); res.StatusCode != tc.status {
			t.Errorf("allow_empty: %s: %d %q, want %d", tc.path, res.StatusCode, body, tc.status)
		}
	}

	// The JSON form of the same, with an object for the empty source.
	tester.InitServer(fmt.Sprintf(`{
		"admin": {"listen": "localhost:2999"},
		"apps": {"http": {
			"http_port": 9080,
			"grace_period": 1,
			"servers": {"gateway": {
				"listen": [":9080"],
				"trusted_proxies": {"source": "static", "ranges": ["127.0.0.1/32"]},
				"routes": [{"handle": [
					{"handler": "geo_restrict", "geoip_db": %q, "registers": [%q, {"path": %q, "allow_empty": true}]},
					{"handler": "static_response", "body": "app"}
				]}]
			}}
		}}
	}`, db, good, empty), "json")
	if res, body := get(t, tester, "http://localhost:9080/someuser/status/123", ipRussia); res.StatusCode != 451 {
		t.Errorf("JSON allow_empty: %d %q, want 451", res.StatusCode, body)
	}

	// Reserved names: by default /search in a register is that page; with
	// "reserved jobs" the defaults are replaced and "search" is an account.
	urls := writeFile(t, dir, "urls.csv", "id,countries,target\n"+
		"search,RU,https://microblog.example/search\n"+
		"old-link,RU,https://microblog.example/#!/someuser/status/715\n")
	for _, tc := range []struct {
		name, lines string
		want        map[string]int
	}{
		{"default reserved", "register " + urls, map[string]int{"/search": 451, "/search/live": 200, "/someuser/status/715": 451, "/": 200}},
		{"reserved jobs", "register " + urls + "\n\t\treserved jobs", map[string]int{"/search": 451, "/search/live": 451, "/someuser/status/715": 451, "/": 200}},
	} {
		tester.InitServer(config(tc.lines), "caddyfile")
		for path, status := range tc.want {
			if res, body := get(t, tester, "http://localhost:9080"+path, ipRussia); res.StatusCode != status {
				t.Errorf("%s: %s: %d %q, want %d", tc.name, path, res.StatusCode, body, status)
			}
		}
	}
}
