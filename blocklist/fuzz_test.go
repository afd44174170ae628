package blocklist

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var canonicalSeeds = []string{
	"", "/", "/someuser/status/123", "/SomeUser/STATUS/00123/photo/1", "/someuser/%2573tatus/123",
	"/someuser%2Fstatus%2F123", "//a//b", "/./a/../b/", "/../../x", "/a/..;/b", `\a\b`, "/a%5C..%5Cb",
	"/a%00b", "/a%09b", "/a%20/%20", "/%%3241", "/%2%34%31", "/%25%32%35", "/%zz%4", "/%C3%84/\xff",
	"/\u212A", "/\u023A\u023A", "/a;b/c;d=e/", "/.%2e/%2E%2E/x", "/%252e%252e/x", "%", "%2", "/a%",
}

func FuzzCanonicalPath(f *testing.F) {
	for _, s := range canonicalSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, ok := canonicalPath(raw)
		if !ok {
			if c != "" {
				t.Fatalf("%q is unreadable, but canonicalises to %q", raw, c)
			}
			if _, ok := readingsOf(raw); ok {
				t.Fatalf("%q is unreadable for canonicalPath, not for readingsOf", raw)
			}
			return
		}
		switch {
		case !strings.HasPrefix(c, "/"):
			t.Fatalf("%q -> %q: no leading slash", raw, c)
		case strings.Contains(c, "//"):
			t.Fatalf("%q -> %q: empty segment", raw, c)
		case c != "/" && strings.HasSuffix(c, "/"):
			t.Fatalf("%q -> %q: trailing slash", raw, c)
		case strings.ContainsAny(c, "\\;"):
			t.Fatalf("%q -> %q: backslash or params left", raw, c)
		}
		for _, seg := range strings.Split(c[1:], "/") {
			if seg == "." || seg == ".." || strings.TrimSpace(seg) != seg {
				t.Fatalf("%q -> %q: segment %q not normalised", raw, c, seg)
			}
		}
		for i := 0; i+2 < len(c); i++ {
			if c[i] == '%' && unhex(c[i+1]) < 16 && unhex(c[i+2]) < 16 {
				t.Fatalf("%q -> %q: escape left at %d", raw, c, i)
			}
		}
		if hasControl([]byte(c)) || strings.ContainsAny(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			t.Fatalf("%q -> %q: control or upper-case letter left", raw, c)
		}
		if again := CanonicalPath(c); again != c {
			t.Fatalf("not idempotent: %q -> %q -> %q", raw, c, again)
		}
		// What the application sees after decoding once (or with different case) must not
		// canonicalise differently: that would be a way around an order.
		if d := CanonicalPath(string(decodeOnce(raw))); d != c {
			t.Fatalf("decoding first changes the result: %q -> %q, but %q -> %q", raw, c, string(decodeOnce(raw)), d)
		}
		if u := CanonicalPath(asciiUpper(raw)); u != c {
			t.Fatalf("upper-casing changes the result: %q -> %q, but %q", raw, c, u)
		}
		// The one-pass reading and the fast paths agree with the general one.
		segs, _ := decodedSegments(raw)
		if slow := string(canonicalReading(segs).text); slow != c {
			t.Fatalf("canonicalPath gives %q for %q, the general reading %q", c, raw, slow)
		}
		// A path read in one pass has no ambiguity that could matter: its one reading is among
		// the general ones, and the others differ from it at most by a trailing blank segment,
		// which no key or order can be read from.
		readings, _ := readingsOf(raw)
		if t1, res := appendReading(nil, raw); res == readOne {
			found := false
			for _, rd := range readings {
				switch string(rd.text) {
				case string(t1):
					found = true
				case string(t1) + "/", strings.TrimSuffix(string(t1), "/") + "/":
				default:
					t.Fatalf("one reading %q for %q, but readingsOf also gives %q", t1, raw, rd.text)
				}
			}
			if !found {
				t.Fatalf("one reading %q for %q is not among readingsOf's", t1, raw)
			}
		}
	})
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// FuzzMatch checks that matching never panics, and that a spelling can only add to what is
// withheld: every reading of the canonical form, or of the path as an application sees it
// after decoding it once, is one of the path's own readings.
func FuzzMatch(f *testing.F) {
	for _, s := range canonicalSeeds {
		f.Add(s, "id=123")
	}
	f.Add("/1.1/statuses/show.json", "i%64=0123&id=%2531")
	f.Add("/media/upload", "")
	f.Add("/@SomeUser.rss", "")
	f.Add("/%20/status/123", "")
	f.Add("/someuser/status/123/..", "")
	r := mustRegister(f, bypassRegister, Options{})
	f.Fuzz(func(t *testing.T, path, query string) {
		_, v := r.Match("RU", path, query, testNow)
		if _, readable := canonicalPath(path); !readable && v != Ambiguous {
			t.Fatalf("%q has a control character, but the verdict is %v", path, v)
		}
		if v == Ambiguous {
			return
		}
		for _, other := range []string{CanonicalPath(path), string(decodeOnce(path))} {
			if o, v2 := r.Match("RU", other, query, testNow); v2 == Applies && v != Applies {
				t.Fatalf("%q is withheld (%s), but %q is %v", other, o.ID, path, v)
			}
		}
	})
}

var csvSeeds = []string{
	"id,countries,target,action,authority,reference,notice,reason,start,end\n" +
		"a,RU|BY,post:00123,throttle 64KiB/s both,RKN,1-2/3,https://n.example/1,\"two\nlines, comma\",2024-01-01,2024-02-01T00:00:00+03:00\n" +
		"b,*,@SomeUser,,,,,,,\n" +
		"c,ru,path:/Media/Upload*,,,,,,,\n" +
		"d,KZ,https://twitter.example/x/status/9?s=1,,,,,,,\n" +
		"e,KZ,path:/a%25b/%3F*,,,,,,,\n" +
		"f,KZ,http://x.example/mp3/%F1%E5%E9,,,,,,,\n" +
		"g,KZ,post:099999999999999999999,,,,,,,\n",
	"\ufeffid;countries;target\r\nx;RU;path:/banned\r\n",
	"sep=;\nid;countries;target\nx;RU;post:1\n",
	"id,countries,target\nx,RX,post:1\nx,RU,bogus\n",
	"id,countries,target\n\"x,RU,post:1\n",
	"",
	"id,countries,target\n",
	"id,countries,target\n" +
		"a,RU,https://twitter.example/#!/someuser/status/715\n" +
		"b,RU,https://twitter.example/#/someuser\n" +
		"c,RU,https://twitter.example/#!/1.1/statuses/show.json?id=9\n" +
		"d,RU,https://twitter.example/search\n" +
		"e,RU,https://twitter.example/search?q=x\n" +
		"f,RU,https://twitter.example/someuser/status/1#reply\n" +
		"g,RU,account:search\n",
	"\xff\xfei\x00d\x00,\x00",
}

func FuzzParseCSV(f *testing.F) {
	for _, s := range csvSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, _, err := parseOrders("bom.csv", string(append([]byte("\xff\xfe"), data...)), Options{}); err == nil {
			t.Fatal("a file with a UTF-16 byte order mark was accepted")
		}
		orders, _, err := parseOrders("fuzz.csv", string(data), Options{})
		if err != nil {
			if orders != nil {
				t.Fatal("orders returned with an error")
			}
			return
		}
		again, _, err := parseOrders("again.csv", string(writeCSV(t, orders)), Options{})
		if err != nil {
			t.Fatalf("re-serialised register does not parse: %v\n%s", err, writeCSV(t, orders))
		}
		sameOrders(t, orders, again)
		everyOrderMatches(t, orders)
	})
}

// everyOrderMatches compiles accepted orders and checks that a request for each order's own
// target, in its country and window, is answered by some order.
func everyOrderMatches(t *testing.T, orders []Order) {
	t.Helper()
	r, err := compileOrders(t, orders, Options{})
	if err != nil {
		t.Fatalf("accepted orders do not compile: %v", err)
	}
	for _, o := range orders {
		var path string
		switch o.Target.Kind {
		case TargetPost:
			path = "/x/status/" + o.Target.Value
		case TargetAccount:
			path = "/" + o.Target.Value
		case TargetPath:
			path = escapePath(o.Target.Value)
		case TargetPathPrefix:
			path = escapePath(o.Target.Value) + "x"
		}
		country := o.Countries[0]
		if country == "*" {
			country = ""
		}
		now := testNow
		switch {
		case !o.Start.IsZero():
			now = o.Start
		case !o.End.IsZero():
			now = o.End.Add(-time.Nanosecond)
		}
		if _, ok := applies(r, country, path, "", now); !ok {
			t.Fatalf("order %s (%v) not matched by %q in %q at %v", o.ID, o.Target, path, country, now)
		}
	}
}

var jsonSeeds = []string{
	`[{"id":"a","countries":["RU","by"],"target":"post:1","action":"throttle 1MiB/s","reason":"x\ny","start":"2024-01-01"}]`,
	`{"id":"a","countries":"RU","target":"@x"}` + "\n" + `{"id":"b","countries":"*","target":"path:/x*","end":null}`,
	`[{"id":"a","countries":"RU","target":"post:1"},{"id":"a"}]`,
	`[{"id":"a","id":"b"}]`,
	`{"id":1}`,
	`[`,
	`{"id":"a","countries":"RU","target":"@x\ud800"}`,
	`{"id":"a","countries":"RU","target":"@x\udc00\ud800"}`,
	`{"id":"a","countries":"RU","target":"post:1","reason":"\ud83d\ude00 \\ud800"}`,
	"{\"id\":\"a\",\"countries\":\"RU\",\"target\":\"@\xcf\xf0\xe8\"}",
	"[{\"id\":\"a\",\"countries\":\"RU\",\"target\":\"post:1\",\"r\xe5ason\":\"x\"}]",
	"\xff\xfe[\x00{\x00}\x00]\x00",
	"[\x00{\x00\"\x00",
	`[]`,
}

func FuzzParseJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range []string{"fuzz.json", "fuzz.jsonl"} {
			orders, _, err := parseOrders(name, string(data), Options{})
			if err != nil {
				continue
			}
			// The array is read in pieces; what is accepted must be JSON as a whole.
			if text := bytes.TrimLeft(bytes.TrimPrefix(data, []byte(bom)), " \t\r\n"); name == "fuzz.json" && len(text) > 0 && text[0] == '[' && !json.Valid(bytes.TrimPrefix(data, []byte(bom))) {
				t.Fatalf("accepted an array that is not valid JSON: %q", data)
			}
			again, _, err := parseOrders("again.jsonl", string(writeJSONLines(t, orders)), Options{})
			if err != nil {
				t.Fatalf("re-serialised register does not parse: %v\n%s", err, writeJSONLines(t, orders))
			}
			sameOrders(t, orders, again)
			everyOrderMatches(t, orders)
			// encoding/json turns bad bytes and lone surrogates into U+FFFD; the register
			// must refuse them rather than read a text the file does not hold.
			if hasReplacementChar(orders) && !bytes.Contains(data, []byte("\ufffd")) && !bytes.Contains(bytes.ToLower(data), []byte(`\ufffd`)) {
				t.Fatalf("U+FFFD in an accepted order, not in the input %q", data)
			}
		}
	})
}

func hasReplacementChar(orders []Order) bool {
	for _, o := range orders {
		for _, s := range append([]string{o.ID, o.Target.Value, o.Authority, o.Reference, o.Notice, o.Reason}, o.Countries...) {
			if strings.ContainsRune(s, utf8.RuneError) {
				return true
			}
		}
	}
	return false
}

// FuzzURLTarget checks that a URL target never covers more than it says: a fragment is
// either a route on an empty path, resolved exactly as that path would be, or refused; and a
// reserved route name never becomes an account.
func FuzzURLTarget(f *testing.F) {
	for _, s := range []string{
		"/#!/someuser/status/715", "#!/SomeUser", "/#/someuser/status/716", "/#!/1.1/statuses/show.json?id=9",
		"/#top", "/someuser/status/1#reply", "/#!someuser", "/home#!/x", "/?a=1#!/x", "/#!//evil.example/x",
		"/#!/a#b", "/#!/search?q=x", "/search", "/@Settings/", "/search/status/5", "/1.1/users/show.json?screen_name=home",
		"/#", "/#!/", "/#!/%73earch", "/#!/a%23b",
	} {
		f.Add(s)
	}
	b, err := newBuilder(context.Background(), Options{}, 0)
	if err != nil {
		f.Fatal(err)
	}
	const base = "https://twitter.example"
	f.Fuzz(func(t *testing.T, tail string) {
		if !strings.HasPrefix(tail, "/") && !strings.HasPrefix(tail, "#") && !strings.HasPrefix(tail, "?") {
			tail = "/" + tail // the host ends here
		}
		kind, value, _, err := b.urlTarget(base + tail)
		if err != nil {
			return
		}
		if kind == TargetAccount && b.patterns.isReserved(value) {
			t.Fatalf("%q: reserved name %q became an account", tail, value)
		}
		before, frag, hasFrag := strings.Cut(tail, "#")
		if !hasFrag || frag == "" {
			return
		}
		route, ok := strings.CutPrefix(frag, "!")
		if !ok {
			route = frag
		}
		if (before != "" && before != "/") || !strings.HasPrefix(route, "/") {
			t.Fatalf("%q: fragment accepted as %v:%q", tail, kind, value)
		}
		k2, v2, _, err := b.urlTarget(base + route)
		if err != nil || k2 != kind || v2 != value {
			t.Fatalf("%q -> %v:%q, but its route %q -> %v:%q, %v", tail, kind, value, route, k2, v2, err)
		}
	})
}

func orderRecord(o *Order) []string {
	action := "block"
	if o.Action == ActionThrottle {
		action = "throttle " + strconv.FormatInt(o.Rate, 10) + "B/s"
		if o.ThrottleResponse {
			action += " both"
		}
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format(time.RFC3339Nano)
	}
	return []string{o.ID, strings.Join(o.Countries, "|"), o.Target.String(), action, o.Authority, o.Reference, o.Notice, o.Reason, ts(o.Start), ts(o.End)}
}

func writeCSV(t testing.TB, orders []Order) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(fieldNames[:])
	for i := range orders {
		w.Write(orderRecord(&orders[i]))
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeJSONLines(t *testing.T, orders []Order) []byte {
	var b bytes.Buffer
	for i := range orders {
		rec := orderRecord(&orders[i])
		m := make(map[string]string)
		for f, v := range rec {
			if v != "" {
				m[fieldNames[f]] = v
			}
		}
		line, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func sameOrders(t *testing.T, a, b []Order) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d orders, then %d", len(a), len(b))
	}
	for i := range a {
		b[i].Source = a[i].Source
		if d := diffOrder(b[i], a[i]); d != "" {
			t.Fatalf("order %d changed in the round trip: %s", i, d)
		}
		if k := a[i].Target.Kind; (k == TargetPost || k == TargetAccount) && !utf8.ValidString(a[i].Target.Value) {
			t.Fatalf("target %q is not UTF-8", a[i].Target.Value)
		}
	}
}

// FuzzJSONObject checks the fast object reader against encoding/json: whatever it accepts,
// encoding/json must read the same, without complaint.
func FuzzJSONObject(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","countries":["RU","BY"],"target":"post:1","end":null}`,
		`{ "ID" : "a" , "Countries" : "RU" }`,
		`{}`, `{"id":"\u0041"}`, `{"id":"a","id":"b"}`, `{"id":1}`, `{"countries":[]}`,
		`{"reason":"Доступ ограничен"}`, "{\"reason\":\"\xff\"}", `{"id":"a"} x`, `{"id":"a",}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, obj string) {
		var fast row
		if !jsonObjectFast(obj, &fast) {
			return
		}
		var slow row
		problems, fatal := jsonObjectSlow(obj, &slow)
		if fatal || len(problems) > 0 {
			t.Fatalf("%q: fast path accepted what encoding/json rejects: %v", obj, problems)
		}
		if fast.val != slow.val {
			t.Fatalf("%q: fast %q, encoding/json %q", obj, fast.val, slow.val)
		}
	})
}

// plainJSONTextByBytes is plainJSONText one byte at a time, as the tests' reference.
func plainJSONTextByBytes(s string) (plain, ascii bool) {
	ascii = true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' || c < 0x20:
			return false, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return true, ascii
}

// plainJSONText answers what a byte-by-byte look answers, for every byte value at every
// position of the eight-byte words and of the tail, next to others.
func TestPlainJSONText(t *testing.T) {
	for _, fill := range []byte{'a', 0x7f, 0x80, 0xff, ' ', '!', '[', ']'} {
		for n := range 20 {
			for at := range n {
				for c := range 256 {
					b := bytes.Repeat([]byte{fill}, n)
					b[at] = byte(c)
					checkPlainJSONText(t, string(b))
				}
			}
		}
	}
}

func FuzzPlainJSONText(f *testing.F) {
	f.Add("plain text, long enough for two words")
	f.Add("Доступ ограничен \\n")
	f.Fuzz(checkPlainJSONText)
}

func checkPlainJSONText(t *testing.T, s string) {
	gp, ga := plainJSONText(s)
	if wp, wa := plainJSONTextByBytes(s); gp != wp || ga != wa {
		t.Fatalf("plainJSONText(%q) = %v, %v; want %v, %v", s, gp, ga, wp, wa)
	}
}
