package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/georestrict/caddy-georestrict/source"
)

// runGeoRestrict runs `caddy geo-restrict <args>` as Caddy's command line
// would, from the command this package registers, and returns what it
// printed. A non-nil error is what makes Caddy exit with status 1.
func runGeoRestrict(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd, ok := caddycmd.Commands()["geo-restrict"]
	if !ok {
		t.Fatal("the geo-restrict command is not registered")
	}
	root := &cobra.Command{Use: cmd.Name, SilenceUsage: true, SilenceErrors: true}
	cmd.CobraFunc(root)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestCommandValidate(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.csv", testRegister)
	holds := writeFile(t, dir, "holds.csv", registerHdr+"court-1,DE,account:someone,block,Landgericht Berlin,,,,,\n")
	broken := writeFile(t, dir, "broken.csv", registerHdr+
		"x-1,RU,post:1,block,Roskomnadzor,,,,2024-13-01,\n"+
		"x-2,RX,post:2,block,Roskomnadzor,,,,,\n"+
		"rkn-1,RU,post:3,block,Roskomnadzor,,,,,\n") // rkn-1 is good.csv's too
	dump := writeFile(t, dir, "dump.xml", `<?xml version="1.0" encoding="windows-1251"?>
<reg:register updateTime="2024-06-11T09:00:00+03:00" formatVersion="2.4" xmlns:reg="http://rsoc.ru">
<content id="100" includeTime="2024-06-01T12:00:00" entryType="1" hash="A">
<decision date="2024-05-30" number="27-31-2024" org="Roskomnadzor"/>
<url><![CDATA[https://microblog.example/someuser/status/123]]></url>
<domain><![CDATA[microblog.example]]></domain>
</content>
<content id="101" includeTime="2024-06-02T12:00:00" entryType="1" hash="B">
<decision date="2024-05-31" number="3" org="Roskomnadzor"/>
<url><![CDATA[https://microblog.example.evil.ru/someuser/status/999]]></url>
</content>
<content id="102" includeTime="2024-06-02T12:00:00" entryType="1" hash="C">
<decision date="2024-05-31" number="4" org="Roskomnadzor"/>
<url><![CDATA[https://microblog.example/search?q=x]]></url>
</content>
<content id="103" includeTime="2024-06-02T12:00:00" entryType="1" hash="D" blockType="ip">
<decision date="2024-05-31" number="7" org="Roskomnadzor"/>
<ip>192.0.2.1</ip>
</content>
</reg:register>
`)
	truncated := writeFile(t, dir, "truncated.xml", `<?xml version="1.0" encoding="windows-1251"?>
<reg:register updateTime="2024-06-11T09:00:00+03:00" formatVersion="2.4" xmlns:reg="http://rsoc.ru">
<content id="100" includeTime="2024-06-01T12:00:00" entryType="1" hash="A">
<decision date="2024-05-30" number="27-31-2024" org="Roskomnadzor"/>
<url><![CDATA[https://microblog.ex`)
	urls := writeFile(t, dir, "letter.txt", "# from the letter of 2024-06-01\nhttps://microblog.example/someuser/status/777\n")

	tests := []struct {
		name    string
		args    []string
		want    []string // lines of the output, in order
		wantErr string
	}{
		{"one register", []string{"validate", good}, []string{
			good + ": 4 orders",
			"\tby action:  block 3, throttle 1",
			"\tby country: BY 1, DE 1, RU 3",
			"ok: 4 orders (3 block, 1 throttle)",
		}, ""},
		{"two registers, as one", []string{"validate", good, holds}, []string{
			good + ": 4 orders",
			"\tby action:  block 3, throttle 1",
			"\tby country: BY 1, DE 1, RU 3",
			holds + ": 1 orders",
			"\tby action:  block 1",
			"\tby country: DE 1",
			"ok: 5 orders (4 block, 1 throttle)",
		}, ""},
		{"every problem at once, with file, line and field", []string{"validate", good, broken}, []string{
			"register " + broken + ": line 2: start: ",
			"register " + broken + ": line 3: countries: ",
			"register " + broken + ": line 4: id: ",
		}, "refused: 3 problems"},
		{"a regulator's register", []string{"validate", "--hosts", "microblog.example", dump}, []string{
			dump + ": 1 orders",
			"\tby action:  block 1",
			"\tby country: RU 1",
			"published: rkn-xml, updated 2024-06-11T09:00:00+03:00, format version 2.4",
			"not enforced: cannot be an order 1, network 1, other host 1",
			"entries for the site that are not orders (the first of them):",
			"\t" + dump + ":12: rkn-102: ",
			"ok: 1 orders (1 block, 0 throttle)",
		}, ""},
		{"a truncated regulator's register", []string{"validate", "--hosts", "microblog.example", truncated}, []string{
			"register " + truncated + ": line 5: ",
		}, "refused: 1 problems"},
		{"a URL list needs its countries", []string{"validate", "--format", "urls", urls}, []string{
			"register " + urls + ": a URL list says nothing of where its orders apply",
		}, "refused: 1 problems"},
		{"a URL list", []string{"validate", "--format", "urls", "--countries", "ru", "--hosts", "microblog.example", urls}, []string{
			urls + ": 1 orders",
			"\tby action:  block 1",
			"\tby country: RU 1",
			"published: urls",
			"ok: 1 orders (1 block, 0 throttle)",
		}, ""},
		{"unknown format", []string{"validate", "--format", "xls", good}, nil, "--format: "},
		{"bad host", []string{"validate", "--hosts", "https://microblog.example", good}, nil, "--hosts: "},
		{"unknown country", []string{"validate", "--countries", "RX", good}, nil, `--countries: unknown country code "RX"`},
		{"no register", []string{"validate"}, nil, "requires at least 1 arg"},
		{"missing file", []string{"validate", filepath.Join(dir, "nope.csv")}, []string{
			"register " + filepath.Join(dir, "nope.csv") + ": ",
		}, "refused: 1 problems"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runGeoRestrict(t, tc.args...)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("exit status 1: %v\n%s", err, out)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want one containing %q\n%s", err, tc.wantErr, out)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if tc.want == nil {
				return
			}
			if len(lines) != len(tc.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(tc.want), out)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("line %d: %q, want it to start with %q", i+1, lines[i], w)
				}
			}
		})
	}
}

// The regulator's real registers, when the excerpts are at hand: they load,
// and nothing in them is an order for a site they do not name.
func TestCommandValidateRealExcerpts(t *testing.T) {
	excerpt := "../../shared/registers/rkn/rkn_dump_2015-08-01.xml"
	if _, err := os.Stat(excerpt); err != nil {
		t.Skipf("no excerpt at %s", excerpt)
	}
	out, err := runGeoRestrict(t, "validate", "--hosts", "microblog.example", excerpt)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, ": 0 orders\n") || !regexp.MustCompile(`not enforced: other host \d+`).MatchString(out) {
		t.Errorf("output:\n%s", out)
	}
}

func TestCommandExplain(t *testing.T) {
	dir := t.TempDir()
	db := testDatabase(t, dir)
	reg := writeFile(t, dir, "register.csv", testRegister)
	caddyfile := writeFile(t, dir, "Caddyfile", `{
	admin off
}
https://microblog.example, https://www.microblog.example {
	geo_restrict {
		geoip_db `+db+`
		register `+reg+`
	}
	respond "app"
}
http://mirror.example:8080 {
	route {
		geo_restrict {
			geoip_db `+db+`
			register `+reg+`
			dry_run
		}
	}
	respond "mirror"
}
`)
	jsonConfig := writeFile(t, dir, "caddy.json", `{"apps": {"http": {"servers": {"gateway": {
		"listen": [":9080"],
		"routes": [{"handle": [
			{"handler": "geo_restrict", "geoip_db": "`+db+`", "registers": ["`+reg+`"], "unknown_country": "block"}
		]}]
	}}}}}`)

	tests := []struct {
		name    string
		args    []string
		want    []string // site name, verdict and answer of each handler
		wantErr string
	}{
		{"Caddyfile", []string{"explain", "--config", caddyfile, "--adapter", "caddyfile", "--ip", ipRussia, "--url", "https://microblog.example/someuser/status/123"}, []string{
			"srv0 (:443) microblog.example, www.microblog.example: applies: 451",
			"srv1 (:8080) mirror.example: applies: pass",
		}, ""},
		{"Caddyfile, elsewhere", []string{"explain", "--config", caddyfile, "--adapter", "caddyfile", "--ip", ipUS, "--url", "/someuser/status/123"}, []string{
			"srv0 (:443) microblog.example, www.microblog.example: listed elsewhere: pass",
			"srv1 (:8080) mirror.example: listed elsewhere: pass",
		}, ""},
		{"JSON, unknown country blocked", []string{"explain", "--config", jsonConfig, "--ip", ipPrivate, "--url", "/someuser/status/123"}, []string{
			"gateway (:9080): applies: 451",
		}, ""},
		{"no ip", []string{"explain", "--config", caddyfile, "--url", "/"}, nil, "--ip is required"},
		{"bad ip", []string{"explain", "--config", caddyfile, "--ip", "x", "--url", "/"}, nil, `ip: "x" is not an IP address`},
		{"missing config", []string{"explain", "--config", filepath.Join(dir, "nope"), "--ip", ipUS, "--url", "/"}, nil, "nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runGeoRestrict(t, tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q\n%s", err, tc.wantErr, out)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var res explainResult
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("output is not explain's JSON: %v\n%s", err, out)
			}
			var got []string
			for _, h := range res.Handlers {
				got = append(got, h.Site.Name+": "+h.Verdict+": "+h.Answer.Answer)
				if h.Database != db {
					t.Errorf("database %q, want %q", h.Database, db)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("handlers:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// The signing flow a legal team follows: keygen, sign, verify, and a
// gateway with verify_key that takes the signed register and refuses a
// tampered one.
func TestCommandsSignAndVerify(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "legal.key"), filepath.Join(dir, "legal.pub")
	out, err := runGeoRestrict(t, "keygen", "--private", priv, "--public", pub)
	if err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(?m)^verify_key (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keygen printed no verify_key line:\n%s", out)
	}
	text, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	fromFile, err := source.ParsePublicKey(text)
	if err != nil {
		t.Fatal(err)
	}
	fromLine, err := source.ParsePublicKey([]byte(m[1]))
	if err != nil || !fromLine.Equal(fromFile) {
		t.Fatalf("printed key %q is not the public key file's (%v)", m[1], err)
	}
	if fi, err := os.Stat(priv); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("private key file: %v, %v; want mode 0600", fi.Mode(), err)
	}
	if _, err := runGeoRestrict(t, "keygen", "--private", priv, "--public", pub); err == nil {
		t.Error("keygen overwrote an existing key")
	}

	a := writeFile(t, dir, "a.csv", testRegister)
	b := writeFile(t, dir, "b.csv", registerHdr+"court-1,DE,account:someone,block,Landgericht Berlin,,,,,\n")
	unsigned := writeFile(t, dir, "unsigned.csv", testRegister)
	out, err = runGeoRestrict(t, "sign", "--key", priv, a, b)
	if err != nil {
		t.Fatalf("sign: %v\n%s", err, out)
	}
	if want := "signed " + a + ": " + a + ".sig\nsigned " + b + ": " + b + ".sig\n"; out != want {
		t.Errorf("sign printed\n%s\nwant\n%s", out, want)
	}
	if _, err := runGeoRestrict(t, "sign", "--key", pub, a); err == nil {
		t.Error("sign took a public key as the private key")
	}

	for _, key := range []string{pub, m[1]} {
		out, err = runGeoRestrict(t, "verify", "--key", key, a, b)
		if err != nil || out != "ok "+a+"\nok "+b+"\n" {
			t.Errorf("verify --key %s: %v\n%s", key, err, out)
		}
	}

	// A gateway with the public key takes the signed register.
	h := &Handler{GeoIPDB: testDatabase(t, dir), Registers: registers(a), VerifyKey: pub}
	provisionHandler(t, h)
	assertStatus(t, h, "/someuser/status/123", 451)

	// Someone edits a signed register: verify says which file fails, and a
	// gateway refuses it.
	writeFile(t, dir, "a.csv", testRegister+"rkn-9,RU,post:9,block,Roskomnadzor,,,,,\n")
	out, err = runGeoRestrict(t, "verify", "--key", pub, a, b, unsigned)
	if err == nil || !strings.Contains(err.Error(), "not verified: "+a+", "+unsigned) {
		t.Errorf("verify of a tampered and an unsigned register: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "FAILED "+a+": ") || lines[1] != "ok "+b || !strings.HasPrefix(lines[2], "FAILED "+unsigned+": ") {
		t.Errorf("verify printed:\n%s", out)
	}
	tampered := &Handler{GeoIPDB: h.GeoIPDB, Registers: registers(a), VerifyKey: pub}
	err = tampered.Provision(newTestContext(t))
	_ = tampered.Cleanup()
	if !errors.Is(err, source.ErrSignature) {
		t.Errorf("a gateway took a tampered register: %v", err)
	}
	other := &Handler{GeoIPDB: h.GeoIPDB, Registers: registers(unsigned), VerifyKey: pub}
	err = other.Provision(newTestContext(t))
	_ = other.Cleanup()
	if err == nil || !strings.Contains(err.Error(), unsigned+".sig") {
		t.Errorf("a gateway took an unsigned register: %v", err)
	}

	// Signing it again is the fix.
	if out, err := runGeoRestrict(t, "sign", "--key", priv, a); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := runGeoRestrict(t, "verify", "--key", pub, a); err != nil {
		t.Errorf("verify after signing again: %v\n%s", err, out)
	}
	if entries, _ := filepath.Glob(filepath.Join(dir, ".*sig-*")); len(entries) != 0 {
		t.Errorf("sign left temporary files: %v", entries)
	}
}
