package caddymodule

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/quic-go/quic-go/http3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/georestrict/caddy-georestrict/throttle"
)

// The throttling tests upload through a real Caddy with reverse_proxy to an
// upstream that reads the body. They check what a slowdown order promises:
// the transfer arrives whole and takes at least as long as the order's rate
// allows. How close to the rate it gets depends on the machine, so that is
// measured by BenchmarkThrottleThroughCaddy, not asserted.

// upload is what the upstream saw of one request body.
type upload struct {
	Bytes int64 `json:"bytes"`
}

// newThrottleUpstream starts an upstream that reads each POST body and
// answers with an upload, and answers a GET with ?bytes=N random bytes.
func newThrottleUpstream(tb testing.TB) *httptest.Server {
	tb.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			size, _ := strconv.ParseInt(r.URL.Query().Get("bytes"), 10, 64)
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
			_, _ = io.CopyN(w, rand.Reader, size)
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		_ = json.NewEncoder(w).Encode(upload{Bytes: n})
	}))
	srv.EnableHTTP2 = false
	srv.Start()
	tb.Cleanup(srv.Close)
	return srv
}

const throttleRegister = registerHdr +
	`slow-64k,RU,path:/media/upload*,throttle 64KiB/s,Roskomnadzor,2021-03-10,,,,` + "\n" +
	`slow-1m,RU,path:/1.1/media/upload.json,throttle 1MiB/s,Roskomnadzor,2021-03-10,,,,` + "\n" +
	`slow-both,RU,path:/media/download*,throttle 256KiB/s both,Roskomnadzor,2021-03-10,,,,` + "\n" +
	`banned-upload,RU,path:/media/upload/banned,block,Roskomnadzor,2021-03-10,,,,` + "\n"

// throttleConfig serves the throttle register on http://localhost:9080, with
// the default burst, in front of upstream.
func throttleConfig(tb testing.TB, upstream string) string {
	dir := tb.TempDir()
	return integrationGlobals + fmt.Sprintf(`
http://localhost:9080 {
	geo_restrict {
		geoip_db %s
		register %s
	}
	reverse_proxy %s
}
`, testDatabase(tb, dir), writeFile(tb, dir, "throttle.csv", throttleRegister), strings.TrimPrefix(upstream, "http://"))
}

// throttleHTTP3Config serves the throttle register over HTTP/3 only, on
// https://127.0.0.1:9443.
func throttleHTTP3Config(tb testing.TB, upstream string) string {
	dir := tb.TempDir()
	return fmt.Sprintf(`{
		"admin": {"listen": "localhost:2999"},
		"apps": {
			"tls": {"certificates": {"load_files": [{"certificate": "/caddy.localhost.crt", "key": "/caddy.localhost.key"}]}},
			"http": {"grace_period": 1, "servers": {"h3": {
				"listen": ["127.0.0.1:9443"],
				"protocols": ["h3"],
				"automatic_https": {"disable": true},
				"tls_connection_policies": [{}],
				"trusted_proxies": {"source": "static", "ranges": ["127.0.0.1/32"]},
				"routes": [{"handle": [
					{"handler": "geo_restrict", "geoip_db": %q, "registers": [%q]},
					{"handler": "reverse_proxy", "upstreams": [{"dial": %q}]}
				]}]
			}}}
		}
	}`, testDatabase(tb, dir), writeFile(tb, dir, "throttle.csv", throttleRegister), strings.TrimPrefix(upstream, "http://"))
}

// http3Client speaks HTTP/3 to throttleHTTP3Config's server.
func http3Client(tb testing.TB) *http.Client {
	tr := &http3.Transport{TLSClientConfig: &tls.Config{ServerName: "a.caddy.localhost", InsecureSkipVerify: true}}
	tb.Cleanup(func() { _ = tr.Close() })
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// postBody uploads size bytes of random data from clientIP to url, chunked
// when chunked is true, and returns what the upstream saw and the status.
func postBody(tb testing.TB, client *http.Client, url, clientIP string, size int64, chunked bool) (upload, int) {
	tb.Helper()
	body := io.LimitReader(rand.Reader, size)
	if chunked {
		body = struct{ io.Reader }{body} // hide the length: sent chunked
	}
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		tb.Fatal(err)
	}
	if !chunked {
		req.ContentLength = size
	}
	req.Header.Set("X-Forwarded-For", clientIP)
	res, err := client.Do(req)
	if err != nil {
		tb.Fatalf("POST %s: %v", url, err)
	}
	defer res.Body.Close()
	var u upload
	if res.StatusCode == http.StatusOK {
		if err := json.NewDecoder(res.Body).Decode(&u); err != nil {
			tb.Fatal(err)
		}
	}
	return u, res.StatusCode
}

// download fetches size bytes through the gateway from clientIP and returns
// how many arrived.
func download(tb testing.TB, client *http.Client, path, clientIP string, size int64) int64 {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://localhost:9080%s?bytes=%d", path, size), nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("X-Forwarded-For", clientIP)
	res, err := client.Do(req)
	if err != nil {
		tb.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	n, err := io.Copy(io.Discard, res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: status %d, %d bytes, %v", path, res.StatusCode, n, err)
	}
	return n
}

// leastTime is the least time that size bytes can take through a budget of
// rate with the default burst: the burst passes at once (when the budget is
// new and rested), the rest at rate. A busy machine can only add to it.
func leastTime(size, rate int64) time.Duration {
	b := throttle.NewStore(throttle.StoreOptions{}).Acquire(netip.MustParseAddr(ipRussia), rate)
	defer b.Release()
	return time.Duration(float64(size-b.Burst()) / float64(rate) * float64(time.Second))
}

func uploadClient() *http.Client {
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
}

// h2cClient speaks HTTP/2 without TLS (h2c), which the test server allows.
func h2cClient() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Timeout: time.Minute, Transport: tr}
}

// resettingClient closes its connections with a TCP reset, as a client
// that is killed or drops off the network does: the server learns of it at
// its next read instead of after the data already in flight.
func resettingClient() *http.Client {
	dialer := &net.Dialer{}
	return &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			return c, err
		},
	}}
}

// throttledUploads are uploads that a throttle order of throttleRegister
// slows, over HTTP/1.1 and HTTP/2, with and without a Content-Length.
var throttledUploads = []struct {
	name    string
	client  func() *http.Client
	path    string
	rate    int64
	chunked bool
}{
	{"HTTP/1.1, 64KiB/s, Content-Length", uploadClient, "/media/upload/photo", 64 << 10, false},
	{"HTTP/1.1, 64KiB/s, chunked", uploadClient, "/media/upload", 64 << 10, true},
	{"HTTP/1.1, 1MiB/s, Content-Length", uploadClient, "/1.1/media/upload.json", 1 << 20, false},
	{"HTTP/2, 64KiB/s, streamed", h2cClient, "/media/upload", 64 << 10, true},
	{"HTTP/2, 1MiB/s, Content-Length", h2cClient, "/1.1/media/upload.json", 1 << 20, false},
}

func TestIntegrationThrottleRate(t *testing.T) {
	upstream := newThrottleUpstream(t)
	tester := caddytest.NewTester(t)
	tester.InitServer(throttleConfig(t, upstream.URL), "caddyfile")

	for _, tc := range throttledUploads {
		t.Run(tc.name, func(t *testing.T) {
			size := 2 * tc.rate // two seconds of the rate
			start := time.Now()
			u, status := postBody(t, tc.client(), "http://localhost:9080"+tc.path, ipRussia, size, tc.chunked)
			took := time.Since(start)
			if status != http.StatusOK || u.Bytes != size {
				t.Fatalf("status %d, upstream got %d bytes; want 200 and %d", status, u.Bytes, size)
			}
			if least := leastTime(size, tc.rate); took < least {
				t.Errorf("%d bytes took %v, less than the %v the order's rate allows", size, took, least)
			}
		})
	}

	t.Run("other countries are not slowed", func(t *testing.T) {
		// Throttled, this upload could not take less than leastTime
		// (16 s); unthrottled it takes milliseconds.
		const size = 1 << 20
		start := time.Now()
		u, status := postBody(t, uploadClient(), "http://localhost:9080/media/upload", ipUS, size, false)
		took := time.Since(start)
		if status != 200 || u.Bytes != size {
			t.Fatalf("status %d, %d bytes", status, u.Bytes)
		}
		if least := leastTime(size, 64<<10); took >= least {
			t.Errorf("an upload from the US took %v, as long as the order's rate makes it (%v): throttled", took, least)
		}
	})

	t.Run("block wins over throttle", func(t *testing.T) {
		if _, status := postBody(t, uploadClient(), "http://localhost:9080/media/upload/banned", ipRussia, 1024, false); status != 451 {
			t.Errorf("status %d, want 451", status)
		}
	})
}

// TestIntegrationThrottleParallelUploadsShareTheRate: ten parallel uploads of
// one client together get the order's rate, not ten times it.
// TestHandlerThrottleBudgets checks which requests share a budget.
func TestIntegrationThrottleParallelUploadsShareTheRate(t *testing.T) {
	upstream := newThrottleUpstream(t)
	tester := caddytest.NewTester(t)
	tester.InitServer(throttleConfig(t, upstream.URL), "caddyfile")

	const rate, uploads, perUpload = 64 << 10, 10, 64 << 10 / 5
	start := time.Now()
	var wg sync.WaitGroup
	for range uploads {
		wg.Go(func() {
			u, status := postBody(t, uploadClient(), "http://localhost:9080/media/upload", ipRussia, perUpload, false)
			if status != 200 || u.Bytes != perUpload {
				t.Errorf("status %d, %d bytes; want 200 and %d", status, u.Bytes, perUpload)
			}
		})
	}
	wg.Wait()
	if took, least := time.Since(start), leastTime(uploads*perUpload, rate); took < least {
		t.Errorf("%d uploads of %d bytes took %v, less than the %v the order's rate allows one client", uploads, perUpload, took, least)
	}
}

func TestIntegrationThrottleResponseBody(t *testing.T) {
	upstream := newThrottleUpstream(t)
	tester := caddytest.NewTester(t)
	tester.InitServer(throttleConfig(t, upstream.URL), "caddyfile")

	const size, rate = 512 << 10, 256 << 10
	start := time.Now()
	n := download(t, uploadClient(), "/media/download/video.mp4", ipRussia, size)
	took := time.Since(start)
	if n != size {
		t.Fatalf("read %d bytes, want %d", n, size)
	}
	if least := leastTime(size, rate); took < least {
		t.Errorf("a download of %d bytes took %v, less than the %v the order's rate allows", size, took, least)
	}
}

func TestIntegrationThrottleAbortFreesEverything(t *testing.T) {
	upstream := newThrottleUpstream(t)
	tester := caddytest.NewTester(t)
	tester.InitServer(throttleConfig(t, upstream.URL), "caddyfile")

	for _, tc := range []struct {
		name   string
		client *http.Client
	}{
		{"HTTP/1.1, connection reset", resettingClient()},
		{"HTTP/2, stream cancelled", h2cClient()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			pr, pw := io.Pipe()
			go func() {
				chunk := make([]byte, 16<<10)
				for {
					if _, err := pw.Write(chunk); err != nil {
						return
					}
				}
			}()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://localhost:9080/media/upload", pr)
			req.Header.Set("X-Forwarded-For", ipRussia)
			done := make(chan error, 1)
			go func() {
				res, err := tc.client.Do(req)
				if err == nil {
					res.Body.Close()
				}
				done <- err
			}()

			waitForMetric(t, "caddy_georestrict_throttle_active_requests", 1)
			cancel()
			_ = pw.CloseWithError(context.Canceled)
			if err := <-done; err == nil {
				t.Fatal("an aborted upload succeeded")
			}
			// The server learns of the abort at its next read and
			// releases the budget: within about a second.
			waitForMetric(t, "caddy_georestrict_throttle_active_requests", 0)
		})
	}
}

// waitForMetric polls Caddy's metrics until the unlabelled gauge name has
// value want, for at most 10 s.
func waitForMetric(t *testing.T, name string, want float64) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		res, err := http.Get("http://localhost:2999/metrics")
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
				last = v
				if f, err := strconv.ParseFloat(v, 64); err == nil && f == want {
					res.Body.Close()
					return
				}
			}
		}
		res.Body.Close()
	}
	t.Fatalf("%s = %q, want %v", name, last, want)
}

func TestHandlerThrottleWrapsOnlyThrottledRequests(t *testing.T) {
	dir := t.TempDir()
	h := &Handler{GeoIPDB: testDatabase(t, dir), Registers: registers(writeFile(t, dir, "t.csv", throttleRegister))}
	provisionHandler(t, h)
	core, logs := observer.New(zap.InfoLevel)
	h.logger = zap.New(core)

	for _, tc := range []struct {
		name, ip, path string
		wrapped        bool
	}{
		{"russia, media upload", ipRussia, "/media/upload", true},
		{"russia, other route", ipRussia, "/someuser/status/1", false},
		{"elsewhere, media upload", ipUS, "/media/upload", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, repl := newRequest(http.MethodPost, tc.path, tc.ip)
			original := io.NopCloser(strings.NewReader(strings.Repeat("x", 1000)))
			r.Body = original
			var sawOriginal bool
			next := handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				sawOriginal = r.Body == original
				_, err := io.Copy(io.Discard, r.Body)
				return err
			})
			if err := h.ServeHTTP(httptest.NewRecorder(), r, next); err != nil {
				t.Fatal(err)
			}
			if sawOriginal == tc.wrapped {
				t.Errorf("body wrapped: %v, want %v", !sawOriginal, tc.wrapped)
			}
			if action, _ := repl.GetString(placeholderAction); (action == "throttle") != tc.wrapped {
				t.Errorf("action = %q", action)
			}
		})
	}
	entries := logs.FilterMessage("request throttled").All()
	if len(entries) != 1 {
		t.Fatalf("logged %d throttle lines, want 1", len(entries))
	}
	f := entries[0].ContextMap()
	if f["order"] != "slow-64k" || f["request_bytes"] != int64(1000) || f["rate"] != int64(64<<10) || f["country"] != "RU" {
		t.Errorf("throttle log line = %v", f)
	}
	for _, k := range []string{"duration", "effective_rate"} {
		if _, ok := f[k]; !ok {
			t.Errorf("throttle log line lacks %s", k)
		}
	}
}

func TestHandlerThrottleDryRun(t *testing.T) {
	dir := t.TempDir()
	h := &Handler{GeoIPDB: testDatabase(t, dir), Registers: registers(writeFile(t, dir, "t.csv", throttleRegister)), DryRun: true}
	provisionHandler(t, h)
	core, logs := observer.New(zap.InfoLevel)
	h.logger = zap.New(core)

	r, _ := newRequest(http.MethodPost, "/media/upload", ipRussia)
	original := io.NopCloser(strings.NewReader("photo"))
	r.Body = original
	var sawOriginal bool
	next := handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		sawOriginal = r.Body == original
		return nil
	})
	if err := h.ServeHTTP(httptest.NewRecorder(), r, next); err != nil {
		t.Fatal(err)
	}
	if !sawOriginal {
		t.Error("dry run slowed the upload")
	}
	if n := logs.FilterMessage("request would be throttled (dry run)").Len(); n != 1 {
		t.Errorf("logged %d dry-run throttle lines, want 1", n)
	}
}

// TestHandlerThrottleBudgets: all throttled requests of one client share one
// budget, however many run at once, and each client has its own; an IPv6
// client is its /64.
func TestHandlerThrottleBudgets(t *testing.T) {
	dir := t.TempDir()
	h := &Handler{GeoIPDB: testDatabase(t, dir), Registers: registers(writeFile(t, dir, "t.csv", throttleRegister))}
	provisionHandler(t, h)
	h.logger = zap.NewNop()

	tests := []struct {
		name    string
		clients []string
		budgets int
	}{
		{"ten uploads of one client", strings.Fields(strings.Repeat(ipRussia+" ", 10)), 1},
		{"three clients", []string{ipRussia, "77.88.60.1", ipRussiaV6}, 3},
		{"two addresses of one IPv6 /64", []string{"2a02:6b8::1", "2a02:6b8::2"}, 1},
		{"two IPv6 /64s", []string{"2a02:6b8::1", "2a02:6b8:0:1::1"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A store of this subtest's own: budgets that earlier
			// requests left idle in the shared one do not count.
			h.budgets = throttle.NewStore(throttle.StoreOptions{})
			var arrived, done sync.WaitGroup
			arrived.Add(len(tc.clients))
			release := make(chan struct{})
			next := handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				arrived.Done()
				<-release // hold the budget, as an upload under way does
				return nil
			})
			for _, ip := range tc.clients {
				r, _ := newRequest(http.MethodPost, "/media/upload", ip)
				r.Body = io.NopCloser(strings.NewReader("photo"))
				done.Go(func() {
					if err := h.ServeHTTP(httptest.NewRecorder(), r, next); err != nil {
						t.Error(err)
					}
				})
			}
			arrived.Wait()
			budgets, active := h.budgets.Len(), h.budgets.Active()
			close(release)
			done.Wait()
			if budgets != tc.budgets || active != int64(len(tc.clients)) {
				t.Errorf("%d requests in flight: %d budgets, %d holders; want %d, %d", len(tc.clients), budgets, active, tc.budgets, len(tc.clients))
			}
		})
	}
}

type handlerFunc func(http.ResponseWriter, *http.Request) error

func (f handlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

// TestIntegrationThrottleHTTP3 uploads over QUIC: the body reaches the
// handler through quic-go's stream, and is paced the same.
func TestIntegrationThrottleHTTP3(t *testing.T) {
	upstream := newThrottleUpstream(t)
	tester := caddytest.NewTester(t)
	tester.InitServer(throttleHTTP3Config(t, upstream.URL), "json")

	const rate, size = 64 << 10, 2 * 64 << 10
	req, _ := http.NewRequest(http.MethodPost, "https://127.0.0.1:9443/media/upload", io.LimitReader(rand.Reader, size))
	req.ContentLength = size
	req.Header.Set("X-Forwarded-For", ipRussia)
	start := time.Now()
	res, err := http3Client(t).Do(req)
	if err != nil {
		t.Fatalf("POST over HTTP/3: %v", err)
	}
	defer res.Body.Close()
	if res.ProtoMajor != 3 {
		t.Fatalf("answered over %s, want HTTP/3", res.Proto)
	}
	var u upload
	if err := json.NewDecoder(res.Body).Decode(&u); err != nil || u.Bytes != size {
		t.Fatalf("upstream got %d bytes (%v), want %d", u.Bytes, err, size)
	}
	if took, least := time.Since(start), leastTime(size, rate); took < least {
		t.Errorf("%d bytes over HTTP/3 took %v, less than the %v the order's rate allows", size, took, least)
	}
}

// BenchmarkThrottleThroughCaddy measures the rate that throttle orders let
// through a real Caddy as a fraction of the order's rate
// (effective/configured, the burst left out), timed at the client from the
// request to the end of the answer: for the uploads of
// TestIntegrationThrottleRate, an upload over HTTP/3 and a download. Each
// transfer is two seconds of the rate, from a new client. It uses the
// integration tests' ports, so run it alone:
//
//	go test -run '^$' -bench ThrottleThroughCaddy ./caddymodule/
func BenchmarkThrottleThroughCaddy(b *testing.B) {
	if testing.Short() {
		b.Skip("takes two seconds of real time per case")
	}
	upstream := newThrottleUpstream(b)
	tester := caddytest.NewTester(b)
	clients := 0
	measure := func(b *testing.B, rate int64, transfer func(clientIP string, size int64) int64) {
		size := 2 * rate
		var ratios float64
		iterations := 0
		for b.Loop() {
			clients++ // a new client, so a new budget
			clientIP := fmt.Sprintf("77.88.%d.%d", 40+clients/256, clients%256)
			start := time.Now()
			if n := transfer(clientIP, size); n != size {
				b.Fatalf("%d bytes arrived, want %d", n, size)
			}
			ratios += leastTime(size, rate).Seconds() / time.Since(start).Seconds()
			iterations++
		}
		b.ReportMetric(ratios/float64(iterations), "effective/configured")
		b.ReportMetric(0, "ns/op") // the time is the rate's, not the code's
	}

	tester.InitServer(throttleConfig(b, upstream.URL), "caddyfile")
	for _, tc := range throttledUploads {
		b.Run(tc.name, func(b *testing.B) {
			measure(b, tc.rate, func(clientIP string, size int64) int64 {
				u, _ := postBody(b, tc.client(), "http://localhost:9080"+tc.path, clientIP, size, tc.chunked)
				return u.Bytes
			})
		})
	}
	b.Run("HTTP/1.1, 256KiB/s, download", func(b *testing.B) {
		measure(b, 256<<10, func(clientIP string, size int64) int64 {
			return download(b, uploadClient(), "/media/download/video.mp4", clientIP, size)
		})
	})

	tester.InitServer(throttleHTTP3Config(b, upstream.URL), "json")
	h3 := http3Client(b)
	b.Run("HTTP/3, 64KiB/s, Content-Length", func(b *testing.B) {
		measure(b, 64<<10, func(clientIP string, size int64) int64 {
			u, _ := postBody(b, h3, "https://127.0.0.1:9443/media/upload", clientIP, size, false)
			return u.Bytes
		})
	})
}

// upstreamBody is what an upstream read of one request body.
type upstreamBody struct {
	bytes int64
	err   error
}

// TestIntegrationThrottleMaxDuration: once throttle_max_duration has passed,
// a throttled upload is cut, whether its client is still sending or has
// closed its connection politely with data left in the socket buffers, the
// case the limit is for: the server would otherwise go on reading that data
// at the order's rate long after the client left. The upstream sees a body
// that ends early, and the client's budget is freed.
func TestIntegrationThrottleMaxDuration(t *testing.T) {
	bodies := make(chan upstreamBody, 4)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		bodies <- upstreamBody{n, err}
	}))
	defer upstream.Close()
	dir := t.TempDir()
	reg := writeFile(t, dir, "slow.csv", registerHdr+`slow-16k,RU,path:/media/upload*,throttle 16KiB/s,Roskomnadzor,2021-03-10,,,,`+"\n")
	tester := caddytest.NewTester(t)
	tester.InitServer(integrationGlobals+fmt.Sprintf(`
http://localhost:9080 {
	geo_restrict {
		geoip_db %s
		register %s
		throttle_max_duration 1s
	}
	reverse_proxy %s
}
`, testDatabase(t, dir), reg, strings.TrimPrefix(upstream.URL, "http://")), "caddyfile")

	// A body of 1 MiB takes a minute at 16 KiB/s: cut after a second, the
	// upstream gets the first second's worth, 32 KiB at most.
	const size = 1 << 20
	tests := []struct {
		name   string
		client string
		// upload starts an upload from client and returns how much it
		// sent, and the status it is answered (0: none, the connection
		// was closed), if it waits for one.
		upload func(t *testing.T, client string) (sent int64, status <-chan int)
	}{
		{"client still sending", ipRussia, func(t *testing.T, client string) (int64, <-chan int) {
			req, _ := http.NewRequest(http.MethodPost, "http://localhost:9080/media/upload", io.LimitReader(rand.Reader, size))
			req.ContentLength = size
			req.Header.Set("X-Forwarded-For", client)
			// A client that would wait as long as it takes: only the
			// gateway can end this upload early.
			patient := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			status := make(chan int, 1)
			go func() {
				res, err := patient.Do(req)
				if err != nil {
					status <- 0
					return
				}
				res.Body.Close()
				status <- res.StatusCode
			}()
			return size, status
		}},
		{"client closed politely, data left in the buffers", "77.88.60.1", func(t *testing.T, client string) (int64, <-chan int) {
			conn, err := net.Dial("tcp", "localhost:9080")
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "POST /media/upload HTTP/1.1\r\nHost: localhost:9080\r\nX-Forwarded-For: %s\r\nContent-Length: %d\r\n\r\n", client, size)
			// Whatever the kernel buffers of both ends take in a moment,
			// then a polite close: a FIN after the buffered data, which
			// the server still reads.
			_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
			n, _ := conn.Write(make([]byte, 512<<10))
			if err := conn.Close(); err != nil {
				t.Fatal(err)
			}
			if n < 64<<10 {
				t.Fatalf("the socket buffers took only %d bytes; the test needs more than the %d that a second passes", n, 32<<10)
			}
			return int64(n), nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sent, status := tc.upload(t, tc.client)
			var got upstreamBody
			select {
			case got = <-bodies:
			case <-time.After(30 * time.Second):
				t.Fatal("the upstream is still reading the body after 30 s; throttle_max_duration is 1 s")
			}
			t.Logf("upstream read %d of %d bytes sent: %v", got.bytes, sent, got.err)
			if got.err == nil || got.bytes >= sent {
				t.Errorf("upstream read %d of the %d bytes sent, ending with %v; want a body cut short, with an error", got.bytes, sent, got.err)
			}
			if status != nil {
				// The proxy's error, or none if the server closed the
				// connection while the client was still writing.
				select {
				case code := <-status:
					if code != 0 && code != http.StatusBadGateway {
						t.Errorf("the cut upload was answered %d, want %d (reverse_proxy's error) or a closed connection", code, http.StatusBadGateway)
					}
				case <-time.After(30 * time.Second):
					t.Error("the client got no answer 30 s after its upload was cut")
				}
			}
			waitForMetric(t, "caddy_georestrict_throttle_active_requests", 0)
		})
	}
}

// TestHandlerThrottleMaxDuration: the handler cuts a throttled body once
// throttle_max_duration has passed, with an error of its own that the
// handler behind sees, says so in the log line, and frees the budget; the
// request's own end is still told apart. It runs on the fake clock of a
// synctest bubble, so that hours pass in an instant and the body read is
// exactly what the order's rate allows up to the cut.
func TestHandlerThrottleMaxDuration(t *testing.T) {
	dir := t.TempDir()
	reg := writeFile(t, dir, "t.csv", throttleRegister)
	const rate = 64 << 10 // slow-64k, the order /media/upload matches
	duration := func(d time.Duration) *caddy.Duration { c := caddy.Duration(d); return &c }
	tests := []struct {
		name    string
		max     *caddy.Duration
		wantMax time.Duration // as provisioned
		leave   time.Duration // when the client leaves
		wantErr error
		wantEnd time.Duration // when the body read ends
	}{
		{"reached", duration(10 * time.Minute), 10 * time.Minute, 2 * time.Hour, errMaxPaced, 10 * time.Minute},
		{"client left first", duration(time.Hour), time.Hour, 10 * time.Minute, context.Canceled, 10 * time.Minute},
		{"default is an hour", nil, time.Hour, 2 * time.Hour, errMaxPaced, time.Hour},
		{"no limit", duration(0), 0, 2 * time.Hour, context.Canceled, 2 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &Handler{GeoIPDB: testDatabase(t, dir), Registers: registers(reg), ThrottleMaxDuration: tc.max}
			provisionHandler(t, h)
			if h.maxPaced != tc.wantMax {
				t.Errorf("throttle_max_duration provisioned as %v, want %v", h.maxPaced, tc.wantMax)
			}
			core, logs := observer.New(zap.InfoLevel)
			h.logger = zap.New(core)
			synctest.Test(t, func(t *testing.T) {
				h.budgets = throttle.NewStore(throttle.StoreOptions{})
				r, _ := newRequest(http.MethodPost, "/media/upload", ipRussia)
				ctx, cancel := context.WithCancel(r.Context())
				defer cancel()
				time.AfterFunc(tc.leave, cancel)
				r = r.WithContext(ctx)
				r.Body = io.NopCloser(zeroReader{}) // a client that sends until it leaves
				var read int64
				var readErr error
				next := handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
					read, readErr = io.Copy(io.Discard, r.Body)
					return readErr
				})
				err := h.ServeHTTP(httptest.NewRecorder(), r, next)
				if !errors.Is(readErr, tc.wantErr) || !errors.Is(err, tc.wantErr) {
					t.Errorf("body read ended with %v, ServeHTTP returned %v; want %v", readErr, err, tc.wantErr)
				}
				// Paced at the order's rate until the end: within a
				// burst (a second of the rate) of rate × wantEnd.
				want := int64(tc.wantEnd.Seconds() * rate)
				if read < want-rate || read > want+rate {
					t.Errorf("the body read gave %d bytes, want %d ± %d (%v at %d B/s)", read, want, rate, tc.wantEnd, rate)
				}
				entries := logs.FilterMessage("request throttled").All()
				if len(entries) != 1 {
					t.Fatalf("logged %d throttle lines, want 1", len(entries))
				}
				f := entries[0].ContextMap()
				if f["max_duration_reached"] != (tc.wantErr == errMaxPaced) || f["request_bytes"] != read {
					t.Errorf("log line: max_duration_reached %v, request_bytes %v; want %v, %d", f["max_duration_reached"], f["request_bytes"], tc.wantErr == errMaxPaced, read)
				}
				if n := h.budgets.Active(); n != 0 {
					t.Errorf("%d budgets still held after the request", n)
				}
			})
		})
	}
}

// zeroReader is an endless body.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
