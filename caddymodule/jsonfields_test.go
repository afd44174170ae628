package caddymodule

import (
	"reflect"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// The handler's JSON config decodes as Caddy decodes it
// (caddy.StrictUnmarshalJSON), and every error names the field it comes
// from, by its JSON path.
func TestHandlerJSONErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{`{"refresh": "5x"}`, `refresh: time: unknown unit "x" in duration "5x"`},
		{`{"throttle_max_duration": "1h30"}`, `throttle_max_duration: time: missing unit in duration "1h30"`},
		{`{"throttle_burst": "16KiB"}`, `throttle_burst: json: cannot unmarshal string into Go value of type int64`},
		{`{"log_limit": {"lines": 5, "interval": "zz"}}`, `log_limit.interval: time: invalid duration "zz"`},
		{`{"log_limit": {"lines": "5"}}`, `log_limit.lines: json: cannot unmarshal string into Go value of type int`},
		{`{"registers": ["a.csv", "b.csv", {"path": "c.csv", "refresh": "q"}]}`, `registers[2].refresh: time: invalid duration "q"`},
		{`{"registers": ["a.csv", {"path": "c.csv", "refersh": "1m"}]}`, `registers[1]: register: want a path or {"path": ..., "allow_empty": true, ...}: json: unknown field "refersh"`},
		{`{"registers": [{"allow_empty": true}]}`, `registers[0]: register: "path" is required`},
		// Unknown fields stay refused, at every level, as Caddy refuses them.
		{`{"refresh_every": "1m"}`, `json: unknown field "refresh_every"`},
		{`{"log_limit": {"lines": 5, "every": "1s"}}`, `log_limit: json: unknown field "every"`},
		// What is not JSON is refused as encoding/json refuses it.
		{`{"refresh": "1m"`, `unexpected EOF`},
	} {
		var h Handler
		err := caddy.StrictUnmarshalJSON([]byte(tc.in), &h)
		if err == nil || err.Error() != tc.err {
			t.Errorf("%s:\n got %v\nwant %s", tc.in, err, tc.err)
		}
	}
}

func TestHandlerJSONDecodes(t *testing.T) {
	var h Handler
	in := `{"registers": ["a.csv", {"path": "b.csv", "refresh": "5m"}], "refresh": "30s",
		"log_limit": {"lines": 100, "interval": "1s"}, "throttle_max_duration": "2h", "dry_run": true}`
	if err := caddy.StrictUnmarshalJSON([]byte(in), &h); err != nil {
		t.Fatal(err)
	}
	five, thirty, two := caddy.Duration(5*time.Minute), caddy.Duration(30*time.Second), caddy.Duration(2*time.Hour)
	want := Handler{
		Registers:           []RegisterSource{{Path: "a.csv"}, {Path: "b.csv", Refresh: &five}},
		Refresh:             &thirty,
		LogLimit:            &LogLimit{Lines: 100, Interval: caddy.Duration(time.Second)},
		ThrottleMaxDuration: &two,
		DryRun:              true,
	}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("decoded %+v\nwant %+v", h, want)
	}
}
