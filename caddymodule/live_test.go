package caddymodule

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/georestrict/caddy-georestrict/internal/testmmdb"
)

// replaceFile writes content beside path and renames it over path, as editors, rsync and
// geoipupdate do.
func replaceFile(t *testing.T, path string, content []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls until check passes, for up to 30 s: many refresh intervals of 1 s, on a
// busy machine. It bounds the wait and measures nothing: the test fails only if the change
// never comes.
func waitFor(t *testing.T, what string, check func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !check(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within 30 s", what)
		}
	}
}

// TestIntegrationLiveUpdatesUnderLoad changes a register and the country database under a
// real Caddy that serves requests all the while: new versions are applied with no reload,
// a broken register and a damaged database are refused whole (the versions in force stay),
// and no request fails or gets an answer that neither the old nor the new version gives.
func TestIntegrationLiveUpdatesUnderLoad(t *testing.T) {
	dir := t.TempDir()
	networks := maps.Clone(testNetworks)
	dbData, err := testmmdb.Build(testmmdb.GeoIP2, networks)
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "country.mmdb")
	replaceFile(t, db, dbData)
	// post 123 and the account stay withheld in Russia throughout; post 7 never is.
	v1 := testRegister + "live-1,RU,post:1,block,Roskomnadzor,,,,,\n"
	reg := writeFile(t, dir, testRegCSV, v1)

	tester := caddytest.NewTester(t)
	tester.InitServer(integrationGlobals+fmt.Sprintf(`
http://localhost:9080 {
	geo_restrict {
		geoip_db %s
		register %s
		refresh 1s
	}
	respond "app"
}
`, db, reg), "caddyfile")

	status := func(path, ip string) int {
		req, _ := http.NewRequest(http.MethodGet, "http://localhost:9080"+path, nil)
		req.Header.Set("X-Forwarded-For", ip)
		res, err := tester.Client.Do(req)
		if err != nil {
			t.Errorf("GET %s: %v", path, err)
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}

	// Clients ask all the while. Every answer must be one that some version gives: the
	// invariant posts always get the same answer, and nothing fails.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var requests, bad atomic.Int64
	var badMu sync.Mutex
	var badSeen []string
	for w := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				path, want := "/someuser/status/123", 451
				switch (i + w) % 3 {
				case 1:
					path, want = "/someuser/status/7", 200
				case 2:
					path, want = "/censoreduser", 451
				}
				got := status(path, ipRussia)
				requests.Add(1)
				if got != want {
					bad.Add(1)
					badMu.Lock()
					badSeen = append(badSeen, fmt.Sprintf("%s: %d", path, got))
					badMu.Unlock()
				}
			}
		})
	}
	defer func() {
		stop.Store(true)
		wg.Wait()
		if bad.Load() > 0 {
			t.Errorf("%d of %d answers during the updates were neither the old nor the new version's: %q", bad.Load(), requests.Load(), badSeen[:min(len(badSeen), 10)])
		}
		t.Logf("%d requests served during the updates", requests.Load())
	}()

	if got := status("/someuser/status/2", ipRussia); got != 200 {
		t.Fatalf("post 2 before it is ordered: %d", got)
	}

	// An edit in place: applied within a refresh or two, with no reload.
	writeFile(t, dir, testRegCSV, v1+"live-2,RU,post:2,block,Roskomnadzor,,,,,\n")
	waitFor(t, "an edited register taking effect", func() bool { return status("/someuser/status/2", ipRussia) == 451 })

	// A broken version is refused whole: post 3, which it adds, stays allowed, and post 2
	// stays withheld.
	writeFile(t, dir, testRegCSV, v1+"live-2,RU,post:2,block,,,,,,\nlive-3,RU,post:3,block,,,,,,\nbroken,RX,post:4,block,,,,,,\n")
	time.Sleep(3 * time.Second) // some refreshes: none may apply it
	if s2, s3 := status("/someuser/status/2", ipRussia), status("/someuser/status/3", ipRussia); s2 != 451 || s3 != 200 {
		t.Errorf("after a broken version: post 2 %d, post 3 %d; want 451 and 200 (the version in force)", s2, s3)
	}

	// A version renamed over the file: applied.
	replaceFile(t, reg, []byte(v1+"live-3,RU,post:3,block,Roskomnadzor,,,,,\n"))
	waitFor(t, "a register renamed over the file taking effect", func() bool {
		return status("/someuser/status/3", ipRussia) == 451 && status("/someuser/status/2", ipRussia) == 200
	})

	// The country database changes: 81.2.69.0/24 moves from GB to RU.
	if got := status("/someuser/status/3", "81.2.69.9"); got != 200 {
		t.Fatalf("from GB before the database changes: %d", got)
	}
	networks["81.2.69.0/24"] = "RU"
	moved, err := testmmdb.Build(testmmdb.GeoIP2, networks)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, db, moved)
	waitFor(t, "a new country database taking effect", func() bool { return status("/someuser/status/3", "81.2.69.9") == 451 })

	// A damaged database is refused: the one in force stays.
	replaceFile(t, db, moved[:len(moved)/2])
	time.Sleep(3 * time.Second)
	if got := status("/someuser/status/3", "81.2.69.9"); got != 451 {
		t.Errorf("after a damaged database: %d, want the one in force's 451", got)
	}
	if got := status("/someuser/status/3", ipRussia); got != 451 {
		t.Errorf("after a damaged database, from Russia: %d", got)
	}

	// The metrics say what happened.
	res, err := tester.Client.Get("http://localhost:2999/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct{ name, labels, value string }{
		{"caddy_georestrict_source_failures_total", `source="` + reg + `"`, ">0"},
		{"caddy_georestrict_source_orders", `source="` + reg + `"`, "6"},
		{"caddy_georestrict_database_failures_total", `database="` + db + `",refresh="1s"`, ">0"},
	} {
		if got := metricValue(string(metricsText), want.name, want.labels); got == "" || want.value == ">0" && (got == "0") || want.value != ">0" && got != want.value {
			t.Errorf("%s{%s} = %q, want %s", want.name, want.labels, got, want.value)
		}
	}
}

// metricValue finds a sample in Prometheus text output by its name and some of its labels
// (as they appear, in order): its value, or "".
func metricValue(text, name, labels string) string {
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(line, name+"{") && strings.Contains(line, labels) {
			_, v, _ := strings.Cut(line, "} ")
			return v
		}
	}
	return ""
}
