package blocklist

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestExplain(t *testing.T) {
	r := mustRegister(t, "id,countries,target,start,end\n"+
		"p1,RU,post:123,,\n"+
		"p2,BY,post:123,,\n"+
		"p3,RU,post:123,2030-01-01,\n"+
		"a1,RU,account:someuser,,\n"+
		"x1,DE,path:/banned,,\n", Options{})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	e := r.Explain("RU", "/SomeUser/status/00123", "", now)
	if e.Verdict != Applies || e.Order.ID != "p1" {
		t.Fatalf("verdict %v, order %q; want Applies, p1", e.Verdict, e.Order.ID)
	}
	if !slices.Equal(e.Readings, []string{"/someuser/status/00123"}) {
		t.Errorf("readings %q", e.Readings)
	}
	wantKeys := []ExplainedKey{
		{TargetAccount, "someuser", "/{account}/status/{post}"},
		{TargetPost, "00123", "/{account}/status/{post}"},
	}
	for _, k := range wantKeys {
		if !slices.Contains(e.Keys, k) {
			t.Errorf("keys %+v lack %+v", e.Keys, k)
		}
	}
	why := map[string]string{}
	for _, o := range e.Orders {
		why[o.Order.ID] = o.Why
		if o.Applies != (o.Order.ID == "p1" || o.Order.ID == "a1") {
			t.Errorf("%s: applies %v", o.Order.ID, o.Applies)
		}
	}
	for id, want := range map[string]string{
		"p1": "",
		"a1": "outranked by p1",
		"p2": "applies in BY, not in RU",
		"p3": "applies from 2030-01-01T00:00:00Z",
	} {
		if got, ok := why[id]; !ok || !strings.Contains(got, want) || (want == "" && got != "") {
			t.Errorf("%s: why %q, want %q", id, got, want)
		}
	}
	if _, ok := why["x1"]; ok {
		t.Error("x1 does not name the request")
	}

	// Every reading of an ambiguous path is shown, a slash kept in a segment as %2F.
	e = r.Explain("DE", "/x%2Fy/status/124", "", now)
	if e.Verdict != Unlisted || !slices.Contains(e.Readings, "/x%2Fy/status/124") || !slices.Contains(e.Readings, "/x/y/status/124") {
		t.Errorf("verdict %v, readings %q", e.Verdict, e.Readings)
	}
	if e := r.Explain("RU", "/someuser/..", "", now); e.Verdict != Ambiguous {
		t.Errorf("dot segment: %v", e.Verdict)
	}
	// Explain and Match agree.
	for _, p := range []string{"/someuser", "/banned", "/x/status/123", "/nobody"} {
		for _, c := range []string{"RU", "DE", "BY", ""} {
			o, v := r.Match(c, p, "", now)
			if e := r.Explain(c, p, "", now); e.Verdict != v || e.Order.ID != o.ID {
				t.Errorf("%s %s: Explain %v %q, Match %v %q", c, p, e.Verdict, e.Order.ID, v, o.ID)
			}
		}
	}
}
