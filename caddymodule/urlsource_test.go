package caddymodule

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/georestrict/caddy-georestrict/source"
)

// origin is a real HTTP server that publishes a register (and its signature) the way a
// legal team's server would: with an ETag, answering conditional requests with 304, and
// able to fail in the ways origins fail.
type origin struct {
	mu       sync.Mutex
	body     []byte
	sig      []byte // served at <path>.sig when set
	mode     string // "", "500", "truncate"
	requests int
	notMod   int
	srv      *httptest.Server
}

func newOrigin(t *testing.T, body string) *origin {
	o := &origin{body: []byte(body)}
	o.srv = httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *origin) serve(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	body := o.body
	if strings.HasSuffix(r.URL.Path, ".sig") {
		if o.sig == nil {
			http.NotFound(w, r)
			return
		}
		body = o.sig
	} else {
		o.requests++
	}
	switch o.mode {
	case "500":
		http.Error(w, "the origin is unwell", http.StatusInternalServerError)
		return
	case "truncate":
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body[:len(body)/2])
		return
	}
	etag := fmt.Sprintf(`"%x"`, sha256.Sum256(body))
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		if !strings.HasSuffix(r.URL.Path, ".sig") {
			o.notMod++
		}
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(body)
}

func (o *origin) set(f func(o *origin)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f(o)
}

func (o *origin) counts() (requests, notModified int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.requests, o.notMod
}

// TestIntegrationURLSource fetches a register from a real HTTP origin: conditional requests,
// an origin that fails, a truncated body and a broken register (each refused, the version
// in force staying), a new version applied, and a restart while the origin is down, served
// from the last good copy in Caddy's storage. A node that never had a good copy refuses to
// start.
func TestIntegrationURLSource(t *testing.T) {
	dir := t.TempDir()
	db := testDatabase(t, dir)
	o := newOrigin(t, testRegister)
	url := o.srv.URL + "/registers/rkn.csv"
	config := func(u string) string {
		return fmt.Sprintf(`{
	admin localhost:2999
	http_port 9080
	grace_period 1ns
	storage file_system %s
	servers :9080 {
		trusted_proxies static 127.0.0.1/32
	}
}
http://localhost:9080 {
	geo_restrict {
		geoip_db %s
		register %s
		refresh 1s
	}
	respond "app"
}
`, dir+"/storage", db, u)
	}
	tester := caddytest.NewTester(t)
	tester.InitServer(config(url), "caddyfile")
	status := func(path string) int {
		res, _ := get(t, tester, "http://localhost:9080"+path, ipRussia)
		return res.StatusCode
	}
	if got := status("/someuser/status/123"); got != 451 {
		t.Fatalf("an order from the URL: %d, want 451", got)
	}
	waitFor(t, "a conditional request answered 304", func() bool { _, n := o.counts(); return n > 0 })

	// The origin fails, then sends half a body, then a broken register: each time the
	// version in force stays.
	for _, mode := range []string{"500", "truncate"} {
		o.set(func(o *origin) { o.mode = mode; o.body = []byte(testRegister + "url-9,RU,post:9,block,,,,,,\n") })
		before, _ := o.counts()
		waitFor(t, "a check against the "+mode+" origin", func() bool { n, _ := o.counts(); return n > before+1 })
		if got := status("/someuser/status/9"); got != 200 {
			t.Errorf("origin %s: post 9 is %d; the failed version must not apply", mode, got)
		}
		if got := status("/someuser/status/123"); got != 451 {
			t.Errorf("origin %s: post 123 is %d; the version in force must stay", mode, got)
		}
	}
	o.set(func(o *origin) { o.mode = ""; o.body = []byte(testRegister + "url-9,RX,post:9,block,,,,,,\n") })
	before, _ := o.counts()
	waitFor(t, "the broken register fetched", func() bool { n, _ := o.counts(); return n > before+1 })
	if got := status("/someuser/status/9"); got != 200 {
		t.Errorf("a broken register: post 9 is %d", got)
	}

	// A good new version is applied.
	o.set(func(o *origin) { o.body = []byte(testRegister + "url-9,RU,post:9,block,,,,,,\n") })
	waitFor(t, "the new version applied", func() bool { return status("/someuser/status/9") == 451 })

	// Restart with the origin down: the last good copy in storage is enforced.
	tester.InitServer(integrationGlobals+"http://localhost:9080 {\n\trespond \"no gateway\"\n}\n", "caddyfile")
	o.set(func(o *origin) { o.mode = "500" })
	tester.InitServer(config(url), "caddyfile")
	if got := status("/someuser/status/9"); got != 451 {
		t.Errorf("restarted with the origin down: post 9 is %d, want the stored copy's 451", got)
	}

	// A source that was never fetched has no copy: the node refuses to start with it.
	caddytest.AssertLoadError(t, config(o.srv.URL+"/registers/never.csv"), "caddyfile", "no good copy of it in storage")
}

// TestIntegrationSignedRegister: with verify_key, an unsigned or tampered register is refused
// (at start, and later with the version in force staying), and a signed one is applied.
func TestIntegrationSignedRegister(t *testing.T) {
	dir := t.TempDir()
	db := testDatabase(t, dir)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(body string) []byte {
		sig, err := source.Sign(priv, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	o := newOrigin(t, testRegister)
	config := fmt.Sprintf(`{
	admin localhost:2999
	http_port 9080
	grace_period 1ns
	storage file_system %s
	servers :9080 {
		trusted_proxies static 127.0.0.1/32
	}
}
http://localhost:9080 {
	geo_restrict {
		geoip_db %s
		register %s/rkn.csv
		verify_key %s
		refresh 1s
	}
	respond "app"
}
`, dir+"/storage", db, o.srv.URL, base64.StdEncoding.EncodeToString(pub))

	caddytest.AssertLoadError(t, config, "caddyfile", "rkn.csv")

	o.set(func(o *origin) { o.sig = sign(testRegister) })
	tester := caddytest.NewTester(t)
	tester.InitServer(config, "caddyfile")
	if res, _ := get(t, tester, "http://localhost:9080/someuser/status/123", ipRussia); res.StatusCode != 451 {
		t.Fatalf("a signed register: %d, want 451", res.StatusCode)
	}

	// A tampered version, its signature left as it was: refused, the signed one stays.
	tampered := testRegister + "evil,RU,post:9,block,,,,,,\n"
	o.set(func(o *origin) { o.body = []byte(tampered) })
	before, _ := o.counts()
	waitFor(t, "the tampered version fetched", func() bool { n, _ := o.counts(); return n > before+1 })
	if res, _ := get(t, tester, "http://localhost:9080/someuser/status/9", ipRussia); res.StatusCode != 200 {
		t.Errorf("a tampered register was applied: post 9 is %d", res.StatusCode)
	}
	// Signed by someone else: refused too.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	otherSig, _ := source.Sign(other, strings.NewReader(tampered))
	o.set(func(o *origin) { o.sig = otherSig })
	before, _ = o.counts()
	waitFor(t, "the version signed by another key fetched", func() bool { n, _ := o.counts(); return n > before+1 })
	if res, _ := get(t, tester, "http://localhost:9080/someuser/status/9", ipRussia); res.StatusCode != 200 {
		t.Errorf("a register signed by another key was applied: post 9 is %d", res.StatusCode)
	}
	// Signed properly: applied.
	o.set(func(o *origin) { o.sig = sign(tampered) })
	waitFor(t, "the signed version applied", func() bool {
		res, _ := get(t, tester, "http://localhost:9080/someuser/status/9", ipRussia)
		return res.StatusCode == 451
	})
}
