package source_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/georestrict/caddy-georestrict/source"
)

// origin is a register published over HTTP, answering conditional
// requests as net/http's file server does (http.ServeContent).
type origin struct {
	mu           sync.Mutex
	body         []byte
	etag         string    // none when empty
	lastModified time.Time // none when zero
	sig          []byte    // <path>.sig; 404 when nil
	broken       http.HandlerFunc
	requests     []http.Header // of the register, not of its signature
}

func newOrigin(t *testing.T, body []byte, etag string, lastModified time.Time) (*origin, *httptest.Server) {
	o := &origin{body: body, etag: etag, lastModified: lastModified}
	srv := httptest.NewServer(o)
	t.Cleanup(srv.Close)
	return o, srv
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	body, etag, lastModified, sig, broken := o.body, o.etag, o.lastModified, o.sig, o.broken
	if !strings.HasSuffix(r.URL.Path, ".sig") {
		o.requests = append(o.requests, r.Header.Clone())
	}
	o.mu.Unlock()
	if broken != nil {
		broken(w, r)
		return
	}
	if strings.HasSuffix(r.URL.Path, ".sig") {
		if sig == nil {
			http.NotFound(w, r)
			return
		}
		w.Write(sig)
		return
	}
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	http.ServeContent(w, r, "", lastModified, bytes.NewReader(body))
}

func (o *origin) publish(body []byte, etag string, lastModified time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.body, o.etag, o.lastModified = body, etag, lastModified
}

func (o *origin) setSignature(sig []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sig = sig
}

func (o *origin) breakWith(h http.HandlerFunc) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.broken = h
}

// lastRequest returns the headers of the last request for the register.
func (o *origin) lastRequest() http.Header {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.requests) == 0 {
		return nil
	}
	return o.requests[len(o.requests)-1]
}

func (o *origin) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.requests)
}

// TestURLConditional checks that checks send the validators the origin
// gave, that 304 and identical bytes are no change, and that CheckFull
// sends none.
func TestURLConditional(t *testing.T) {
	modified := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name         string
		etag         string
		lastModified time.Time
		wantINM      string // If-None-Match on the second check
		wantIMS      string // If-Modified-Since on the second check
	}{
		{name: "ETag and Last-Modified", etag: `"v1"`, lastModified: modified, wantINM: `"v1"`, wantIMS: "Tue, 10 Mar 2026 08:00:00 GMT"},
		{name: "ETag only", etag: `"v1"`, wantINM: `"v1"`},
		{name: "weak ETag", etag: `W/"v1"`, wantINM: `W/"v1"`},
		{name: "Last-Modified only", lastModified: modified, wantIMS: "Tue, 10 Mar 2026 08:00:00 GMT"},
		{name: "no validators"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, srv := newOrigin(t, v1, tc.etag, tc.lastModified)
			src := mustNew(t, srv.URL+"/register.csv", source.Options{})
			ctx := t.Context()

			v, err := src.Check(ctx)
			v = wantVersion(t, v, err, v1)
			if v.ETag != tc.etag || !v.ModTime.Equal(tc.lastModified) || v.Location != srv.URL+"/register.csv" {
				t.Errorf("version: ETag %q, ModTime %v, Location %q; want %q, %v, %q", v.ETag, v.ModTime, v.Location, tc.etag, tc.lastModified, srv.URL+"/register.csv")
			}
			if h := o.lastRequest(); h.Get("If-None-Match") != "" || h.Get("If-Modified-Since") != "" {
				t.Errorf("first request was conditional: %v", h)
			}

			v, err = src.Check(ctx)
			wantUnchanged(t, v, err)
			h := o.lastRequest()
			if got := h.Get("If-None-Match"); got != tc.wantINM {
				t.Errorf("If-None-Match = %q, want %q", got, tc.wantINM)
			}
			if got := h.Get("If-Modified-Since"); got != tc.wantIMS {
				t.Errorf("If-Modified-Since = %q, want %q", got, tc.wantIMS)
			}

			v, err = src.CheckFull(ctx)
			wantUnchanged(t, v, err)
			if h := o.lastRequest(); h.Get("If-None-Match") != "" || h.Get("If-Modified-Since") != "" {
				t.Errorf("CheckFull sent validators: %v", h)
			}

			newEtag := ""
			if tc.etag != "" {
				newEtag = `"v2"`
			}
			newModified := time.Time{}
			if !tc.lastModified.IsZero() {
				newModified = modified.Add(time.Hour)
			}
			o.publish(v2, newEtag, newModified)
			v, err = src.Check(ctx)
			v = wantVersion(t, v, err, v2)
			if v.ETag != newEtag {
				t.Errorf("ETag = %q, want %q", v.ETag, newEtag)
			}
			v, err = src.Check(ctx)
			wantUnchanged(t, v, err)
			if n := o.count(); n != 5 {
				t.Errorf("origin saw %d requests, want 5", n)
			}
		})
	}
}

// TestURLNewValidatorsSameBytes checks that a republished register with
// the same bytes under a new ETag is no change, and that the new ETag is
// what the next check sends.
func TestURLNewValidatorsSameBytes(t *testing.T) {
	o, srv := newOrigin(t, v1, `"a"`, time.Time{})
	src := mustNew(t, srv.URL+"/r.csv", source.Options{})
	v, err := src.Check(t.Context())
	wantVersion(t, v, err, v1)
	o.publish(v1, `"b"`, time.Time{})
	v, err = src.Check(t.Context())
	wantUnchanged(t, v, err)
	v, err = src.Check(t.Context())
	wantUnchanged(t, v, err)
	if got := o.lastRequest().Get("If-None-Match"); got != `"b"` {
		t.Errorf("If-None-Match = %q, want the new ETag", got)
	}
}

// TestURLFailures checks each way a fetch can fail, and that the source
// recovers when the origin does.
func TestURLFailures(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 64*kib)
	var gzipped bytes.Buffer
	zw := gzip.NewWriter(&gzipped)
	zw.Write(make([]byte, 8*mib))
	zw.Close()

	tests := []struct {
		name    string
		opts    source.Options
		handler http.HandlerFunc
		want    []string
	}{
		{
			name:    "503",
			handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) },
			want:    []string{"server answered 503 Service Unavailable"},
		},
		{
			name:    "404",
			handler: http.NotFound,
			want:    []string{"server answered 404 Not Found"},
		},
		{
			name: "206 Partial Content",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusPartialContent)
				w.Write(v1[:5])
			},
			want: []string{"server answered 206"},
		},
		{
			name:    "304 to an unconditional request",
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotModified) },
			want:    []string{"server answered 304 Not Modified"},
		},
		{
			name: "no answer",
			opts: source.Options{Timeout: time.Second},
			handler: func(w http.ResponseWriter, r *http.Request) {
				<-r.Context().Done()
			},
			want: []string{"within the timeout of 1s"},
		},
		{
			name: "body stalls",
			opts: source.Options{Timeout: time.Second},
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "1000")
				w.Write(make([]byte, 500))
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			},
			want: []string{"after 500 bytes", "within the timeout of 1s"},
		},
		{
			name: "body shorter than Content-Length",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "1000")
				w.Write(make([]byte, 500))
			},
			want: []string{"after 500 bytes", "unexpected EOF"},
		},
		{
			name: "chunked body cut short",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Write(make([]byte, 500))
				w.(http.Flusher).Flush()
				conn, buf, err := http.NewResponseController(w).Hijack()
				if err == nil {
					buf.Flush()
					conn.Close()
				}
			},
			want: []string{"after 500 bytes", "unexpected EOF"},
		},
		{
			name: "Content-Length over the limit",
			opts: source.Options{MaxSize: 32 * kib},
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", fmt.Sprint(len(big)))
				w.Write(big)
			},
			want: []string{"Content-Length 65536", "larger than the size limit of 32768 bytes"},
		},
		{
			name: "chunked body over the limit",
			opts: source.Options{MaxSize: 32 * kib},
			handler: func(w http.ResponseWriter, r *http.Request) {
				for range 4 {
					w.Write(big[:16*kib])
					w.(http.Flusher).Flush()
				}
			},
			want: []string{"larger than the size limit of 32768 bytes"},
		},
		{
			name: "gzip bomb",
			opts: source.Options{MaxSize: mib},
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "gzip")
				w.Write(gzipped.Bytes())
			},
			want: []string{"larger than the size limit of 1048576 bytes"},
		},
		{
			name: "redirect to ftp",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "ftp://legal.example/register.csv", http.StatusFound)
			},
			want: []string{"refusing a redirect to ftp://legal.example/register.csv"},
		},
		{
			name: "redirect to file",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "file:///etc/passwd", http.StatusMovedPermanently)
			},
			want: []string{"refusing a redirect to file:///etc/passwd"},
		},
		{
			name: "redirect loop",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, r.URL.Path, http.StatusFound)
			},
			want: []string{"stopped after 10 redirects"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, srv := newOrigin(t, v1, `"v1"`, time.Time{})
			o.breakWith(tc.handler)
			loc := srv.URL + "/register.csv"
			src := mustNew(t, loc, tc.opts)
			v, err := src.Check(t.Context())
			wantError(t, v, err, append([]string{"fetching " + loc + ": "}, tc.want...)...)

			o.breakWith(nil)
			v, err = src.Check(t.Context())
			wantVersion(t, v, err, v1)
		})
	}
}

// TestURLFailureKeepsValidators checks that a failed fetch of a new
// version leaves the source asking for it again, with the validators of
// the version it handed out last.
func TestURLFailureKeepsValidators(t *testing.T) {
	o, srv := newOrigin(t, v1, `"v1"`, time.Time{})
	src := mustNew(t, srv.URL+"/r.csv", source.Options{})
	v, err := src.Check(t.Context())
	wantVersion(t, v, err, v1)

	o.publish(v2, `"v2"`, time.Time{})
	o.breakWith(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v2"`)
		w.Header().Set("Content-Length", fmt.Sprint(len(v2)))
		w.Write(v2[:10])
	})
	v, err = src.Check(t.Context())
	wantError(t, v, err, "unexpected EOF")

	o.breakWith(nil)
	v, err = src.Check(t.Context())
	wantVersion(t, v, err, v2)
	if got := o.lastRequest().Get("If-None-Match"); got != `"v1"` {
		t.Errorf("If-None-Match after the failure = %q, want the handed-out version's", got)
	}
}

// TestURLRedirect checks that redirects within http(s) are followed, and
// that https never hands over to http.
func TestURLRedirect(t *testing.T) {
	o, plain := newOrigin(t, v1, `"v1"`, time.Time{})
	mux := http.NewServeMux()
	mux.Handle("/register.csv", o)
	mux.HandleFunc("/old.csv", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/register.csv", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/to-http.csv", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/register.csv", http.StatusFound)
	})
	tlsSrv := httptest.NewTLSServer(mux)
	defer tlsSrv.Close()

	tests := []struct {
		name string
		url  string
		want string // error text; empty for success
	}{
		{name: "http to http", url: plain.URL + "/register.csv"},
		{name: "https, moved within https", url: tlsSrv.URL + "/old.csv"},
		{name: "https to http", url: tlsSrv.URL + "/to-http.csv", want: "refusing a redirect from https to http"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := mustNew(t, tc.url, source.Options{Transport: tlsSrv.Client().Transport})
			v, err := src.Check(t.Context())
			if tc.want != "" {
				wantError(t, v, err, tc.want)
				return
			}
			v = wantVersion(t, v, err, v1)
			if v.Location != tc.url {
				t.Errorf("Location = %q, want the configured %q", v.Location, tc.url)
			}
		})
	}
}

// TestURLPasswordNotShown checks that a password in the URL is sent but
// never shown.
func TestURLPasswordNotShown(t *testing.T) {
	var gotUser, gotPass string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUser, gotPass, _ = r.BasicAuth()
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer srv.Close()
	loc := strings.Replace(srv.URL, "http://", "http://legal:s3cret@", 1) + "/r.csv"
	src := mustNew(t, loc, source.Options{})
	v, err := src.Check(t.Context())
	err = wantError(t, v, err, "legal:xxxxx@", "502")
	if strings.Contains(err.Error(), "s3cret") || strings.Contains(src.Location(), "s3cret") {
		t.Errorf("password shown: %v / %s", err, src.Location())
	}
	if gotUser != "legal" || gotPass != "s3cret" {
		t.Errorf("server got credentials %q:%q", gotUser, gotPass)
	}
}

// TestURLCancelled checks that a caller's cancellation is reported as
// such, not as a timeout.
func TestURLCancelled(t *testing.T) {
	arrived := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	}))
	defer srv.Close()
	src := mustNew(t, srv.URL+"/r.csv", source.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	v, err := src.Check(ctx)
	err = wantError(t, v, err, "context canceled")
	if strings.Contains(err.Error(), "timeout") {
		t.Errorf("cancellation reported as a timeout: %v", err)
	}
	if errors.Is(err, source.ErrSignature) {
		t.Errorf("cancellation reported as a signature error: %v", err)
	}
}

// TestURLNoConnectionLeft checks that a check leaves no connection, and so
// no goroutine, behind: a poll every minute would otherwise keep one per
// source open for nothing, and outlive its caller.
func TestURLNoConnectionLeft(t *testing.T) {
	pub, priv := testKey(1)
	o, srv := newOrigin(t, v1, `"1"`, time.Time{})
	o.setSignature(signature(t, priv, v1))
	before := runtime.NumGoroutine()
	src := mustNew(t, srv.URL+"/r.csv", source.Options{PublicKey: pub})
	v, err := src.Check(t.Context())
	wantVersion(t, v, err, v1)
	v, err = src.Check(t.Context())
	wantUnchanged(t, v, err)
	noGoroutinesAbove(t, before)
}
