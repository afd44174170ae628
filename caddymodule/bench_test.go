package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// benchRegister writes a register of n orders (posts and accounts, listed in
// Russia) and returns its path.
func benchRegister(b *testing.B, n int) string {
	b.Helper()
	var sb strings.Builder
	sb.WriteString(registerHdr)
	sb.WriteString("rkn-listed,RU,post:123,block,Roskomnadzor,2-1687/2024,,,,\n")
	for i := range n - 1 {
		if i%10 == 0 {
			fmt.Fprintf(&sb, "rkn-%d,RU,account:user%d,block,Roskomnadzor,27-31-2024,,,,\n", i, i)
			continue
		}
		fmt.Fprintf(&sb, "rkn-%d,RU,post:%d,block,Roskomnadzor,2-1687/2024,,,,\n", i, 1_000_000+i)
	}
	p := filepath.Join(b.TempDir(), "bench.csv")
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkServeHTTP measures the whole per-request decision of the handler
// (client IP, country lookup in the embedded database, register match,
// placeholders) with a register of 100,000 orders, on the allow path and the
// block path (which writes the 451 answer). Every request is new, prepared as
// Caddy's server prepares one; caddy_prepare is that preparation alone, to
// subtract.
func BenchmarkServeHTTP(b *testing.B) {
	h := &Handler{Registers: registers(benchRegister(b, 100_000))}
	provisionHandler(b, h)
	h.logger = zap.NewNop() // measure the decision, not a terminal

	cases := []struct {
		name, ip, target string
		want             int
	}{
		{"allow/country_without_orders", ipUS, "/someuser/status/987654321", 200},
		{"allow/country_with_orders", ipRussia, "/someuser/status/987654321", 200},
		{"block/post", ipRussia, "/someuser/status/123", 451},
	}
	b.Run("caddy_prepare", func(b *testing.B) {
		b.ReportAllocs()
		fresh := freshRequests(http.MethodGet, cases[0].target, cases[0].ip)
		for b.Loop() {
			_ = fresh()
		}
	})
	for _, bc := range cases {
		fresh := freshRequests(http.MethodGet, bc.target, bc.ip)
		var next nextHandler
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, fresh(), &next); err != nil || w.Code != bc.want {
			b.Fatalf("%s: status %d, err %v; want %d", bc.name, w.Code, err, bc.want)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			w := discardWriter{header: http.Header{}}
			for b.Loop() {
				_ = h.ServeHTTP(w, fresh(), noopHandler{})
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				fresh := freshRequests(http.MethodGet, bc.target, bc.ip)
				w := discardWriter{header: http.Header{}}
				for pb.Next() {
					_ = h.ServeHTTP(w, fresh(), noopHandler{})
				}
			})
		})
	}
}

// BenchmarkServeHTTPSharedCache measures what the shared-cache guard costs,
// with shared_cache guard and allow, on a register of 100,000 orders in
// Russia: for posts no order names (nothing to mark, so only the lookup
// in every country), and for a post withheld in Russia asked from the US
// (wrapped and marked). The app behind sets Cache-Control and writes the
// header, so the marking is measured too.
func BenchmarkServeHTTPSharedCache(b *testing.B) {
	reg := benchRegister(b, 100_000)
	for _, sharedCache := range []string{"allow", "guard"} {
		h := &Handler{Registers: registers(reg), SharedCache: sharedCache}
		provisionHandler(b, h)
		h.logger = zap.NewNop()
		for _, bc := range []struct{ name, ip, target string }{
			{"unlisted/country_without_orders", ipUS, "/someuser/status/987654321"},
			{"unlisted/country_with_orders", ipRussia, "/someuser/status/987654321"},
			{"listed_elsewhere", ipUS, "/someuser/status/123"},
		} {
			b.Run(bc.name+"/"+sharedCache, func(b *testing.B) {
				b.ReportAllocs()
				fresh := freshRequests(http.MethodGet, bc.target, bc.ip)
				w := headerWriter{header: http.Header{}}
				for b.Loop() {
					clear(w.header)
					_ = h.ServeHTTP(w, fresh(), cachingApp{})
				}
			})
		}
	}
}

// cachingApp answers the way an app that wants to be cached does.
type cachingApp struct{}

var appCacheControl = []string{"public, max-age=600"}

func (cachingApp) ServeHTTP(w http.ResponseWriter, _ *http.Request) error {
	w.Header()["Cache-Control"] = appCacheControl
	w.WriteHeader(http.StatusOK)
	return nil
}

// headerWriter is a ResponseWriter that keeps only its header, which the
// benchmark clears between requests.
type headerWriter struct{ header http.Header }

func (w headerWriter) Header() http.Header       { return w.header }
func (headerWriter) Write(p []byte) (int, error) { return len(p), nil }
func (headerWriter) WriteHeader(int)             {}

// BenchmarkDecide measures the decision alone (country lookup in the
// embedded database and register match), without Caddy's replacer and the
// metrics, on a register of 1,000,000 orders, with many client addresses.
func BenchmarkDecide(b *testing.B) {
	h := &Handler{Registers: registers(benchRegister(b, 1_000_000))}
	provisionHandler(b, h)
	h.logger = zap.NewNop()

	// Pseudo-random public addresses, a quarter of them in Russia, where
	// the register has orders: the real mix of a large site.
	addrs := make([]netip.Addr, 1<<16)
	russia := netip.MustParsePrefix("77.88.0.0/18")
	for i := range addrs {
		x := uint32(i)*2654435761 + 0x9e3779b9
		if i%4 == 0 {
			a := russia.Addr().As4()
			x = uint32(a[0])<<24 | uint32(a[1])<<16 | x&0x3fff
		} else if byte(x>>24) == 0 || byte(x>>24) >= 224 || byte(x>>24) == 10 || byte(x>>24) == 127 {
			x = x&0x00ffffff | 81<<24
		}
		addrs[i] = netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
	}
	// Only Russian addresses: every request is matched against the
	// register, the worst case for the allow path.
	russians := make([]netip.Addr, 1<<16)
	for i := range russians {
		russians[i] = addrs[i&^3]
	}
	for _, bc := range []struct {
		name, path string
		addrs      []netip.Addr
	}{
		{"allow/mixed", "/someuser/status/987654321", addrs},
		{"allow/russia", "/someuser/status/987654321", russians},
		{"block/russia", "/someuser/status/123", russians},
	} {
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					h.decide(bc.addrs[i&(len(bc.addrs)-1)], h.live.register(), bc.path, "", nil)
					i++
				}
			})
		})
	}
}

type noopHandler struct{}

func (noopHandler) ServeHTTP(http.ResponseWriter, *http.Request) error { return nil }

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the handler rather than a recorder.
type discardWriter struct{ header http.Header }

func (w discardWriter) Header() http.Header       { clear(w.header); return w.header }
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) WriteHeader(int)             {}

// BenchmarkWithheldLog measures a withheld request with the enforcement log
// written the way Caddy writes it (JSON lines to a file), and what each way
// of bounding that log costs and saves: every request on a line of its own;
// log_limit 100 1s; Caddy's own `log { sampling }` at its defaults (the
// first 100 lines of a message per second, then every 100th); and no log.
// log-B/op is what the log grew by per request. Each operation includes
// Caddy's preparation of a new request (see freshRequests), which "off"
// shows alone with the handler. The server writes an access log, so every
// line carries a request id, made anew for every request as under Caddy;
// every_request_no_access_log shows the line without it.
func BenchmarkWithheldLog(b *testing.B) {
	reg := benchRegister(b, 100_000)
	for _, bc := range []struct {
		name      string
		limit     *LogLimit
		core      func(zapcore.Core) zapcore.Core
		accessLog bool
	}{
		{"every_request", nil, nil, true},
		{"every_request_no_access_log", nil, nil, false},
		{"log_limit_100_1s", &LogLimit{Lines: 100, Interval: caddy.Duration(time.Second)}, nil, true},
		{"caddy_sampling", nil, func(c zapcore.Core) zapcore.Core {
			return zapcore.NewSamplerWithOptions(c, time.Second, 100, 100)
		}, true},
		{"off", nil, func(zapcore.Core) zapcore.Core { return zapcore.NewNopCore() }, true},
	} {
		// Set up before b.Run: provisioning logs through Caddy's default
		// logger, and a line in the middle of a result breaks benchstat.
		f, err := os.Create(filepath.Join(b.TempDir(), bc.name+".log"))
		if err != nil {
			b.Fatal(err)
		}
		// Closed after the handler's cleanup, which writes log_limit's last
		// summary lines.
		b.Cleanup(func() { f.Close() })
		h := &Handler{Registers: registers(reg), LogLimit: bc.limit}
		provisionHandler(b, h)
		core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), f, zap.InfoLevel)
		if bc.core != nil {
			core = bc.core(core)
		}
		h.logger = zap.New(core).Named("http.handlers.geo_restrict")
		if h.logLimit != nil {
			h.logLimit.logger = h.logger
		}
		srv := &caddyhttp.Server{}
		if bc.accessLog {
			srv.Logs = &caddyhttp.ServerLogConfig{}
		}
		fresh := freshRequestsOn(srv, http.MethodGet, "/someuser/status/123", ipRussia)
		b.Run(bc.name, func(b *testing.B) {
			before, err := f.Seek(0, io.SeekCurrent)
			if err != nil {
				b.Fatal(err)
			}
			w := discardWriter{header: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				_ = h.ServeHTTP(w, fresh(), noopHandler{})
			}
			b.StopTimer()
			if after, err := f.Seek(0, io.SeekCurrent); err == nil {
				b.ReportMetric(float64(after-before)/float64(b.N), "log-B/op")
			}
		})
	}
}
