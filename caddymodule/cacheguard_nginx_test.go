package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// TestIntegrationSharedCacheNginx puts a real shared cache, nginx with
// proxy_cache keyed by URL (its default), in front of a real Caddy running
// the gateway in front of an app that marks every answer
// "Cache-Control: public, max-age=600". Clients reach nginx; nginx passes
// their address on in X-Forwarded-For, which Caddy trusts from 127.0.0.1.
func TestIntegrationSharedCacheNginx(t *testing.T) {
	nginx := findNginx(t)

	var mu sync.Mutex
	served := map[string]int{} // requests the app saw, by path
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		served[r.URL.Path]++
		mu.Unlock()
		w.Header().Set("Cache-Control", "public, max-age=600")
		fmt.Fprintf(w, "post %s", r.URL.Path)
	}))
	defer app.Close()
	appSaw := func(path string) int {
		mu.Lock()
		defer mu.Unlock()
		return served[path]
	}

	dir := t.TempDir()
	db, reg := testDatabase(t, dir), writeFile(t, dir, testRegCSV, testRegister)
	tester := caddytest.NewTester(t)
	gateway := func(sharedCache string) string {
		return integrationGlobals + fmt.Sprintf(`
:9080 {
	geo_restrict {
		geoip_db %s
		register %s
		shared_cache %s
	}
	reverse_proxy %s
}
`, db, reg, sharedCache, app.Listener.Addr())
	}

	// through asks nginx for path on behalf of a client at clientIP.
	through := func(t *testing.T, cache, path, clientIP string) (status int, cacheStatus, body string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, cache+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Forwarded-For", clientIP)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s through nginx: %v", path, err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, res.Header.Get("X-Cache-Status"), string(b)
	}

	t.Run("guard", func(t *testing.T) {
		tester.InitServer(gateway("guard"), "caddyfile")
		cache := startNginx(t, nginx)

		// Germany asks first for a post withheld in Russia: the app
		// answers, and nginx must not keep the answer.
		status, cached, body := through(t, cache, postListed, ipGermany)
		if status != 200 || cached == "HIT" || body != "post "+postListed {
			t.Fatalf("Germany: %d (X-Cache-Status %s) %q, want the post from the app", status, cached, body)
		}
		// Then Russia, for the same URL, twice: never the cached post.
		for range 2 {
			status, cached, body = through(t, cache, postListed, ipRussia)
			if status != 451 || cached == "HIT" || strings.Contains(body, "post "+postListed) {
				t.Fatalf("Russia got %d (X-Cache-Status %s) %q, want the 451 from the gateway", status, cached, body)
			}
		}
		// Germany again: the app answers again.
		if status, cached, _ = through(t, cache, postListed, ipGermany); status != 200 || cached == "HIT" {
			t.Errorf("Germany again: %d, X-Cache-Status %s; want 200 from the app", status, cached)
		}
		if n := appSaw(postListed); n != 2 {
			t.Errorf("the app served the listed post %d times, want 2 (Germany twice, Russia never)", n)
		}

		// A post with no order anywhere is cached as the app asked:
		// fetched once, then served by nginx, to Russia too.
		if status, cached, _ = through(t, cache, postUnlisted, ipGermany); status != 200 || cached != "MISS" {
			t.Fatalf("unlisted, first: %d, X-Cache-Status %s; want 200 MISS", status, cached)
		}
		status, cached, body = through(t, cache, postUnlisted, ipRussia)
		if status != 200 || cached != "HIT" || body != "post "+postUnlisted {
			t.Errorf("unlisted, second: %d, X-Cache-Status %s, %q; want 200 HIT with the post", status, cached, body)
		}
		if n := appSaw(postUnlisted); n != 1 {
			t.Errorf("the app served the unlisted post %d times, want 1", n)
		}
	})

	// The same with the guard off shows what it prevents: the setup above
	// does carry a post across the border when the gateway lets it.
	t.Run("allow carries the post across", func(t *testing.T) {
		tester.InitServer(gateway("allow"), "caddyfile")
		cache := startNginx(t, nginx)
		before := appSaw(postListed)
		if status, cached, _ := through(t, cache, postListed, ipGermany); status != 200 || cached != "MISS" {
			t.Fatalf("Germany: %d, X-Cache-Status %s; want 200 MISS", status, cached)
		}
		status, cached, body := through(t, cache, postListed, ipRussia)
		if status != 200 || cached != "HIT" || body != "post "+postListed {
			t.Errorf("Russia: %d, X-Cache-Status %s, %q; want the cached post (the bypass shared_cache allow leaves open)", status, cached, body)
		}
		if n := appSaw(postListed) - before; n != 1 {
			t.Errorf("the app served the listed post %d times, want 1", n)
		}
	})
}

// findNginx returns the path of nginx (not on a non-root user's PATH), or skips the test
// (see requireProgram).
func findNginx(t *testing.T) string {
	t.Helper()
	return requireProgram(t, []string{"nginx", "/usr/sbin/nginx"}, "-v")
}

// startNginx runs nginx in the foreground as a child of the test, with
// everything it writes in a temporary directory, as a caching reverse
// proxy to the gateway on 127.0.0.1:9080. It returns nginx's base URL;
// nginx is killed when the test ends.
func startNginx(t *testing.T, nginx string) string {
	t.Helper()
	dir := t.TempDir()
	addr := freeLoopbackAddr(t)
	// One process, no workers: it runs as whoever runs the test and can
	// write to the temporary directory.
	conf := fmt.Sprintf(`master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path %[1]s/client_body;
	proxy_temp_path %[1]s/proxy_temp;
	fastcgi_temp_path %[1]s/fastcgi_temp;
	uwsgi_temp_path %[1]s/uwsgi_temp;
	scgi_temp_path %[1]s/scgi_temp;
	proxy_cache_path %[1]s/cache keys_zone=edge:1m max_size=16m inactive=10m;
	server {
		listen %[2]s;
		location / {
			proxy_pass http://127.0.0.1:9080;
			proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
			proxy_cache edge;
			add_header X-Cache-Status $upstream_cache_status always;
		}
	}
}
`, dir, addr)
	confPath := writeFile(t, dir, "nginx.conf", conf)
	errorLog := func() string {
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return string(log)
	}
	startProgram(t, addr, errorLog, nginx, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	return "http://" + addr
}
