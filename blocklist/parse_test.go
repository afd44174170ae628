package blocklist

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

// The same two orders in every format; all must read alike.
func TestParseFormats(t *testing.T) {
	want := []Order{{
		ID: "rkn-1", Countries: []string{"BY", "RU"}, Target: Target{TargetPost, "123"}, Action: ActionBlock,
		Authority: "Роскомнадзор", Reference: "2-6-27/2024-05-24-155-АИ", Notice: "https://notice.example/rkn/1",
		Reason: "Withheld in your country", Start: time.Date(2024, 5, 27, 0, 0, 0, 0, time.UTC), Source: "F:2",
	}, {
		ID: "rkn-2", Countries: []string{"RU"}, Target: Target{TargetAccount, "someuser"}, Action: ActionThrottle,
		Rate: 64 << 10, ThrottleResponse: true, Source: "F:3",
	}}
	csvText := "id,countries,target,action,authority,reference,notice,reason,start,end\n" +
		"rkn-1,RU|by,https://twitter.example/someuser/status/0123,,Роскомнадзор,2-6-27/2024-05-24-155-АИ,https://notice.example/rkn/1,Withheld in your country,2024-05-27,\n" +
		"rkn-2,ru,@SomeUser,throttle 64KiB/s both,,,,,,\n"
	jsonLines := `{"id":"rkn-1","countries":["RU","by"],"target":"https://twitter.example/someuser/status/0123","authority":"Роскомнадзор","reference":"2-6-27/2024-05-24-155-АИ","notice":"https://notice.example/rkn/1","reason":"Withheld in your country","start":"2024-05-27"}` + "\n" +
		`{"id":"rkn-2","countries":"ru","target":"@SomeUser","action":"throttle 64KiB/s both","end":null}` + "\n"
	jsonArray := "[\n" + strings.Replace(strings.TrimSpace(jsonLines), "\n", ",\n", 1) + "\n]\n"

	tests := []struct {
		name, file, data string
		lines            [2]int // where the two orders start
	}{
		{"csv", "orders.csv", csvText, [2]int{2, 3}},
		{"csv BOM CRLF", "orders.csv", "\ufeff" + strings.ReplaceAll(csvText, "\n", "\r\n"), [2]int{2, 3}},
		{"csv semicolons", "orders.csv", strings.ReplaceAll(strings.ReplaceAll(csvText, ",", ";"), "RU|by", "RU|by"), [2]int{2, 3}},
		{"csv excel sep line", "orders.csv", "sep=;\n" + strings.ReplaceAll(csvText, ",", ";"), [2]int{3, 4}},
		{"csv header case and spaces, blank rows", "orders.csv", strings.Replace(csvText, "id,countries", " ID , Countries ", 1) + ",,,,,,,,,\n\n", [2]int{2, 3}},
		{"csv sniffed", "orders.txt", csvText, [2]int{2, 3}},
		{"json lines", "orders.jsonl", jsonLines, [2]int{1, 2}},
		{"ndjson with blank line", "orders.ndjson", "\n" + jsonLines, [2]int{2, 3}},
		{"json lines in .json", "orders.json", jsonLines, [2]int{1, 2}},
		{"json array", "orders.json", jsonArray, [2]int{2, 3}},
		{"json array sniffed with BOM", "orders", "\ufeff" + jsonArray, [2]int{2, 3}},
		{"json lines sniffed CRLF", "orders", strings.ReplaceAll(jsonLines, "\n", "\r\n"), [2]int{1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mustParse(t, tc.file, tc.data, Options{})
			w := slices.Clone(want)
			for i := range w {
				w[i].Source = tc.file + ":" + itoa(tc.lines[i])
			}
			if len(got) != len(w) {
				t.Fatalf("got %d orders, want %d", len(got), len(w))
			}
			for i := range w {
				if d := diffOrder(got[i], w[i]); d != "" {
					t.Errorf("order %d: %s", i, d)
				}
			}
		})
	}
}

func itoa(n int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + formatInt(n)) }

func formatInt(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// diffOrder compares orders field by field, times by instant.
func diffOrder(got, want Order) string {
	var d []string
	check := func(field string, ok bool, g, w any) {
		if !ok {
			d = append(d, field+": got "+toString(g)+", want "+toString(w))
		}
	}
	check("ID", got.ID == want.ID, got.ID, want.ID)
	check("Countries", slices.Equal(got.Countries, want.Countries), got.Countries, want.Countries)
	check("Target", got.Target == want.Target, got.Target, want.Target)
	check("Action", got.Action == want.Action, got.Action, want.Action)
	check("Rate", got.Rate == want.Rate, got.Rate, want.Rate)
	check("ThrottleResponse", got.ThrottleResponse == want.ThrottleResponse, got.ThrottleResponse, want.ThrottleResponse)
	check("Authority", got.Authority == want.Authority, got.Authority, want.Authority)
	check("Reference", got.Reference == want.Reference, got.Reference, want.Reference)
	check("Notice", got.Notice == want.Notice, got.Notice, want.Notice)
	check("Reason", got.Reason == want.Reason, got.Reason, want.Reason)
	check("Start", got.Start.Equal(want.Start), got.Start, want.Start)
	check("End", got.End.Equal(want.End), got.End, want.End)
	check("Source", got.Source == want.Source, got.Source, want.Source)
	return strings.Join(d, "; ")
}

func toString(v any) string {
	switch v := v.(type) {
	case string:
		return `"` + v + `"`
	case interface{ String() string }:
		return v.String()
	case []string:
		return "[" + strings.Join(v, " ") + "]"
	case int64:
		return formatInt(int(v))
	case bool:
		if v {
			return "true"
		}
		return "false"
	}
	return "?"
}

// Every field, one row per variation, in CSV.
func TestParseFields(t *testing.T) {
	utc := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }
	tests := []struct {
		name  string
		cells string // countries,target,action,start,end
		check func(o Order) bool
	}{
		{"countries upper-cased, sorted, deduped", "ru by|RU,post:1,,,", func(o Order) bool { return slices.Equal(o.Countries, []string{"BY", "RU"}) }},
		{"countries with commas", `"RU, BY",post:1,,,`, func(o Order) bool { return slices.Equal(o.Countries, []string{"BY", "RU"}) }},
		{"everywhere", "*,post:1,,,", func(o Order) bool { return slices.Equal(o.Countries, []string{"*"}) }},
		{"post leading zeros", "RU,post:000123,,,", func(o Order) bool { return o.Target == Target{TargetPost, "123"} }},
		{"post zero", "RU,post:000,,,", func(o Order) bool { return o.Target == Target{TargetPost, "0"} }},
		{"post string id lower-cased", "RU,post:AbC-1,,,", func(o Order) bool { return o.Target == Target{TargetPost, "abc-1"} }},
		{"post beyond uint64", "RU,post:0099999999999999999999,,,", func(o Order) bool { return o.Target == Target{TargetPost, "99999999999999999999"} }},
		{"account prefix", "RU,account:@SomeUser,,,", func(o Order) bool { return o.Target == Target{TargetAccount, "someuser"} }},
		{"at handle", "RU,@@SomeUser,,,", func(o Order) bool { return o.Target == Target{TargetAccount, "someuser"} }},
		{"mastodon remote handle", "RU,@alice@Remote.example,,,", func(o Order) bool { return o.Target == Target{TargetAccount, "alice@remote.example"} }},
		{"exact path canonicalised", "RU,path:/Banned/./x/../,,,", func(o Order) bool { return o.Target == Target{TargetPath, "/banned"} }},
		{"prefix plain", "RU,path:/Media/Upload*,,,", func(o Order) bool { return o.Target == Target{TargetPathPrefix, "/media/upload"} }},
		{"prefix on a boundary keeps its slash", "RU,path:/media/*,,,", func(o Order) bool { return o.Target == Target{TargetPathPrefix, "/media/"} }},
		{"prefix of everything", "RU,path:/*,,,", func(o Order) bool { return o.Target == Target{TargetPathPrefix, "/"} }},
		{"keyword case", "RU,POST:5,BLOCK,,", func(o Order) bool { return o.Target == Target{TargetPost, "5"} && o.Action == ActionBlock }},
		{"throttle", "RU,post:1,throttle 64KiB/s,,", func(o Order) bool {
			return o.Action == ActionThrottle && o.Rate == 65536 && !o.ThrottleResponse
		}},
		{"throttle spaced unit both", "RU,post:1,Throttle 2 Mbit/s BOTH,,", func(o Order) bool {
			return o.Action == ActionThrottle && o.Rate == 250000 && o.ThrottleResponse
		}},
		{"date window", "RU,post:1,,2024-01-01,2024-02-01", func(o Order) bool {
			return o.Start.Equal(utc(2024, 1, 1, 0)) && o.End.Equal(utc(2024, 2, 1, 0))
		}},
		{"RFC 3339 window with offset", "RU,post:1,,2024-01-01T03:00:00+03:00,2024-01-01T01:00:00Z", func(o Order) bool {
			return o.Start.Equal(utc(2024, 1, 1, 0)) && o.End.Equal(utc(2024, 1, 1, 1))
		}},
		{"open start", "RU,post:1,,,2030-01-01", func(o Order) bool { return o.Start.IsZero() && o.End.Equal(utc(2030, 1, 1, 0)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := "id,countries,target,action,start,end\nx," + tc.cells + "\n"
			o := mustParse(t, "o.csv", data, Options{})
			if len(o) != 1 || !tc.check(o[0]) {
				t.Errorf("got %+v", o)
			}
		})
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  string
	}{
		{"1B/s", 1, ""},
		{"64KiB/s", 65536, ""},
		{"64kib/s", 65536, ""},
		{"1.5MiB/s", 1572864, ""},
		{"1GiB/s", 1 << 30, ""},
		{"10kB/s", 10000, ""},
		{"10KB/s", 10000, ""},
		{"3MB/s", 3000000, ""},
		{"8bit/s", 1, ""},
		{"512kbit/s", 64000, ""},
		{"2Mbit/s", 250000, ""},
		{"2mbit/s", 250000, ""},
		{"2 MiB/s", 2 << 20, ""},
		{"0B/s", 0, `bad rate "0B/s": less than 1 B/s`},
		{"1bit/s", 0, `bad rate "1bit/s": less than 1 B/s`},
		{"64", 0, `bad rate "64": unknown unit ""`},
		{"64kb/s", 0, `unknown unit "kb/s"`},
		{"64mb/s", 0, `unknown unit "mb/s"`},
		{"-1KiB/s", 0, `want a number and a unit`},
		{"1e3B/s", 0, `unknown unit "e3B/s"`},
		{".5KiB/s", 0, `want a number and a unit`},
		{"KiB/s", 0, `want a number and a unit`},
		{"99999999999999999999GiB/s", 0, "too large"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseRate(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseRate(%q) = %d, %v; want error containing %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseRate(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

// Each error kind, with the exact message a legal team would read.
func TestParseErrors(t *testing.T) {
	const h = "id,countries,target,action,notice,start,end\n"
	tests := []struct {
		name, file, data string
		want             []string
	}{
		{"unknown column", "o.csv", "id,countries,target,colour\n",
			[]string{`register o.csv: line 1: unknown column "colour" (want id, countries, target, action, authority, reference, notice, reason, start, end)`}},
		{"missing and duplicate columns", "o.csv", "id,target,id\n",
			[]string{`register o.csv: line 1: duplicate column "id"`, `register o.csv: line 1: missing required column "countries"`}},
		{"empty file", "o.csv", "", []string{`register o.csv: the file is empty: no orders (a source that may have none must say so with allow_empty)`}},
		{"header only", "o.csv", "id,countries,target\n", []string{`register o.csv: no orders (a source that may have none must say so with allow_empty)`}},
		{"required fields", "o.csv", h + ",,,,,,\n,,post:1,,,,\nx,RU,,,,,\n", []string{ // an all-empty row is skipped
			`register o.csv: line 3: id: required field is empty`,
			`register o.csv: line 3: countries: required field is empty`,
			`register o.csv: line 4: target: required field is empty`,
		}},
		{"unknown country", "o.csv", h + "x,RU|RX,post:1,,,,\ny,uk,post:2,,,,\n", []string{
			`register o.csv: line 2: countries: unknown country code "RX"`,
			`register o.csv: line 3: countries: unknown country code "uk" (the United Kingdom is GB)`,
		}},
		{"star with codes", "o.csv", h + "x,* RU,post:1,,,,\n", []string{`register o.csv: line 2: countries: "*" cannot be combined with country codes`}},
		{"duplicate id", "o.csv", h + "x,RU,post:1,,,,\ny,RU,post:2,,,,\nx,RU,post:3,,,,\n", []string{`register o.csv: line 4: id: duplicate id "x" (also at o.csv:2)`}},
		{"targets", "o.csv", h + "a,RU,posts:1,,,,\nb,RU,post:1/2,,,,\nc,RU,path:media,,,,\nd,RU,path:/a*b*,,,,\ne,RU,path:/search?q=x,,,,\nf,RU,account:,,,,\ng,RU,https://x.example/search/live?q=1,,,,\nh,RU,http://,,,,\n", []string{
			`register o.csv: line 2: target: malformed target "posts:1": want post:<id>, account:<handle>, @handle, path:/..., path:/prefix* or an http(s) URL`,
			`register o.csv: line 3: target: post id "1/2" must be a plain path segment (no /, %, ;, spaces or dot segments)`,
			`register o.csv: line 4: target: path "media" must start with /`,
			`register o.csv: line 5: target: path "/a*b": "*" is only allowed at the end`,
			`register o.csv: line 6: target: path "/search?q=x": a path target cannot have a query or fragment`,
			`register o.csv: line 7: target: empty account`,
			`register o.csv: line 8: target: URL "https://x.example/search/live?q=1" names no post or account by the patterns, and a path target cannot keep its query; write path:/search/live if all of it is meant`,
			`register o.csv: line 9: target: bad URL "http://"`,
		}},
		{"dates", "o.csv", h + "a,RU,post:1,,,2024-13-01,\nb,RU,post:2,,,yesterday,\nc,RU,post:3,,,2024-02-01,2024-01-01\nd,RU,post:4,,,2024-01-01,2024-01-01T00:00:00Z\n", []string{
			`register o.csv: line 2: start: bad date "2024-13-01": want RFC 3339 (2024-05-27T00:00:00+03:00) or YYYY-MM-DD`,
			`register o.csv: line 3: start: bad date "yesterday": want RFC 3339 (2024-05-27T00:00:00+03:00) or YYYY-MM-DD`,
			`register o.csv: line 4: end: end 2024-01-01 is not after start 2024-02-01`,
			`register o.csv: line 5: end: end 2024-01-01T00:00:00Z is not after start 2024-01-01`,
		}},
		{"notice", "o.csv", h + "a,RU,post:1,,ftp://x.example/n,,\nb,RU,post:2,,/relative,,\nc,RU,post:3,,notice.example,,\n", []string{
			`register o.csv: line 2: notice: bad URL "ftp://x.example/n": want an absolute http(s) URL`,
			`register o.csv: line 3: notice: bad URL "/relative": want an absolute http(s) URL`,
			`register o.csv: line 4: notice: bad URL "notice.example": want an absolute http(s) URL`,
		}},
		{"actions", "o.csv", h + "a,RU,post:1,ban,,,\nb,RU,post:2,throttle,,,\nc,RU,post:3,throttle fast,,,\nd,RU,post:4,throttle 1KiB/s all,,,\ne,RU,post:5,block now,,,\n", []string{
			`register o.csv: line 2: action: unknown action "ban" (want "block" or "throttle <rate> [both]")`,
			`register o.csv: line 3: action: throttle needs a rate, e.g. "throttle 64KiB/s"`,
			`register o.csv: line 4: action: bad rate "fast": want a number and a unit, e.g. 64KiB/s`,
			`register o.csv: line 5: action: unexpected "all" after the rate (only "both" may follow)`,
			`register o.csv: line 6: action: block takes no arguments, got "now"`,
		}},
		{"several problems in one row, in field order", "o.csv", h + "x,RX,bogus,ban,bad,never,\n", []string{
			`register o.csv: line 2: countries: unknown country code "RX"`,
			`register o.csv: line 2: target: malformed target "bogus": want post:<id>, account:<handle>, @handle, path:/..., path:/prefix* or an http(s) URL`,
			`register o.csv: line 2: action: unknown action "ban" (want "block" or "throttle <rate> [both]")`,
			`register o.csv: line 2: notice: bad URL "bad": want an absolute http(s) URL`,
			`register o.csv: line 2: start: bad date "never": want RFC 3339 (2024-05-27T00:00:00+03:00) or YYYY-MM-DD`,
		}},
		{"quoted fields span lines", "o.csv", "id,reason,countries,target\n" +
			"a,\"first line\nsecond, with comma\",RX,post:1\n" +
			"b,plain,RU,post:2\n" +
			"c,\"x\n\ny\",RU,post:\n", []string{
			`register o.csv: line 3: countries: unknown country code "RX"`, // row starts on line 2, countries is on line 3
			`register o.csv: line 7: target: empty post id`,
		}},
		{"field count", "o.csv", "id,countries,target\na,RU,post:1,extra\nb,RU\n", []string{
			`register o.csv: line 2: 4 fields, but the header has 3`,
			`register o.csv: line 3: 2 fields, but the header has 3`,
		}},
		{"broken quote stops the file", "o.csv", "id,countries,target\na,RX,post:1\nb,RU,\"post:2\nc,RU,post:3\n", []string{
			`register o.csv: line 2: countries: unknown country code "RX"`,
			`register o.csv: line 3: CSV: extraneous or missing " in quoted-field (noticed on line 4)`,
		}},
		{"windows-1251", "o.csv", "id,countries,target,reason\na,RU,post:1,\xc7\xe0\xef\xf0\xe5\xf9\xe5\xed\xee\n", []string{
			`register o.csv: line 2: reason: not valid UTF-8 (save the file as UTF-8)`,
		}},
		{"control characters", "o.csv", "id,countries,target\n\"a\rb\",RU,post:1\n", []string{
			`register o.csv: line 2: id: control character U+000D not allowed`,
		}},
		{"json lines", "o.jsonl", `{"id":"a","countries":"RU","target":"post:1"}` + "\n" +
			`{"id":"b","countries":"RX","target":"post:2","colour":"red"}` + "\n" +
			"{not json}\n" +
			`{"id":"c","countries":["RU",7],"target":"post:3"}` + "\n" +
			`{"id":"d","countries":"RU","target":"post:4","id":"e"}` + "\n" +
			`{"id":5,"countries":"RU","target":"post:5"}` + "\n" +
			`["a"]` + "\n" +
			`{"id":"a","countries":"RU","target":"post:6"} {}` + "\n", []string{
			`register o.jsonl: line 2: unknown field "colour" (want id, countries, target, action, authority, reference, notice, reason, start, end)`,
			`register o.jsonl: line 2: countries: unknown country code "RX"`,
			`register o.jsonl: line 3: invalid JSON: invalid character 'n'…`,
			`register o.jsonl: line 4: countries: want a string or an array of strings`,
			`register o.jsonl: line 5: id: field given twice`,
			`register o.jsonl: line 6: id: want a string, got a number`,
			`register o.jsonl: line 7: want a JSON object`,
			`register o.jsonl: line 8: invalid JSON: data after the object`,
		}},
		{"json array", "o.json", "[\n" +
			`  {"id":"a","countries":"RU","target":"post:1"},` + "\n" +
			"  {\n" +
			`    "id":"b",` + "\n" +
			`    "countries":"RX",` + "\n" +
			`    "target":"post:2"` + "\n" +
			"  },\n" +
			`  {"id":"a","countries":"RU","target":"post:3"}` + "\n" +
			"]\n", []string{
			`register o.json: line 3: [1].countries: unknown country code "RX"`,
			`register o.json: line 8: id: duplicate id "a" (also at o.json:2)`,
		}},
		{"json array syntax error", "o.json", "[\n" + `{"id":"a","countries":"RX","target":"post:1"},` + "\n" + `{"id":}` + "\n]", []string{
			`register o.json: line 2: [0].countries: unknown country code "RX"`,
			`register o.json: line 3: [1]: invalid JSON: invalid character '}'…`,
		}},
		{"json not an array", "o.json", `"x"`, []string{`register o.json: line 1: want a JSON array of objects`}},
		// encoding/json reads these as U+FFFD; a handle in windows-1251 would never match.
		{"json lines windows-1251", "o.jsonl", `{"id":"a","countries":"RU","target":"@ok"}` + "\n" +
			"{\"id\":\"b\",\"countries\":\"RU\",\"target\":\"@\xcf\xf0\xe8\xec\xe5\xf0\"}\n" +
			"{\"id\":\"c\",\"countries\":\"RU\",\"target\":\"post:3\",\"reason\":\"\xc7\xe0\xef\xf0\xe5\xf9\xe5\xed\xee\"}\n", []string{
			`register o.jsonl: line 2: target: not valid UTF-8 (save the file as UTF-8)`,
			`register o.jsonl: line 3: reason: not valid UTF-8 (save the file as UTF-8)`,
		}},
		{"json array windows-1251", "o.json", "[\n" + `{"id":"a","countries":"RU","target":"post:1"},` + "\n" +
			"{\"id\":\"b\",\n\"countries\":[\"RU\"],\n\"authority\":\"\xd0\xce\xd1\"}\n]\n", []string{
			// One object's problems in the order of the fields, whichever reader found them.
			`register o.json: line 3: [1].target: required field is empty`,
			`register o.json: line 3: [1].authority: not valid UTF-8 (save the file as UTF-8)`,
		}},
		{"json lone surrogates", "o.jsonl", `{"id":"a","countries":"RU","target":"@x\ud800"}` + "\n" +
			`{"id":"b","countries":"RU","target":"@y\uD800\u0041"}` + "\n" +
			`{"id":"c","countries":["RU","\udc00"],"target":"post:3"}` + "\n" +
			`{"id":"d\ud800\ud800","countries":"RU","target":"post:4"}` + "\n" +
			`{"id":"e","countries":"RU","target":"post:5","reason":"\ud800"}` + "\n", []string{
			`register o.jsonl: line 1: target: \ud800 is a lone UTF-16 surrogate, not a character (save the file as UTF-8)`,
			`register o.jsonl: line 2: target: \ud800 is a lone UTF-16 surrogate, not a character (save the file as UTF-8)`,
			`register o.jsonl: line 3: countries: \udc00 is a lone UTF-16 surrogate, not a character (save the file as UTF-8)`,
			`register o.jsonl: line 4: id: \ud800 is a lone UTF-16 surrogate, not a character (save the file as UTF-8)`,
			`register o.jsonl: line 5: reason: \ud800 is a lone UTF-16 surrogate, not a character (save the file as UTF-8)`,
		}},
		{"json field name not UTF-8", "o.jsonl", "{\"id\":\"a\",\"countries\":\"RU\",\"target\":\"post:1\",\"r\xe5ason\":\"x\"}\n", []string{
			`register o.jsonl: line 1: field name: not valid UTF-8 (save the file as UTF-8)`,
		}},
		{"utf-16 LE with BOM", "o.csv", utf16LE("\ufeffid,countries,target\r\na,RU,post:1\r\n"), []string{
			`register o.csv: the file is UTF-16 (as Excel saves "Unicode Text"), not UTF-8: save the file as UTF-8`,
		}},
		{"utf-16 BE with BOM", "o.json", utf16BE("\ufeff[{\"id\":\"a\",\"countries\":\"RU\",\"target\":\"post:1\"}]"), []string{
			`register o.json: the file is UTF-16 (as Excel saves "Unicode Text"), not UTF-8: save the file as UTF-8`,
		}},
		{"utf-16 LE without BOM", "o.txt", utf16LE("id\tcountries\ttarget\r\na\tRU\tpost:1\r\n"), []string{
			`register o.txt: the file is UTF-16 (as Excel saves "Unicode Text"), not UTF-8: save the file as UTF-8`,
		}},
		{"utf-16 BE without BOM, Cyrillic rows", "o.jsonl", utf16BE(`{"id":"a","countries":"RU","target":"@Привет"}` + "\n"), []string{
			`register o.jsonl: the file is UTF-16 (as Excel saves "Unicode Text"), not UTF-8: save the file as UTF-8`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orders, _, err := parseOrders(tc.file, (tc.data), Options{})
			if err == nil {
				t.Fatalf("no error; orders %+v", orders)
			}
			if orders != nil {
				t.Errorf("a register with errors must yield no orders, got %d", len(orders))
			}
			got := strings.Split(err.Error(), "\n")
			// A trailing "…" leaves the rest to the JSON package's wording.
			if !slices.EqualFunc(got, tc.want, func(g, w string) bool {
				p, cut := strings.CutSuffix(w, "…")
				return g == w || cut && strings.HasPrefix(g, p)
			}) {
				t.Errorf("errors:\n%s\nwant:\n%s", err, strings.Join(tc.want, "\n"))
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("error is not an *Error: %T", err)
			}
		})
	}
}

// utf16LE and utf16BE encode s as UTF-16 (Excel's "Unicode Text" is little-endian).
func utf16LE(s string) string { return encodeUTF16(s, false) }
func utf16BE(s string) string { return encodeUTF16(s, true) }

func encodeUTF16(s string, big bool) string {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		if big {
			b = append(b, byte(u>>8), byte(u))
		} else {
			b = append(b, byte(u), byte(u>>8))
		}
	}
	return string(b)
}

// JSON text that only looks like an encoding problem is read as written.
func TestParseJSONEscapes(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"surrogate pair", `\ud83d\ude00 ok`, "\U0001F600 ok"},
		{"upper-case hex pair", `\uD83D\uDE00`, "\U0001F600"},
		{"escaped backslash before u", `\\ud800`, `\ud800`},
		{"cyrillic escapes", `\u0414\u043e\u0441\u0442\u0443\u043f`, "Доступ"},
		{"replacement character as written, raw and escaped", "\ufffd and \\ufffd", "\ufffd and \ufffd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := `{"id":"a","countries":"RU","target":"post:1","reason":"` + tc.value + `"}` + "\n"
			o := mustParse(t, "o.jsonl", data, Options{})
			if o[0].Reason != tc.want {
				t.Errorf("reason %q, want %q", o[0].Reason, tc.want)
			}
		})
	}
}

func TestParseErrorsCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("id,countries,target\n")
	for i := range 30 {
		b.WriteString("x" + formatInt(i) + ",RX,post:1\n")
	}
	_, _, err := parseOrders("o.csv", (b.String()), Options{})
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxErrors+1 || lines[maxErrors] != "and 10 more errors" || lines[0] != `register o.csv: line 2: countries: unknown country code "RX"` {
		t.Errorf("got %d lines:\n%s", len(lines), err)
	}
}

func TestParseStatsAndHosts(t *testing.T) {
	data := "id,countries,target\n" +
		"a,RU,https://twitter.example/someuser/status/1\n" +
		"b,RU,https://TWITTER.example.:443/someuser\n" +
		"c,RU,https://microsoft.com/t.co/status/2\n" +
		"d,RU,https://evilt.co/x/status/3\n" +
		"e,RU,https://t.co.evil.example/x/status/4\n" +
		"f,RU,https://t.co@evil.example/x/status/5\n" +
		"g,RU,https://T.CO/abc\n" +
		"h,RU,http://t.co:8080/x/status/6\n" +
		"i,RU,https://evil.example\\@t.co/x/status/7\n" +
		"j,RU,https://muzofon.example/search/музыка белых order\n"
	orders, stats, err := parseOrders("o.csv", (data), Options{Hosts: []string{"twitter.example", "t.co"}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, o := range orders {
		ids = append(ids, o.ID+"="+o.Target.String())
	}
	want := []string{"a=post:1", "b=account:someuser", "g=account:abc", "h=post:6"}
	if !slices.Equal(ids, want) {
		t.Errorf("kept %v, want %v", ids, want)
	}
	if stats.Orders != 4 || stats.SkippedForeignHost != 6 {
		t.Errorf("stats %+v", stats)
	}
	// Skipped rows are still validated: a register is refused for a bad row on any host.
	_, _, err = parseOrders("o.csv", ("id,countries,target\nc,RX,https://elsewhere.example/a\n"), Options{Hosts: []string{"t.co"}})
	if err == nil || !strings.Contains(err.Error(), `unknown country code "RX"`) {
		t.Errorf("foreign-host row not validated: %v", err)
	}
	if _, _, err := parseOrders("o.csv", (data), Options{Hosts: []string{"bad host/"}}); err == nil {
		t.Error("a bad host was accepted")
	}
	// On the site's own host, URLs are checked strictly.
	for _, u := range []string{"https://t.co/search/a b", `https://t.co\@evil.example/x`, "https://t.co/%zz"} {
		if _, _, err := parseOrders("o.csv", ("id,countries,target\nx,RU," + u + "\n"), Options{Hosts: []string{"t.co"}}); err == nil {
			t.Errorf("%s was accepted", u)
		}
	}
}

// URL targets resolve through the patterns into posts or accounts, else exact paths.
func TestURLTargets(t *testing.T) {
	custom, err := ParsePatterns([]string{"/u/{account}", "/p/{post}", "/view?post={post}"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, url string
		patterns  *Patterns
		want      Target
	}{
		{"status", "https://twitter.example/SomeUser/status/123", nil, Target{TargetPost, "123"}},
		{"status with tracking query", "https://twitter.example/someuser/status/123?s=20&t=abc", nil, Target{TargetPost, "123"}},
		{"photo of a status is the status", "https://twitter.example/someuser/status/123/photo/1", nil, Target{TargetPost, "123"}},
		{"web status", "https://twitter.example/i/web/status/00777", nil, Target{TargetPost, "777"}},
		{"api query", "https://x.example/1.1/statuses/show.json?id=9", nil, Target{TargetPost, "9"}},
		{"api query encoded", "https://x.example/1.1/statuses/show.json?i%64=0009&x=1", nil, Target{TargetPost, "9"}},
		{"profile", "https://twitter.example/SomeUser", nil, Target{TargetAccount, "someuser"}},
		{"profile with slash", "https://twitter.example/SomeUser/", nil, Target{TargetAccount, "someuser"}},
		{"mastodon profile", "https://social.example/@Alice", nil, Target{TargetAccount, "alice"}},
		{"mastodon post", "https://social.example/@alice/109", nil, Target{TargetPost, "109"}},
		{"sub-page is a path, not an account", "https://twitter.example/media/upload", nil, Target{TargetPath, "/media/upload"}},
		{"root", "https://twitter.example", nil, Target{TargetPath, "/"}},
		{"encoded path", "https://twitter.example/some%75ser/%73tatus/5", nil, Target{TargetPost, "5"}},
		{"windows-1251 escapes stay bytes", "http://x.example/mp3/%F1%E5%E9%F4", nil, Target{TargetPath, "/mp3/\xf1\xe5\xe9\xf4"}},
		{"custom patterns", "https://x.example/u/Bob", custom, Target{TargetAccount, "bob"}},
		{"custom query", "https://x.example/view?post=42", custom, Target{TargetPost, "42"}},
		{"custom patterns: default shapes are paths", "https://x.example/bob/status/1", custom, Target{TargetPath, "/bob/status/1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := mustParse(t, "o.csv", "id,countries,target\nx,RU,"+tc.url+"\n", Options{Patterns: tc.patterns})
			if o[0].Target != tc.want {
				t.Errorf("%s -> %v, want %v", tc.url, o[0].Target, tc.want)
			}
			// Written back, the target reads as itself, and the URL's own path matches it.
			again := mustParse(t, "o.csv", "id,countries,target\nx,RU,"+o[0].Target.String()+"\n", Options{Patterns: tc.patterns})
			if again[0].Target != tc.want {
				t.Errorf("%s -> %v", o[0].Target, again[0].Target)
			}
			r, err := compileOrders(t, o, Options{Patterns: tc.patterns})
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.SplitN(tc.url, "/", 4)
			path, query, _ := strings.Cut(parts[len(parts)-1], "?")
			if len(parts) < 4 {
				path = ""
			}
			if _, ok := applies(r, "RU", "/"+path, query, testNow); !ok {
				t.Errorf("the URL itself does not match its order")
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFiles(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.csv", "id,countries,target\nx1,RU,post:1\nx2,RU,https://elsewhere.example/a\n")
	b := writeFile(t, dir, "b.jsonl", `{"id":"y1","countries":"*","target":"path:/media/upload*"}`+"\n")
	dup := writeFile(t, dir, "dup.jsonl", "\n"+`{"id":"x1","countries":"BY","target":"post:2"}`+"\n")
	bad := writeFile(t, dir, "bad.csv", "id,countries,target\nz,RX,post:3\n")

	r, err := loadFiles([]string{a, b}, Options{Hosts: []string{"twitter.example"}})
	if err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	if r.Len() != 2 || st.SkippedForeignHost != 1 || st.Blocks != 2 || !slices.Equal(st.Countries, []string{"*", "RU"}) ||
		!slices.Equal(st.Files, []string{a, b}) || st.ByKind[TargetPost] != 1 || st.ByKind[TargetPathPrefix] != 1 {
		t.Errorf("stats %+v", st)
	}
	if !r.HasCountry("ru") || !r.HasCountry("") {
		t.Error("HasCountry")
	}

	_, err = loadFiles([]string{a, dup}, Options{})
	if err == nil || err.Error() != `register `+dup+`: line 2: id: duplicate id "x1" (also at `+a+`:2)` {
		t.Errorf("duplicate across files: %v", err)
	}
	if _, err = loadFiles([]string{a, bad}, Options{}); err == nil {
		t.Error("a bad file did not refuse the register")
	}
	if _, err = loadFiles([]string{filepath.Join(dir, "missing.csv")}, Options{}); err == nil {
		t.Error("missing file")
	}
	if _, err = loadFiles(nil, Options{}); err == nil {
		t.Error("no files")
	}
}

// Orders that no pattern could ever match are refused rather than silently dead.
func TestOrdersNoPatternCanMatch(t *testing.T) {
	onlyPosts, err := ParsePatterns([]string{"/p/{post}"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = parseOrders("o.csv", "id,countries,target\na,RU,account:x\n", Options{Patterns: onlyPosts})
	if err == nil || !strings.Contains(err.Error(), "register: 1 account orders, but no pattern has an {account} placeholder") {
		t.Errorf("got %v", err)
	}
}

func TestTargetString(t *testing.T) {
	for _, tc := range []struct {
		t    Target
		want string
	}{
		{Target{TargetPost, "1"}, "post:1"},
		{Target{TargetAccount, "a"}, "account:a"},
		{Target{TargetPath, "/x"}, "path:/x"},
		{Target{TargetPathPrefix, "/media/"}, "path:/media/*"},
	} {
		if tc.t.String() != tc.want {
			t.Errorf("%v != %s", tc.t, tc.want)
		}
	}
	if ActionBlock.String() != "block" || ActionThrottle.String() != "throttle" {
		t.Error("Action.String")
	}
}

// One id repeated on every row must not make the duplicate check quadratic.
func TestManyDuplicates(t *testing.T) {
	var b strings.Builder
	b.WriteString("id,countries,target\n")
	for i := range 200_000 {
		b.WriteString("same,RU,post:" + formatInt(i+1) + "\n")
	}
	_, _, err := parseOrders("o.csv", (b.String()), Options{})
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxErrors+1 || lines[maxErrors] != "and 199979 more errors" || lines[0] != `register o.csv: line 3: id: duplicate id "same" (also at o.csv:2)` {
		t.Errorf("got %d lines, first %q, last %q", len(lines), lines[0], lines[len(lines)-1])
	}
}
