package caddymodule

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/quic-go/quic-go/http3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// The throttling tests upload through a real Caddy with reverse_proxy to an
// upstream that reads the body and says how fast it arrived. Rates are
// checked with generous bounds: CI machines are noisy, and the precise
// figures come from the benchmarks.

// upload is what the upstream saw of one request body.
type upload struct {
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"` // from the first byte to the end
}

func (u upload) rate() float64 { return float64(u.Bytes) / u.Seconds }

// newUploadSink starts an upstream that reads each request body and answers
// with an upload.
func newUploadSink(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var u upload
		buf := make([]byte, 32<<10)
		var first time.Time
		for {
			n, err := r.Body.Read(buf)
			if n > 0 && first.IsZero() {
				first = time.Now()
			}
			u.Bytes += int64(n)
			if err != nil {
				break
			}
		}
		if !first.IsZero() {
			u.Seconds = time.Since(first).Seconds()
		}
		_ = json.NewEncoder(w).Encode(u)
	}))
	srv.EnableHTTP2 = false
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

const throttleRegister = registerHdr +
	`slow-64k,RU,path:/media/upload*,throttle 64KiB/s,Roskomnadzor,2021-03-10,,,,` + "\n" +
	`slow-1m,RU,path:/1.1/media/upload.json,throttle 1MiB/s,Roskomnadzor,2021-03-10,,,,` + "\n" +
	`slow-both,RU,path:/media/download*,throttle 256KiB/s both,Roskomnadzor,2021-03-10,,,,` + "\n" +
	`banned-upload,RU,path:/media/upload/banned,block,Roskomnadzor,2021-03-10,,,,` + "\n"

func throttleConfig(t *testing.T, upstream string, extra string) string {
	dir := t.TempDir()
	return integrationGlobals + fmt.Sprintf(`
http://localhost:9080 {
	geo_restrict {
		geoip_db %s
		register %s
		%s
	}
	reverse_proxy %s
}
`, testDatabase(t, dir), writeFile(t, dir, "throttle.csv", throttleRegister), extra, strings.TrimPrefix(upstream, "http://"))
}

// postBody uploads size bytes of random data from clientIP, chunked when
// chunked is true, and returns what the upstream saw and the status.
func postBody(t *testing.T, client *http.Client, path, clientIP string, size int64, chunked bool) (upload, int) {
	t.Helper()
	body := io.LimitReader(rand.Reader, size)
	if chunked {
		body = struct{ io.Reader }{body} // hide the length: sent chunked
	}
	req, err := http.NewRequest(http.MethodPost, "http://localhost:9080"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if !chunked {
		req.ContentLength = size
	}
	req.Header.Set("X-Forwarded-For", clientIP)
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	var u upload
	if res.StatusCode == http.StatusOK {
		if err := json.NewDecoder(res.Body).Decode(&u); err != nil {
			t.Fatal(err)
		}
	}
	return u, res.StatusCode
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

func TestIntegrationThrottleRate(t *testing.T) {
	sink := newUploadSink(t)
	tester := caddytest.NewTester(t)
	tester.InitServer(throttleConfig(t, sink.URL, ""), "caddyfile")
	client := uploadClient()

	tests := []struct {
		name    string
		client  *http.Client
		path    string
		rate    float64
		seconds float64
		chunked bool
	}{
		{"HTTP/1.1, 64KiB/s, Content-Length", client, "/media/upload/photo", 64 << 10, 2, false},
		{"HTTP/1.1, 64KiB/s, chunked", client, "/media/upload", 64 << 10, 2, true},
		{"HTTP/1.1, 1MiB/s, Content-Length", client, "/1.1/media/upload.json", 1 << 20, 2, false},
		{"HTTP/2, 64KiB/s, streamed", h2cClient(), "/media/upload", 64 << 10, 2, true},
		{"HTTP/2, 1MiB/s, Content-Length", h2cClient(), "/1.1/media/upload.json", 1 << 20, 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			size := int64(tc.rate * tc.seconds)
			u, status := postBody(t, tc.client, tc.path, ipRussia, size, tc.chunked)
			if status != http.StatusOK || u.Bytes != size {
				t.Fatalf("status %d, upstream got %d bytes; want 200 and %d", status, u.Bytes, size)
			}
			// The budget starts with a burst of 1/8 s, so the upstream
			// sees about seconds - 1/8 s of pacing. A busy CI machine
			// only slows a transfer down, so the lower bound is the
			// generous one.
			if got := u.rate() / tc.rate; got < 0.6 || got > 1.2+0.125/tc.seconds {
				t.Errorf("effective rate %.0f B/s is %.2f of the order's %.0f B/s", u.rate(), got, tc.rate)
			}
		})
	}

	t.Run("other countries are not slowed", func(t *testing.T) {
		// 1 MiB at 64 KiB/s would take 16 s; unthrottled it takes
		// milliseconds, so 4 s is a bound no CI machine misses.
		start := time.Now()
		u, status := postBody(t, client, "/media/upload", ipUS, 1<<20, false)
		if status != 200 || u.Bytes != 1<<20 {
			t.Fatalf("status %d, %d bytes", status, u.Bytes)
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("an upload from the US took %v: throttled", d)
		}
	})

	t.Run("block wins over throttle", func(t *testing.T) {
		if _, status := postBody(t, client, "/media/upload/banned", ipRussia, 1024, false); status != 451 {
			t.Errorf("status %d, want 451", status)
		}
	})
}

func TestIntegrationThrottleSharesOneBudgetPerClient(t *testing.T) {
	sink := newUploadSink(t)
	tester := caddytest.NewTester(t)
	tester.InitServer(throttleConfig(t, sink.URL, ""), "caddyfile")

	const rate = 64 << 10
	run := func(clients []string, perUpload int64) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for _, ip := range clients {
			wg.Go(func() {
				u, status := postBody(t, uploadClient(), "/media/upload", ip, perUpload, false)
				if status != 200 || u.Bytes != perUpload {
					t.Errorf("%s: status %d, %d bytes", ip, status, u.Bytes)
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}

	t.Run("ten parallel uploads of one client share its rate", func(t *testing.T) {
		// 10 × 0.2 s of the rate: 2 s in all when they share one
		// budget, 0.2 s if each had its own.
		d := run(strings.Fields(strings.Repeat(ipRussia+" ", 10)), rate/5)
		if d < 1400*time.Millisecond {
			t.Errorf("10 uploads of 0.2 s of the rate each took %v, want about 2 s: the client got more than its rate", d)
		}
	})
	t.Run("three clients get one budget each", func(t *testing.T) {
		// 3 × 1.5 s of the rate: 1.5 s when each has its own budget,
		// 4.5 s if they shared one.
		d := run([]string{ipRussia, "77.88.60.1", ipRussiaV6}, rate*3/2)
		if d > 3500*time.Millisecond {
			t.Errorf("three clients' uploads of 1.5 s of the rate took %v, want about 1.5 s: they shared a budget", d)
		}
	})
}

func TestIntegrationThrottleResponseBody(t *testing.T) {
	const size = 512 << 10
	download := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		_, _ = io.CopyN(w, rand.Reader, size)
	}))
	defer download.Close()
	tester := caddytest.NewTester(t)
	tester.InitServer(throttleConfig(t, download.URL, ""), "caddyfile")

	req, _ := http.NewRequest(http.MethodGet, "http://localhost:9080/media/download/video.mp4", nil)
	req.Header.Set("X-Forwarded-For", ipRussia)
	res, err := uploadClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	// Time the body from its first byte: the header comes at once.
	r := bufio.NewReader(res.Body)
	if _, err := r.Peek(1); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n, err := io.Copy(io.Discard, r)
	if err != nil || n != size {
		t.Fatalf("read %d bytes, %v; want %d", n, err, size)
	}
	rate := float64(n) / time.Since(start).Seconds()
	if got := rate / (256 << 10); got < 0.6 || got > 1.4 {
		t.Errorf("download rate %.0f B/s is %.2f of the order's 256 KiB/s", rate, got)
	}
}

func TestIntegrationThrottleAbortFreesEverything(t *testing.T) {
	sink := newUploadSink(t)
	tester := caddytest.NewTester(t)
	tester.InitServer(throttleConfig(t, sink.URL, ""), "caddyfile")

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

type handlerFunc func(http.ResponseWriter, *http.Request) error

func (f handlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

// TestIntegrationThrottleHTTP3 uploads over QUIC: the body reaches the
// handler through quic-go's stream, and is paced the same.
func TestIntegrationThrottleHTTP3(t *testing.T) {
	sink := newUploadSink(t)
	dir := t.TempDir()
	tester := caddytest.NewTester(t)
	tester.InitServer(fmt.Sprintf(`{
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
	}`, testDatabase(t, dir), writeFile(t, dir, "throttle.csv", throttleRegister), sink.Listener.Addr().String()), "json")

	tr := &http3.Transport{TLSClientConfig: &tls.Config{ServerName: "a.caddy.localhost", InsecureSkipVerify: true}}
	defer tr.Close()
	client := &http.Client{Transport: tr, Timeout: time.Minute}

	const rate, size = 64 << 10, 2 * 64 << 10
	req, _ := http.NewRequest(http.MethodPost, "https://127.0.0.1:9443/media/upload", io.LimitReader(rand.Reader, size))
	req.ContentLength = size
	req.Header.Set("X-Forwarded-For", ipRussia)
	res, err := client.Do(req)
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
	if got := u.rate() / rate; got < 0.6 || got > 1.2+0.125/2 {
		t.Errorf("effective rate %.0f B/s over HTTP/3 is %.2f of the order's %d B/s", u.rate(), got, rate)
	}
}
