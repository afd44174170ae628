package caddymodule

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
	"golang.org/x/text/encoding/charmap"
)

// regulatorDump is a dump.xml as the Russian regulator publishes it: the real excerpt of
// ../shared/registers/rkn when it is there (it is not in the repository), else a register
// of generated entries for other sites. ours are entries added for the app's hosts.
func regulatorDump(t *testing.T, ours string) []byte {
	t.Helper()
	enc := func(s string) []byte {
		b, err := charmap.Windows1251.NewEncoder().Bytes([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	base, err := os.ReadFile("../../shared/registers/rkn/rkn_dump_2015-08-01.xml")
	if err != nil {
		var b strings.Builder
		b.WriteString(`<?xml version="1.0" encoding="windows-1251"?>` + "\n" +
			`<reg:register updateTime="2024-06-11T09:00:00+03:00" formatVersion="2.4" xmlns:reg="http://rsoc.ru">` + "\n")
		for i := range 2000 {
			fmt.Fprintf(&b, `<content id="%d" includeTime="2013-01-01T00:00:00" entryType="1" hash="H%d">`+
				`<decision date="2013-01-01" number="%d" org="ФСКН"/><url><![CDATA[http://site%d.example/page/%d]]></url>`+
				`<domain><![CDATA[site%d.example]]></domain><ip>192.0.2.%d</ip></content>`+"\n", i+1, i, i, i%97, i, i%97, i%250)
		}
		b.WriteString("</reg:register>\n")
		base = enc(b.String())
	}
	end := bytes.LastIndex(base, []byte("</reg:register>"))
	return append(append(append([]byte(nil), base[:end]...), enc(ours)...), base[end:]...)
}

// TestIntegrationRegulatorDump enforces the regulator's own register through a real Caddy:
// exactly the entries for the app's hosts are withheld, from Russia only; look-alike hosts,
// other sites' entries, reserved routes and whole-site entries are not; a truncated dump is
// refused with its position, and the version in force stays.
func TestIntegrationRegulatorDump(t *testing.T) {
	dir := t.TempDir()
	db := testDatabase(t, dir)
	ours := `<content id="9000001" includeTime="2015-07-31T10:00:00" entryType="1" hash="X1">` +
		`<decision date="2015-07-30" number="27-31-2015/Ид1" org="Генпрокуратура"/>` +
		`<url><![CDATA[https://twitter.example/someuser/status/715]]></url>` +
		`<url><![CDATA[https://mobile.twitter.example/someuser/status/716]]></url></content>` +
		`<content id="9000002" includeTime="2015-07-31T10:00:00" entryType="1" hash="X2">` +
		`<decision date="2015-07-30" number="2" org="суд"/><url><![CDATA[https://twitter.example/censoreduser]]></url></content>` +
		`<content id="9000003" includeTime="2015-07-31T10:00:00" entryType="1" hash="X3">` +
		`<decision date="2015-07-30" number="3" org="Роскомнадзор"/>` +
		`<url><![CDATA[https://twitter.example.evil.ru/someuser/status/717]]></url>` +
		`<url><![CDATA[https://thecannabist.co/someuser/status/718]]></url>` +
		`<url><![CDATA[https://twitter.example/search?q=x]]></url>` +
		`<url><![CDATA[https://twitter.example/explore]]></url></content>` +
		`<content id="9000004" includeTime="2015-07-31T10:00:00" entryType="1" hash="X4" blockType="domain">` +
		`<decision date="2015-07-30" number="4" org="Роскомнадзор"/><domain><![CDATA[twitter.example]]></domain></content>`
	dump := writeFile(t, dir, "dump.xml", string(regulatorDump(t, ours)))

	tester := caddytest.NewTester(t)
	tester.InitServer(integrationGlobals+fmt.Sprintf(`
http://localhost:9080 {
	geo_restrict {
		geoip_db %s
		register %s {
			notice https://transparency.twitter.example/rkn/{id}
		}
		hosts twitter.example mobile.twitter.example
		refresh 1s
	}
	respond "app"
}
`, db, dump), "caddyfile")

	for _, tc := range []struct {
		ip, path string
		want     int
		body     string
	}{
		{ipRussia, "/someuser/status/715", 451, "rkn-9000001"},
		{ipRussia, "/x/status/716", 451, "Генпрокуратура"},
		{ipRussia, "/censoreduser", 451, "rkn-9000002"},
		{ipRussia, "/explore", 451, "rkn-9000003"},
		{ipRussia, "/explore/tabs", 200, "app"},
		{ipRussia, "/search?q=x", 200, "app"},
		{ipRussia, "/someuser/status/717", 200, "app"},
		{ipRussia, "/someuser/status/718", 200, "app"},
		{ipRussia, "/", 200, "app"},
		{ipRussia, "/page/1", 200, "app"},
		{ipGermany, "/someuser/status/715", 200, "app"},
		{ipUS, "/censoreduser", 200, "app"},
	} {
		res, body := get(t, tester, "http://localhost:9080"+tc.path, tc.ip, "Accept", "application/json")
		if res.StatusCode != tc.want || !strings.Contains(body, tc.body) {
			t.Errorf("%s from %s: %d %q, want %d with %q", tc.path, tc.ip, res.StatusCode, body, tc.want, tc.body)
		}
	}
	if res, body := get(t, tester, "http://localhost:9080/someuser/status/715", ipRussia, "Accept", "application/json"); !strings.Contains(body, "https://transparency.twitter.example/rkn/9000001") {
		t.Errorf("the notice template was not filled in: %d %s", res.StatusCode, body)
	}

	// A dump cut short is refused: when it arrives, with the version in force staying,
	// and at start, with its position.
	full, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, dump, full[:len(full)-200])
	waitFor(t, "the cut dump checked", func() bool {
		res, err := tester.Client.Get("http://localhost:2999/metrics")
		if err != nil {
			return false
		}
		text, err := io.ReadAll(res.Body)
		res.Body.Close()
		return err == nil && metricValue(string(text), "caddy_georestrict_source_failures_total", `source="`+dump+`"`) == "1"
	})
	if res, _ := get(t, tester, "http://localhost:9080/someuser/status/715", ipRussia); res.StatusCode != 451 {
		t.Errorf("after a cut dump: %d, want the version in force's 451", res.StatusCode)
	}
	cut := writeFile(t, dir, "cut.xml", string(full[:len(full)-200]))
	caddytest.AssertLoadError(t, integrationGlobals+fmt.Sprintf(`
http://localhost:9080 {
	geo_restrict {
		geoip_db %s
		register %s
		hosts twitter.example
	}
}
`, db, cut), "caddyfile", "register "+cut+": line ")
}
