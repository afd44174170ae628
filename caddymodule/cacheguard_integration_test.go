package caddymodule

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/quic-go/quic-go/http3"
)

// The shared-cache guard through a real Caddy: every kind of app behind it
// (reverse_proxy, a streaming reverse_proxy, file_server, respond), over
// HTTP/1.1, HTTP/2 and HTTP/3, each app reachable three ways by host name:
// <app>.guard.test behind geo_restrict with the default shared_cache guard,
// <app>.allow.test behind geo_restrict with shared_cache allow, and
// <app>.plain.test without geo_restrict, which is what the app sends.

const (
	postListed   = "/someuser/status/123" // withheld in Russia
	postUnlisted = "/someuser/status/124" // no order anywhere
	appCacheCtl  = "public, max-age=600"
)

// cacheApps starts the upstreams and writes the files the apps serve, and
// returns the handlers of each app.
type cacheApps struct {
	proxy, stream, files string
	// release lets the streaming upstream go on after its first chunk;
	// it is buffered so that the client never waits on it.
	release chan struct{}
}

func newCacheApps(t *testing.T) *cacheApps {
	t.Helper()
	a := &cacheApps{release: make(chan struct{}, 1), files: t.TempDir()}

	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery == "hints" {
			w.Header().Set("Link", "</style.css>; rel=preload; as=style")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
		}
		w.Header().Set("Cache-Control", appCacheCtl)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "post %s\n", r.URL.Path)
	}))
	t.Cleanup(proxy.Close)
	a.proxy = proxy.Listener.Addr().String()

	stream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // a token left by an earlier request that timed out
		case <-a.release:
		default:
		}
		w.Header().Set("Cache-Control", appCacheCtl)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "post %s\n", r.URL.Path)
		http.NewResponseController(w).Flush()
		// The client releases the rest only once it has the first
		// chunk: a response held back until the end shows as "held".
		select {
		case <-a.release:
			fmt.Fprint(w, "streamed\n")
		case <-time.After(10 * time.Second):
			fmt.Fprint(w, "held\n")
		}
	}))
	t.Cleanup(stream.Close)
	a.stream = stream.Listener.Addr().String()

	for _, p := range []string{postListed, postUnlisted} {
		if err := os.MkdirAll(filepath.Join(a.files, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, a.files, p, "post "+p+"\n")
	}
	return a
}

// handlers returns the JSON handler list of app.
func (a *cacheApps) handlers(app string) string {
	switch app {
	case "proxy":
		return fmt.Sprintf(`{"handler": "reverse_proxy", "upstreams": [{"dial": %q}]}`, a.proxy)
	case "stream":
		return fmt.Sprintf(`{"handler": "reverse_proxy", "flush_interval": -1, "upstreams": [{"dial": %q}]}`, a.stream)
	case "files":
		return fmt.Sprintf(`{"handler": "headers", "response": {"set": {"Cache-Control": [%q]}}},
			{"handler": "file_server", "root": %q}`, appCacheCtl, a.files)
	case "respond":
		return fmt.Sprintf(`{"handler": "static_response", "headers": {"Cache-Control": [%q], "Content-Type": ["text/plain; charset=utf-8"]},
			"body": "post {http.request.uri.path}\n"}`, appCacheCtl)
	}
	panic(app)
}

var cacheAppNames = []string{"proxy", "stream", "files", "respond"}

func cacheGuardConfig(t *testing.T, a *cacheApps) string {
	dir := t.TempDir()
	geo := func(mode string) string {
		return fmt.Sprintf(`{"handler": "geo_restrict", "geoip_db": %q, "registers": [%q], "shared_cache": %q},`,
			testDatabase(t, dir), writeFile(t, dir, testRegCSV, testRegister), mode)
	}
	var routes []string
	for _, app := range cacheAppNames {
		for _, mode := range []string{"guard", "allow", "plain"} {
			g := ""
			if mode != "plain" {
				g = geo(mode)
			}
			routes = append(routes, fmt.Sprintf(`{"match": [{"host": ["%s.%s.test"]}], "handle": [%s %s], "terminal": true}`,
				app, mode, g, a.handlers(app)))
		}
	}
	return fmt.Sprintf(`{
		"admin": {"listen": "localhost:2999"},
		"apps": {
			"tls": {"certificates": {"load_files": [{"certificate": "/caddy.localhost.crt", "key": "/caddy.localhost.key"}]}},
			"http": {"grace_period": 1, "servers": {"edge": {
				"listen": ["127.0.0.1:9443"],
				"protocols": ["h1", "h2", "h3"],
				"automatic_https": {"disable": true},
				"tls_connection_policies": [{}],
				"trusted_proxies": {"source": "static", "ranges": ["127.0.0.1/32"]},
				"routes": [%s]
			}}}
		}
	}`, strings.Join(routes, ",\n"))
}

type protoClient struct {
	name   string
	major  int
	client *http.Client
}

// protoClients returns one client per HTTP version, all speaking TLS to
// 127.0.0.1:9443 with the name of caddytest's certificate.
func protoClients(t *testing.T) []protoClient {
	tlsConfig := &tls.Config{ServerName: "a.caddy.localhost", InsecureSkipVerify: true}
	h1 := &http.Transport{TLSClientConfig: tlsConfig, Protocols: new(http.Protocols)}
	h1.Protocols.SetHTTP1(true)
	h2 := &http.Transport{TLSClientConfig: tlsConfig, Protocols: new(http.Protocols)}
	h2.Protocols.SetHTTP2(true)
	h3 := &http3.Transport{TLSClientConfig: tlsConfig}
	t.Cleanup(func() {
		h1.CloseIdleConnections()
		h2.CloseIdleConnections()
		_ = h3.Close()
	})
	return []protoClient{
		{"HTTP/1.1", 1, &http.Client{Transport: h1, Timeout: 30 * time.Second}},
		{"HTTP/2", 2, &http.Client{Transport: h2, Timeout: 30 * time.Second}},
		{"HTTP/3", 3, &http.Client{Transport: h3, Timeout: 30 * time.Second}},
	}
}

// fetched is what a client got: the final response's header, the
// informational responses' headers, the body's first line (the post it
// served) and the rest.
type fetched struct {
	status        int
	header        http.Header
	informational []http.Header
	first, rest   string
}

// fetch asks host for path from clientIP (by X-Forwarded-For). It reads
// the body's first line, then releases the streaming upstream, then reads
// the rest.
func (a *cacheApps) fetch(t *testing.T, pc protoClient, host, target, clientIP string) fetched {
	t.Helper()
	var ans fetched
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		ans.informational = append(ans.informational, http.Header(h).Clone())
		return nil
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, "https://127.0.0.1:9443"+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("X-Forwarded-For", clientIP)
	res, err := pc.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s over %s: %v", host, target, pc.name, err)
	}
	defer res.Body.Close()
	if res.ProtoMajor != pc.major {
		t.Fatalf("answered over %s, want %s", res.Proto, pc.name)
	}
	body := bufio.NewReader(res.Body)
	ans.first, err = body.ReadString('\n')
	if err != nil && err != io.EOF {
		t.Fatalf("reading the first line: %v", err)
	}
	select {
	case a.release <- struct{}{}:
	default:
	}
	rest, err := io.ReadAll(body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	ans.status, ans.header, ans.rest = res.StatusCode, res.Header, string(rest)
	return ans
}

// withoutDate drops the fields that differ from one response to the next.
func withoutDate(h http.Header) http.Header {
	h = h.Clone()
	h.Del("Date")
	return h
}

func TestIntegrationSharedCacheGuard(t *testing.T) {
	apps := newCacheApps(t)
	tester := caddytest.NewTester(t)
	tester.InitServer(cacheGuardConfig(t, apps), "json")

	for _, pc := range protoClients(t) {
		t.Run(pc.name, func(t *testing.T) {
			for _, app := range cacheAppNames {
				t.Run(app, func(t *testing.T) {
					get := func(mode, path, ip string) fetched {
						t.Helper()
						ans := apps.fetch(t, pc, app+"."+mode+".test", path, ip)
						if ans.status != http.StatusOK || ans.first != "post "+path+"\n" {
							t.Fatalf("%s %s from %s: %d %q, want 200 and the post", mode, path, ip, ans.status, ans.first)
						}
						if app == "stream" && ans.rest != "streamed\n" {
							t.Errorf("%s %s: the rest is %q: the first chunk did not arrive before the upstream finished", mode, path, ans.rest)
						}
						return ans
					}
					listedPlain := get("plain", postListed, ipGermany)

					// Germany asks for a post withheld in Russia: passed
					// on, and marked private. Nothing else changes.
					listed := get("guard", postListed, ipGermany)
					want := withoutDate(listedPlain.header)
					want.Set("Cache-Control", "private, max-age=600")
					want.Set("CDN-Cache-Control", "no-store")
					if got := withoutDate(listed.header); !maps.EqualFunc(got, want, slices.Equal) {
						t.Errorf("listed elsewhere, guarded:\n got %v\nwant %v", got, want)
					}

					// shared_cache allow: exactly what the app sent.
					allowed := get("allow", postListed, ipGermany)
					if got, want := withoutDate(allowed.header), withoutDate(listedPlain.header); !maps.EqualFunc(got, want, slices.Equal) {
						t.Errorf("listed elsewhere, shared_cache allow:\n got %v\nwant %v", got, want)
					}

					// A post no order names: the app's header, byte for
					// byte, from anywhere.
					unlistedPlain := get("plain", postUnlisted, ipRussia)
					if got := unlistedPlain.header.Values("Cache-Control"); !slices.Equal(got, []string{appCacheCtl}) {
						t.Fatalf("the app sent Cache-Control %q, want %q", got, appCacheCtl)
					}
					for _, ip := range []string{ipRussia, ipGermany} {
						unlisted := get("guard", postUnlisted, ip)
						if got, want := withoutDate(unlisted.header), withoutDate(unlistedPlain.header); !maps.EqualFunc(got, want, slices.Equal) {
							t.Errorf("unlisted, guarded, from %s:\n got %v\nwant %v", ip, got, want)
						}
					}

					// Russia still gets the 451, with no-store.
					withheld := apps.fetch(t, pc, app+".guard.test", postListed, ipRussia)
					if withheld.status != 451 || withheld.header.Get("Cache-Control") != "no-store" {
						t.Errorf("Russia got %d, Cache-Control %q; want 451, no-store", withheld.status, withheld.header.Get("Cache-Control"))
					}
				})
			}

			// Early hints from the app reach the client unmarked; the
			// final response is marked.
			t.Run("103 Early Hints", func(t *testing.T) {
				ans := apps.fetch(t, pc, "proxy.guard.test", postListed+"?hints", ipGermany)
				if len(ans.informational) != 1 || ans.informational[0].Get("Link") == "" {
					t.Fatalf("informational responses: %v, want one 103 with a Link", ans.informational)
				}
				if h := ans.informational[0]; h.Get("Cache-Control") != "" || h.Get("CDN-Cache-Control") != "" {
					t.Errorf("the 103 was marked: %v", h)
				}
				if ans.status != 200 || ans.header.Get("Cache-Control") != "private, max-age=600" || ans.header.Get("CDN-Cache-Control") != "no-store" {
					t.Errorf("final response %d, %v", ans.status, ans.header)
				}
			})
		})
	}
}

// TestIntegrationSharedCacheConfig: Caddy refuses a bad value, and starts
// with each good one.
func TestIntegrationSharedCacheConfig(t *testing.T) {
	dir := t.TempDir()
	db, reg := testDatabase(t, dir), writeFile(t, dir, testRegCSV, testRegister)
	config := func(mode string) string {
		m, _ := json.Marshal(mode)
		return fmt.Sprintf(`{
			"admin": {"listen": "localhost:2999"},
			"apps": {"http": {"http_port": 9080, "grace_period": 1, "servers": {"s": {
				"listen": [":9080"],
				"routes": [{"handle": [
					{"handler": "geo_restrict", "geoip_db": %q, "registers": [%q], "shared_cache": %s},
					{"handler": "static_response", "body": "ok"}
				]}]
			}}}}
		}`, db, reg, m)
	}
	caddytest.AssertLoadError(t, config("Guard"), "json", "shared_cache: must be allow or guard, got")
	tester := caddytest.NewTester(t)
	for _, mode := range []string{"", "guard", "allow"} {
		tester.InitServer(config(mode), "json")
		res, body := get(t, tester, "http://localhost:9080"+postUnlisted, "")
		if res.StatusCode != 200 || body != "ok" {
			t.Errorf("shared_cache %q: %d %q", mode, res.StatusCode, body)
		}
	}
}
