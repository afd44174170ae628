package caddymodule

import (
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func TestSitesShareLoadedCopies(t *testing.T) {
	dir := t.TempDir()
	db := testDatabase(t, dir)
	reg := writeFile(t, dir, testRegCSV, testRegister)

	a := &Handler{GeoIPDB: db, Registers: registers(reg)}
	b := &Handler{GeoIPDB: db, Registers: registers(reg)}
	provisionHandler(t, a)
	provisionHandler(t, b)
	if a.geo != b.geo {
		t.Error("two sites naming the same database loaded two copies")
	}
	if a.live != b.live {
		t.Error("two sites naming the same register loaded two copies")
	}

	m := &MatchCountry{Countries: []string{"RU"}, GeoIPDB: db}
	if err := m.Provision(newTestContext(t)); err != nil {
		t.Fatal(err)
	}
	defer m.Cleanup()
	if m.db != a.geo {
		t.Error("the geo_country matcher loaded its own copy of the handler's database")
	}
}

// A config load that names a register in use checks it at once: the new
// version is put in force for every config that uses it (they share one
// live register), and a broken one fails the new config while the register
// in force stays.
func TestReloadPicksUpChangedFilesAndKeepsGoodOnes(t *testing.T) {
	dir := t.TempDir()
	db := testDatabase(t, dir)
	reg := writeFile(t, dir, testRegCSV, testRegister)

	old := &Handler{GeoIPDB: db, Registers: registers(reg)}
	provisionHandler(t, old)

	// The legal team adds an order; the next config load applies it.
	writeFile(t, dir, testRegCSV, testRegister+"rkn-9,RU,post:9,block,Roskomnadzor,,,,,\n")
	touch(t, reg, time.Now().Add(time.Second))
	updated := &Handler{GeoIPDB: db, Registers: registers(reg)}
	provisionHandler(t, updated)
	if updated.live != old.live {
		t.Fatal("the new config loaded a register of its own")
	}
	assertStatus(t, updated, "/someuser/status/9", 451)
	assertStatus(t, old, "/someuser/status/9", 451)

	// A broken edit is refused whole, and what runs keeps running.
	writeFile(t, dir, testRegCSV, testRegister+"rkn-10,RU,post:10,blok,,,,,,\n")
	touch(t, reg, time.Now().Add(2*time.Second))
	broken := &Handler{GeoIPDB: db, Registers: registers(reg)}
	err := broken.Provision(newTestContext(t))
	_ = broken.Cleanup()
	if err == nil || !strings.Contains(err.Error(), "line 6: action") {
		t.Fatalf("a register with a bad action: %v, want an error naming line 6 and the action", err)
	}
	assertStatus(t, updated, "/someuser/status/9", 451)
	assertStatus(t, updated, "/someuser/status/123", 451)
	assertStatus(t, updated, "/someuser/status/10", 200)
}

// TestReloadSeesAnEditThatKeepsSizeAndTime: cp -p, tar and reproducible
// images keep modification times, and changing one digit keeps the size.
// A config load checks files by their content, so such an edit is applied.
func TestReloadSeesAnEditThatKeepsSizeAndTime(t *testing.T) {
	dir := t.TempDir()
	db := testDatabase(t, dir)
	reg := writeFile(t, dir, testRegCSV, testRegister+"rkn-7,RU,post:71,block,,,,,,\n")
	stamp := time.Date(2024, 5, 23, 12, 0, 0, 0, time.UTC)
	touch(t, reg, stamp)

	old := &Handler{GeoIPDB: db, Registers: registers(reg)}
	provisionHandler(t, old)
	before, err := os.Stat(reg)
	if err != nil {
		t.Fatal(err)
	}

	writeFile(t, dir, testRegCSV, testRegister+"rkn-7,RU,post:72,block,,,,,,\n")
	touch(t, reg, stamp)
	after, err := os.Stat(reg)
	if err != nil {
		t.Fatal(err)
	}
	if before.Size() != after.Size() || !before.ModTime().Equal(after.ModTime()) {
		t.Fatalf("the edit changed size or time: %d %s, then %d %s", before.Size(), before.ModTime(), after.Size(), after.ModTime())
	}

	updated := &Handler{GeoIPDB: db, Registers: registers(reg)}
	provisionHandler(t, updated)
	assertStatus(t, updated, "/someuser/status/72", 451)
	assertStatus(t, updated, "/someuser/status/71", 200)
	assertStatus(t, old, "/someuser/status/72", 451)
}

func TestCleanupReleasesSharedResources(t *testing.T) {
	dir := t.TempDir()
	h := &Handler{GeoIPDB: testDatabase(t, dir), Registers: registers(writeFile(t, dir, testRegCSV, testRegister))}
	if err := h.Provision(newTestContext(t)); err != nil {
		t.Fatal(err)
	}
	keys := append([]string(nil), h.poolKeys...)
	if len(keys) != 3 {
		t.Fatalf("pool keys = %q, want a database, a register and a throttle store", keys)
	}
	// The throttle store is shared by every handler with the same burst,
	// including those of a config the in-process Caddy may still run.
	files, budgets := keys[:2], keys[2]
	for _, k := range files {
		if n, ok := resources.References(k); !ok || n != 1 {
			t.Errorf("%s: references = %d, %v; want 1", k, n, ok)
		}
	}
	budgetRefs, _ := resources.References(budgets)
	if err := h.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if err := h.Cleanup(); err != nil {
		t.Fatalf("second Cleanup: %v", err)
	}
	for _, k := range files {
		if _, ok := resources.References(k); ok {
			t.Errorf("%s still in the pool after Cleanup", k)
		}
	}
	if n, _ := resources.References(budgets); n != budgetRefs-1 {
		t.Errorf("%s: references = %d after Cleanup, want %d", budgets, n, budgetRefs-1)
	}
	var never Handler
	if err := never.Cleanup(); err != nil {
		t.Errorf("Cleanup of an unprovisioned handler: %v", err)
	}
}

func touch(t *testing.T, path string, when time.Time) {
	t.Helper()
	if err := os.Chtimes(path, when, when); err != nil {
		t.Fatal(err)
	}
}

func assertStatus(t *testing.T, h *Handler, target string, want int) {
	t.Helper()
	r, _ := newRequest("GET", target, ipRussia)
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, &nextHandler{}); err != nil {
		t.Fatal(err)
	}
	if w.Code != want {
		t.Errorf("GET %s from RU: status %d, want %d", target, w.Code, want)
	}
}
