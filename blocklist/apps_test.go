package blocklist

import (
	"math/rand/v2"
	"testing"

	"github.com/georestrict/caddy-georestrict/internal/apptest"
)

// checkSpelling fails the test if some modelled application would serve a withheld item for
// raw while the gateway lets it pass (see package apptest).
func checkSpelling(t testing.TB, r *Register, raw string) {
	t.Helper()
	app := apptest.ServedWithheld(raw)
	if app == "" {
		return
	}
	if _, v := r.Match("RU", raw, "", testNow); v != Applies && v != Ambiguous {
		t.Errorf("%s, but the gateway says %v", app, v)
	}
}

// TestWithheldSpellingsProperty generates spellings of withheld and unlisted items and checks
// every one that some modelled application would serve as a withheld item.
func TestWithheldSpellingsProperty(t *testing.T) {
	r := mustRegister(t, apptest.Register, Options{})
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 1))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	checked := 0
	for range n {
		raw := apptest.Spelling(rnd, apptest.Bases[rnd.IntN(len(apptest.Bases))])
		if apptest.ServedWithheld(raw) != "" {
			checked++
		}
		checkSpelling(t, r, raw)
		if t.Failed() {
			t.Fatalf("seed %d: first failing spelling %q", seed, raw)
		}
	}
	if checked < n/4 {
		t.Errorf("only %d of %d spellings reach a withheld item in some application: the generator has drifted", checked, n)
	}
}

// The models must see the reproductions: a property over models that cannot see a
// bypass proves nothing.
func TestAppModelsSeeKnownSpellings(t *testing.T) {
	for _, raw := range []string{
		"/%20/status/123",                              // account " ", post 123
		"/someuser/status/123/..",                      // a router that does not clean
		"/someuser/status/%EF%BC%91%EF%BC%92%EF%BC%93", // fullwidth digits, Python's int()
		"/someuser%2Fstatus%2F123",                     // decoded before routing
		`/x\..\someuser`,                               // IIS
		"/x/..;/banned",                                // Tomcat
		"/S%C3%B3meuser",                               // an accent-insensitive collation
		"/other/status/0x7b",                           // parseInt
		"/other/status/1.23e2",                         // MySQL
		"/@%C2%A0someuser%20",                          // "@" stripped, then the spaces (Python)
	} {
		if apptest.ServedWithheld(raw) == "" {
			t.Errorf("no modelled application serves a withheld item for %q", raw)
		}
	}
	for _, raw := range []string{"/other/status/124", "/someuser2", "/x/banned", "/other/status/1230"} {
		if app := apptest.ServedWithheld(raw); app != "" {
			t.Errorf("%q: %s", raw, app)
		}
	}
}

// FuzzWithheldSpellings is the property with the fuzzer choosing the spellings.
func FuzzWithheldSpellings(f *testing.F) {
	for i := range 8 {
		f.Add(uint64(i), uint8(i))
	}
	r := mustRegister(f, apptest.Register, Options{})
	f.Fuzz(func(t *testing.T, seed uint64, base uint8) {
		rnd := rand.New(rand.NewPCG(seed, uint64(base)))
		checkSpelling(t, r, apptest.Spelling(rnd, apptest.Bases[int(base)%len(apptest.Bases)]))
	})
}
