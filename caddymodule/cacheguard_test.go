package caddymodule

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestPrivateCacheControl(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   string
	}{
		{"absent", nil, "private"},
		{"empty", []string{""}, "private"},
		{"only separators", []string{" , ,, "}, "private"},
		{"public with max-age", []string{"public, max-age=600"}, "private, max-age=600"},
		{"no-store kept", []string{"no-store"}, "private, no-store"},
		{"no-cache kept, public dropped", []string{"no-cache, public"}, "private, no-cache"},
		{"already private", []string{"private, max-age=0"}, "private, max-age=0"},
		{"private twice", []string{"private", "Private, no-cache"}, "private, no-cache"},
		{"private qualified by field names", []string{`private="Set-Cookie", max-age=60`}, "private, max-age=60"},
		{"shared-cache directives dropped", []string{"public, s-maxage=3600, proxy-revalidate, max-age=60, must-revalidate"}, "private, max-age=60, must-revalidate"},
		{"several lines", []string{"public", "max-age=600", "s-maxage=60, proxy-revalidate", "stale-while-revalidate=30"}, "private, max-age=600, stale-while-revalidate=30"},
		{"odd case and spacing", []string{"  Public ,MAX-AGE=600,,\tNo-Cache  ", "S-MaxAge=5"}, "private, max-age=600, no-cache"},
		{"spaces around =", []string{"max-age = 600"}, "private, max-age=600"},
		{"extensions kept", []string{"public, immutable, stale-if-error=86400, no-transform, must-understand, no-store"}, "private, immutable, stale-if-error=86400, no-transform, must-understand, no-store"},
		{"quoted comma", []string{`no-cache="Set-Cookie, X-Foo", max-age=60`}, `private, no-cache="Set-Cookie, X-Foo", max-age=60`},
		{"quoted pair", []string{`ext="a\"b, public", public`}, `private, ext="a\"b, public"`},
		{"quoted argument containing =", []string{`no-cache="a=b"`}, `private, no-cache="a=b"`},
		{"unterminated quote swallows its line only", []string{`max-age=60, no-cache="a, public`, "no-store"}, "private, max-age=60, no-store"},
		{"malformed names dropped", []string{`max age=60, "public", max-age=6 0, =5, no-cache`}, "private, no-cache"},
		{"malformed arguments dropped", []string{`max-age=, max-age="60, no-store`}, "private"},
		{"control characters dropped", []string{"max-age=60\x00, no-store\r\n, no-cache"}, "private, no-cache"},
		{"non-ASCII name dropped", []string{"max-âge=60, no-store"}, "private, no-store"},
		{"obs-text in a quoted string kept", []string{"ext=\"\xe2\x9c\x93\""}, "private, ext=\"\xe2\x9c\x93\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := privateCacheControl(tc.values)
			if got != tc.want {
				t.Errorf("privateCacheControl(%q) = %q, want %q", tc.values, got, tc.want)
			}
			if again := privateCacheControl([]string{got}); again != got {
				t.Errorf("merging the result again gives %q, not %q", again, got)
			}
		})
	}
}

func TestSurrogateNoStore(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   string
	}{
		{"max-age", []string{"max-age=3600"}, "no-store"},
		{"already no-store", []string{"no-store"}, "no-store"},
		{"ESI content kept", []string{`content="ESI/1.0", max-age=60, stale-while-revalidate=30`}, `no-store, content="ESI/1.0"`},
		{"several lines", []string{"max-age=60", `Content="ESI/1.0 ESI-Inline/1.0"`}, `no-store, content="ESI/1.0 ESI-Inline/1.0"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := surrogateNoStore(tc.values); got != tc.want {
				t.Errorf("surrogateNoStore(%q) = %q, want %q", tc.values, got, tc.want)
			}
		})
	}
}

func TestMarkPrivate(t *testing.T) {
	tests := []struct {
		name string
		in   http.Header
		want http.Header
	}{
		{
			name: "no caching fields",
			in:   http.Header{"Content-Type": {"text/html"}},
			want: http.Header{"Content-Type": {"text/html"}, "Cache-Control": {"private"}, "Cdn-Cache-Control": {"no-store"}},
		},
		{
			name: "the app's CDN-Cache-Control is overridden",
			in:   http.Header{"Cache-Control": {"public, max-age=600"}, "Cdn-Cache-Control": {"max-age=86400"}},
			want: http.Header{"Cache-Control": {"private, max-age=600"}, "Cdn-Cache-Control": {"no-store"}},
		},
		{
			name: "non-canonical keys merged, in the order they would be sent",
			in:   http.Header{"Cache-Control": {"public"}, "cache-control": {"max-age=60"}, "CACHE-CONTROL": {"no-cache"}},
			want: http.Header{"Cache-Control": {"private, no-cache, max-age=60"}, "Cdn-Cache-Control": {"no-store"}},
		},
		{
			name: "vendor targeted fields",
			in:   http.Header{"Cloudflare-Cdn-Cache-Control": {"max-age=600"}, "Akamai-Cache-Control": {"public, max-age=600"}},
			want: http.Header{
				"Cache-Control": {"private"}, "Cdn-Cache-Control": {"no-store"},
				"Cloudflare-Cdn-Cache-Control": {"no-store"}, "Akamai-Cache-Control": {"no-store"},
			},
		},
		{
			name: "Surrogate-Control and X-Accel-Expires",
			in:   http.Header{"Surrogate-Control": {`max-age=3600, content="ESI/1.0"`}, "X-Accel-Expires": {"600"}},
			want: http.Header{
				"Cache-Control": {"private"}, "Cdn-Cache-Control": {"no-store"},
				"Surrogate-Control": {`no-store, content="ESI/1.0"`}, "X-Accel-Expires": {"0"},
			},
		},
		{
			name: "unrelated fields untouched",
			in:   http.Header{"Expires": {"Thu, 01 Dec 2094 16:00:00 GMT"}, "Vary": {"Accept"}, "X-Cache": {"HIT"}},
			want: http.Header{
				"Expires": {"Thu, 01 Dec 2094 16:00:00 GMT"}, "Vary": {"Accept"}, "X-Cache": {"HIT"},
				"Cache-Control": {"private"}, "Cdn-Cache-Control": {"no-store"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			markPrivate(tc.in)
			if !equalHeaders(tc.in, tc.want) {
				t.Errorf("got  %v\nwant %v", tc.in, tc.want)
			}
		})
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !slices.Equal(v, w) {
			return false
		}
	}
	return true
}

// FuzzPrivateCacheControl checks the merge as a property: whatever the app
// sends, the result is one well-formed field value that begins with a bare
// `private`, holds no directive addressed to shared caches, is stable when
// merged again, and keeps every plain directive the app sent.
func FuzzPrivateCacheControl(f *testing.F) {
	for _, seed := range [][2]string{
		{"public, max-age=600", ""},
		{"no-store", "no-cache"},
		{`private="Set-Cookie", s-maxage=60`, "proxy-revalidate"},
		{`no-cache="a, b", ext="x\"y"`, `max-age="5`},
		{"  Public ,MAX-AGE=600,,\tNo-Cache  ", "max-age = 1"},
		{"\x00,\r\n,\x7f", "\xff"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		got := privateCacheControl([]string{a, b})
		if !strings.HasPrefix(got, "private") {
			t.Fatalf("%q does not begin with private", got)
		}
		for i := 0; i < len(got); i++ {
			if !isFieldText(got[i]) {
				t.Fatalf("%q has the control character %#x", got, got[i])
			}
		}
		var names []string
		for d := range directives(got) {
			name, _, ok := parseDirective(d)
			if !ok {
				t.Fatalf("%q has the malformed directive %q", got, d)
			}
			names = append(names, name)
		}
		if names[0] != "private" || slices.Contains(names[1:], "private") {
			t.Fatalf("%q: want one bare private, first", got)
		}
		for _, banned := range []string{"public", "s-maxage", "proxy-revalidate"} {
			if slices.Contains(names, banned) {
				t.Fatalf("%q keeps %s", got, banned)
			}
		}
		if again := privateCacheControl([]string{got}); again != got {
			t.Fatalf("merged again: %q, then %q", got, again)
		}
		// An independent reading for lines without quotes: every plain
		// token the app sent, other than those the merge drops, stays.
		for _, line := range []string{a, b} {
			if strings.ContainsRune(line, '"') {
				continue
			}
			for part := range strings.SplitSeq(line, ",") {
				tok := strings.ToLower(strings.Trim(part, " \t"))
				if !isToken(tok) || slices.Contains([]string{"private", "public", "s-maxage", "proxy-revalidate"}, tok) {
					continue
				}
				if !slices.Contains(names, tok) {
					t.Fatalf("%q lost %q of %q", got, tok, line)
				}
			}
		}
	})
}

// probeWriter is an httptest.ResponseRecorder (which keeps the header as it
// was at WriteHeader) that also takes informational responses, and says
// whether ReadFrom and Hijack reached it.
type probeWriter struct {
	*httptest.ResponseRecorder
	informational      []http.Header
	readFrom, hijacked bool
}

func newProbeWriter() *probeWriter { return &probeWriter{ResponseRecorder: httptest.NewRecorder()} }

func (p *probeWriter) WriteHeader(status int) {
	if 100 <= status && status <= 199 {
		p.informational = append(p.informational, p.Header().Clone())
		return
	}
	p.ResponseRecorder.WriteHeader(status)
}

func (p *probeWriter) ReadFrom(r io.Reader) (int64, error) {
	p.readFrom = true
	return io.Copy(p.ResponseRecorder, r)
}

func (p *probeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	p.hijacked = true
	return nil, nil, errors.New("hijacked")
}

// TestCacheGuardWriter checks that the header is marked however the
// handler behind starts its answer, and that the writer keeps what the
// writer under it can do.
func TestCacheGuardWriter(t *testing.T) {
	const appCacheControl = "public, max-age=600"
	tests := []struct {
		name   string
		handle func(w http.ResponseWriter) error
		status int
		body   string
	}{
		{"WriteHeader then Write", func(w http.ResponseWriter) error {
			w.WriteHeader(http.StatusOK)
			_, err := w.Write([]byte("post"))
			return err
		}, 200, "post"},
		{"Write without WriteHeader", func(w http.ResponseWriter) error {
			_, err := w.Write([]byte("post"))
			return err
		}, 200, "post"},
		{"ReadFrom without WriteHeader (sendfile)", func(w http.ResponseWriter) error {
			_, err := io.Copy(w, struct{ io.Reader }{strings.NewReader("file")})
			return err
		}, 200, "file"},
		{"Flush before anything", func(w http.ResponseWriter) error {
			if err := http.NewResponseController(w).Flush(); err != nil {
				return err
			}
			_, err := w.Write([]byte("stream"))
			return err
		}, 200, "stream"},
		{"http.Flusher before anything", func(w http.ResponseWriter) error {
			w.(http.Flusher).Flush()
			_, err := w.Write([]byte("stream"))
			return err
		}, 200, "stream"},
		{"not modified", func(w http.ResponseWriter) error {
			w.WriteHeader(http.StatusNotModified)
			return nil
		}, 304, ""},
		{"early hints first", func(w http.ResponseWriter) error {
			w.Header().Set("Link", "</app.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			_, err := w.Write([]byte("post"))
			return err
		}, 200, "post"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newProbeWriter()
			rec.Header().Set("Cache-Control", appCacheControl)
			if err := tc.handle(newCacheGuard(rec)); err != nil {
				t.Fatal(err)
			}
			res := rec.Result()
			if res.StatusCode != tc.status || rec.Body.String() != tc.body {
				t.Errorf("got %d %q, want %d %q", res.StatusCode, rec.Body, tc.status, tc.body)
			}
			// The recorder snapshots the header at the first write.
			if got := res.Header.Values("Cache-Control"); !slices.Equal(got, []string{"private, max-age=600"}) {
				t.Errorf("Cache-Control = %q, want private, max-age=600", got)
			}
			if got := res.Header.Get("CDN-Cache-Control"); got != "no-store" {
				t.Errorf("CDN-Cache-Control = %q, want no-store", got)
			}
			for _, h := range rec.informational {
				if got := h.Values("Cache-Control"); !slices.Equal(got, []string{appCacheControl}) || h.Get("CDN-Cache-Control") != "" {
					t.Errorf("an informational response was marked: %v", h)
				}
			}
		})
	}

	t.Run("ReadFrom reaches the writer below", func(t *testing.T) {
		rec := newProbeWriter()
		if _, err := io.Copy(newCacheGuard(rec), io.LimitReader(strings.NewReader("file"), 4)); err != nil { // as http.ServeContent copies
			t.Fatal(err)
		}
		if !rec.readFrom {
			t.Error("io.Copy did not reach the underlying ReadFrom: no sendfile")
		}
	})
	t.Run("Hijack reaches the writer below", func(t *testing.T) {
		rec := newProbeWriter()
		_, _, err := http.NewResponseController(newCacheGuard(rec)).Hijack()
		if !rec.hijacked || err == nil || err.Error() != "hijacked" {
			t.Errorf("hijacked %v, err %v", rec.hijacked, err)
		}
		rec.hijacked = false
		_, _, _ = newCacheGuard(rec).Hijack()
		if !rec.hijacked {
			t.Error("http.Hijacker did not reach the writer below")
		}
	})
	t.Run("Unwrap", func(t *testing.T) {
		rec := httptest.NewRecorder()
		if got := newCacheGuard(rec).Unwrap(); got != rec {
			t.Errorf("Unwrap = %T, want the writer below", got)
		}
	})
}

// TestHandlerSharedCache runs the handler on the test register (post 123
// withheld in Russia, /hashtag/banned in Germany, uploads throttled in
// Russia) in front of an app that wants its answers cached publicly.
func TestHandlerSharedCache(t *testing.T) {
	dir := t.TempDir()
	db, reg := testDatabase(t, dir), writeFile(t, dir, testRegCSV, testRegister)
	handler := func(t *testing.T, sharedCache string, dryRun bool) *Handler {
		h := &Handler{GeoIPDB: db, Registers: registers(reg), Exempt: []string{"10.0.0.0/8"}, SharedCache: sharedCache, DryRun: dryRun}
		provisionHandler(t, h)
		return h
	}
	guard, allow, dryRun := handler(t, "", false), handler(t, "allow", false), handler(t, "guard", true)

	tests := []struct {
		name     string
		h        *Handler
		ip, path string
		status   int
		marked   bool
	}{
		{"listed in Russia, asked from Germany", guard, ipGermany, "/someuser/status/123", 200, true},
		{"listed in Russia, escaped spelling, asked from the US", guard, ipUS, "/SomeUser/%73tatus/00123", 200, true},
		{"listed in Germany, asked from Russia", guard, ipRussia, "/hashtag/banned", 200, true},
		{"listed account, asked from Germany", guard, ipGermany, "/censoreduser", 200, true},
		{"listed, asked by an exempt client", guard, ipPrivate, "/someuser/status/123", 200, true},
		{"throttled here", guard, ipRussia, "/media/upload", 200, true},
		{"throttled elsewhere", guard, ipUS, "/media/upload", 200, true},
		{"listed nowhere, from Russia", guard, ipRussia, "/someuser/status/124", 200, false},
		{"listed nowhere, from the US", guard, ipUS, "/someuser/status/124", 200, false},
		{"listed nowhere, exempt client", guard, ipPrivate, "/someuser/status/124", 200, false},
		{"withheld here: the 451 as always", guard, ipRussia, "/someuser/status/123", 451, false},
		{"dry run of a withheld post", dryRun, ipRussia, "/someuser/status/123", 200, true},
		{"dry run, listed elsewhere", dryRun, ipGermany, "/someuser/status/123", 200, true},
		{"shared_cache allow: listed elsewhere", allow, ipGermany, "/someuser/status/123", 200, false},
		{"shared_cache allow: throttled", allow, ipRussia, "/media/upload", 200, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newRequest(http.MethodGet, tc.path, tc.ip)
			rec := httptest.NewRecorder()
			var wrapped bool
			next := handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				_, wrapped = w.(*cacheGuard)
				w.Header().Set("Cache-Control", "public, max-age=600")
				_, err := w.Write([]byte("post"))
				return err
			})
			if err := tc.h.ServeHTTP(rec, r, next); err != nil {
				t.Fatal(err)
			}
			res := rec.Result()
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			wantCC, wantCDN := "public, max-age=600", ""
			switch {
			case tc.status == 451:
				wantCC = "no-store"
			case tc.marked:
				wantCC, wantCDN = "private, max-age=600", "no-store"
			}
			if got := res.Header.Values("Cache-Control"); !slices.Equal(got, []string{wantCC}) {
				t.Errorf("Cache-Control = %q, want %q", got, wantCC)
			}
			if got := res.Header.Get("CDN-Cache-Control"); got != wantCDN {
				t.Errorf("CDN-Cache-Control = %q, want %q", got, wantCDN)
			}
			if tc.status == 200 && !tc.marked && wrapped {
				// Unlisted requests cost no wrapper at all.
				t.Error("the response writer was wrapped")
			}
		})
	}
}

// TestHandlerSharedCacheCostsNothingUnlisted: with the guard on, a request
// that no order names anywhere allocates no more than with it off.
func TestHandlerSharedCacheCostsNothingUnlisted(t *testing.T) {
	dir := t.TempDir()
	db, reg := testDatabase(t, dir), writeFile(t, dir, testRegCSV, testRegister)
	allocs := func(sharedCache, ip string) float64 {
		h := &Handler{GeoIPDB: db, Registers: registers(reg), SharedCache: sharedCache}
		provisionHandler(t, h)
		r, _ := newRequest(http.MethodGet, "/someuser/status/124", ip)
		w := discardWriter{header: http.Header{}}
		return testing.AllocsPerRun(100, func() { _ = h.ServeHTTP(w, r, noopHandler{}) })
	}
	for _, ip := range []string{ipRussia, ipUS} {
		if on, off := allocs("guard", ip), allocs("allow", ip); on != off {
			t.Errorf("client %s: %v allocations per request with the guard, %v without", ip, on, off)
		}
	}
}
