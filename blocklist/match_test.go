package blocklist

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const bypassRegister = "id,countries,target\n" +
	"p1,RU,post:123\n" +
	"a1,RU,account:someuser\n" +
	"x1,RU,path:/banned\n" +
	"m1,RU,path:/media/upload*\n" +
	"d1,RU,path:/docs/*\n"

// Every spelling of a listed path that an application might accept must still match, and
// the near misses must not.
func TestMatchBypass(t *testing.T) {
	r := mustRegister(t, bypassRegister, Options{})
	tests := []struct {
		name, path, query string
		want              string // order id, "" for no match
	}{
		{"plain", "/someuser/status/123", "", "p1"},
		{"case", "/SomeUser/STATUS/123", "", "p1"},
		{"encoded letter", "/someuser/%73tatus/123", "", "p1"},
		{"encoded lower-case hex", "/someuser/%73TATUS/123", "", "p1"},
		{"double-encoded", "/someuser/%2573tatus/123", "", "p1"},
		{"triple-encoded", "/someuser/%252573tatus/123", "", "p1"},
		{"encoded digits", "/someuser/status/%31%32%33", "", "p1"},
		{"encoded slashes", "/someuser%2Fstatus%2F123", "", "p1"},
		{"encoded slash lower-case", "/someuser/status%2f123", "", "p1"},
		{"double slashes", "//someuser//status//123", "", "p1"},
		{"trailing slash", "/someuser/status/123/", "", "p1"},
		{"jsessionid", "/someuser/status/123;jsessionid=1", "", "p1"},
		{"params in every segment", "/someuser;x=1/status;y/123", "", "p1"},
		{"trailing segments", "/someuser/status/123/photo/1", "", "p1"},
		{"leading zeros", "/someuser/status/00123", "", "p1"},
		{"plus sign", "/someuser/status/+123", "", "p1"},
		{"format suffix", "/someuser/status/123.json", "", "p1"},
		{"lenient integer parse", "/other/status/123abc", "", "p1"}, // Rails' to_i reads 123
		{"trailing space", "/someuser/status/123%20", "", "p1"},
		{"backslashes", `\someuser\status\123`, "", "p1"},
		{"encoded backslashes", "/someuser%5Cstatus%5C123", "", "p1"},
		{"other account's status", "/other/status/123", "", "p1"},
		{"statuses", "/other/statuses/123", "", "p1"},
		{"web status", "/i/web/status/123", "", "p1"},
		{"i status", "/I/Status/0123", "", "p1"},
		{"api v1", "/api/v1/statuses/123", "", "p1"},
		{"api 1.1 show", "/1.1/statuses/show/123.json", "", "p1"},
		{"mastodon post", "/@other/123", "", "p1"},
		{"show.json", "/1.1/statuses/show.json", "id=123", "p1"},
		{"show.json leading zero", "/1.1/statuses/show.json", "id=0123", "p1"},
		{"show.json encoded name", "/1.1/statuses/show.json", "i%64=123", "p1"},
		{"show.json encoded value", "/1.1/statuses/show.json", "id=%31%32%33", "p1"},
		{"show.json double-encoded value", "/1.1/statuses/show.json", "id=%2531%2532%2533", "p1"},
		{"show.json repeated", "/1.1/statuses/show.json", "id=1&id=123", "p1"},
		{"show.json many repeats", "/1.1/statuses/show.json", strings.Repeat("id=1&", 100) + "id=123", "p1"},
		{"show.json semicolons", "/1.1/statuses/show.json", "x=1;id=123", "p1"},
		{"show.json case", "/1.1/Statuses/SHOW.JSON", "ID=123", "p1"},
		{"show.json array", "/1.1/statuses/show.json", "id[]=123", "p1"},
		{"show.json plus", "/1.1/statuses/show.json", "id=+123", "p1"},
		{"show.json trailing slash", "/1.1/statuses/show.json/", "id=123", "p1"},

		{"blank account", "/%20/status/123", "", "p1"},
		{"empty account, params", "/;x/status/123", "", "p1"},
		{"other account with an encoded slash", "/x%2Fy/status/123", "", "p1"},
		{"encoded slash and backslashes", `/a%2Fb\status\123`, "", "p1"},
		{"empty segment in the middle", "/someuser/status//123", "", "p1"},
		{"invisible segment", "/other/%E2%80%8B/status/123", "", "p1"},
		{"fullwidth digits", "/someuser/status/%EF%BC%91%EF%BC%92%EF%BC%93", "", "p1"},
		{"Arabic-Indic digits", "/other/status/%D9%A1%D9%A2%D9%A3", "", "p1"},
		{"Devanagari digits", "/other/status/%E0%A5%A7%E0%A5%A8%E0%A5%A9", "", "p1"},
		{"mixed scripts", "/other/status/1%EF%BC%923", "", "p1"},
		{"underscores", "/other/status/1_23", "", "p1"},
		{"hexadecimal", "/other/status/0x7b", "", "p1"},
		{"hexadecimal upper-case", "/other/status/0X7B", "", "p1"},
		{"a fraction of zero", "/other/status/123.0", "", "p1"},
		{"an exponent", "/other/status/1.23e2", "", "p1"},
		{"a negative exponent", "/other/status/12300e-2", "", "p1"},
		{"query hexadecimal", "/1.1/statuses/show.json", "id=0x7b", "p1"},
		{"query fullwidth", "/1.1/statuses/show.json", "id=%EF%BC%91%EF%BC%92%EF%BC%93", "p1"},
		{"fullwidth account", "/%EF%BD%93%EF%BD%8F%EF%BD%8D%EF%BD%85user", "", "a1"},
		{"accented account", "/s%C3%B3meuser", "", "a1"},
		{"combining accent", "/so%CC%81meuser", "", "a1"},
		{"zero-width space in account", "/some%E2%80%8Buser", "", "a1"},
		{"soft hyphen in account", "/some%C2%ADuser", "", "a1"},
		{"no-break space after account", "/someuser%C2%A0", "", "a1"},
		{"fullwidth solidus", "/someuser%EF%BC%8Fstatus%EF%BC%8F123", "", "p1"},

		{"profile", "/someuser", "", "a1"},
		{"profile case", "/SomeUser", "", "a1"},
		{"profile at", "/@SomeUser", "", "a1"},
		{"profile encoded at", "/%40someuser", "", "a1"},
		{"profile double at", "/@@someuser", "", "a1"},
		{"profile at and no-break space", "/@%C2%A0someuser%20", "", "a1"},
		{"profile at and spaces", "/@%20@%E3%80%80someuser", "", "a1"},
		{"profile space and at", "/%20@someuser", "", "a1"},
		{"api screen_name at and space", "/1.1/users/show.json", "screen_name=%40+someuser", "a1"},
		{"profile slash", "/someuser/", "", "a1"},
		{"profile space", "/someuser%20", "", "a1"},
		{"profile format", "/someuser.json", "", "a1"},
		{"profile rss", "/@SomeUser.rss", "", "a1"},
		{"under profile", "/someuser/with_replies", "", "a1"},
		{"unlisted post of listed account", "/someuser/status/999", "", "a1"},
		{"mastodon post of listed account", "/@someuser/999", "", "a1"},
		{"api screen_name", "/1.1/users/show.json", "screen_name=SomeUser", "a1"},
		{"api screen_name at", "/1.1/users/show.json", "screen_name=%40someuser", "a1"},

		{"exact path", "/banned", "", "x1"},
		{"exact path case", "/BANNED", "", "x1"},
		{"exact path slash", "/banned/", "", "x1"},
		{"exact path params", "/banned;x=1", "", "x1"},
		{"exact path encoded", "/%62anned", "", "x1"},
		{"exact path with query", "/banned", "x=1", "x1"},

		{"prefix", "/media/upload", "", "m1"},
		{"prefix deeper", "/media/upload/x", "", "m1"},
		{"prefix is a string prefix", "/media/uploads", "", "m1"},
		{"prefix case", "/MEDIA/Upload", "", "m1"},
		{"prefix double slash", "/media//upload", "", "m1"},
		{"prefix encoded slash", "/media%2fupload", "", "m1"},
		{"prefix params", "/media/upload;a=b", "", "m1"},
		{"directory prefix", "/docs/a", "", "d1"},
		{"directory prefix covers the directory", "/docs", "", "d1"},
		{"directory prefix covers the directory slash", "/docs/", "", "d1"},

		{"other hexadecimal", "/other/status/0x7c", "", ""},
		{"a true fraction", "/other/status/124.5", "", ""},
		{"another exponent", "/other/status/1.24e2", "", ""},
		{"underscore at the end", "/other/status/12_", "", ""},
		{"accent on another account", "/s%C3%B3meuser2", "", ""},
		{"other post", "/other/status/1234", "", ""},
		{"shorter post", "/other/status/12", "", ""},
		{"post with trailing zero", "/other/status/1230", "", ""},
		{"letters before digits", "/other/status/x123", "", ""},
		{"other account", "/someuser2", "", ""},
		{"other account status", "/someuser2/status/5", "", ""},
		{"account as suffix", "/xsomeuser", "", ""},
		{"account as later segment", "/x/someuser", "", ""},
		{"exact path is exact", "/bannedx", "", ""},
		{"exact path covers no children", "/banned/x", "", ""},
		{"short of the prefix", "/media/uploa", "", ""},
		{"directory prefix is not a string prefix", "/docsx", "", ""},
		{"show.json other id", "/1.1/statuses/show.json", "id=1234", ""},
		{"show.json other name", "/1.1/statuses/show.json", "xid=123&id_str=123", ""},
		{"query on a path pattern", "/other", "id=123", ""},
		{"no query", "/1.1/statuses/show.json", "", ""},
		{"home", "/", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, ok := applies(r, "RU", tc.path, tc.query, testNow)
			if ok != (tc.want != "") || o.ID != tc.want {
				t.Errorf("Match(%q, %q) = %q, %v; want %q (canonical %q)", tc.path, tc.query, o.ID, ok, tc.want, CanonicalPath(tc.path))
			}
			if tc.want == "" {
				return
			}
			for _, country := range []string{"BY", "", "XX", "R"} {
				if o, ok := applies(r, country, tc.path, tc.query, testNow); ok {
					t.Errorf("matched %s in %q", o.ID, country)
				}
			}
			if _, ok := applies(r, "ru", tc.path, tc.query, testNow); !ok {
				t.Error("country codes compare case-insensitively")
			}
		})
	}
}

// Paths with dot segments or control characters are refused, whatever they would match.
func TestMatchRefusesAmbiguousPaths(t *testing.T) {
	r := mustRegister(t, bypassRegister, Options{})
	tests := []struct{ name, path string }{
		{"dot segments", "/./someuser/./status/./123"},
		{"dot-dot back", "/someuser/status/../status/123"},
		{"dot-dot from elsewhere", "/x/../someuser/status/123"},
		{"dot-dot above root", "/../../someuser/status/123"},
		{"encoded dot-dot", "/x/%2e%2e/someuser/status/123"},
		{"tomcat dot-dot", "/x/..;/someuser/status/123"},
		{"exact path dot-dot", "/x/../banned"},
		{"prefix dot", "/media/./upload"},
		{"prefix dot-dot", "/media/x/../upload"},
		{"trailing dot-dot", "/someuser/status/123/.."},
		{"dot account", "/./status/123"},
		{"double-encoded dot-dot", "/x/%252e%252e/someuser"},
		{"fullwidth dot-dot", "/x/%EF%BC%8E%EF%BC%8E/someuser"},
		{"dot with params", "/.;jsessionid=1/status/123"},
		{"NUL", "/banned%00.jpg"},
		{"tab", "/some%09user/status/1%0923"},
		{"line feed", "/someuser%0a"},
		{"DEL", "/someuser%7f"},
		{"C1 control", "/someuser%C2%85"},
		{"double-encoded NUL", "/banned%2500"},
		{"nothing listed", "/nobody/./x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, country := range []string{"RU", "DE", ""} {
				if o, v := r.Match(country, tc.path, "", testNow); v != Ambiguous {
					t.Errorf("Match(%q, %q) = %q, %v; want ambiguous", country, tc.path, o.ID, v)
				}
			}
		})
	}
}

// Post ids too long for a uint64 are compared as strings, without leading zeros, on both
// sides.
func TestMatchHugePostIDs(t *testing.T) {
	r := mustRegister(t, "id,countries,target\nhuge,RU,post:099999999999999999999\nmax,RU,post:18446744073709551615\n", Options{})
	tests := []struct{ path, want string }{
		{"/x/status/99999999999999999999", "huge"},
		{"/x/status/0000099999999999999999999", "huge"},
		{"/x/status/99999999999999999999.json", "huge"},
		{"/x/status/18446744073709551615", "max"},
		{"/x/status/018446744073709551615", "max"},
		{"/x/status/18446744073709551616", ""},
		{"/x/status/9999999999999999999", ""},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			if o, _ := applies(r, "RU", tc.path, "", testNow); o.ID != tc.want {
				t.Errorf("got %q, want %q", o.ID, tc.want)
			}
		})
	}
}

func TestMatchPrecedence(t *testing.T) {
	r := mustRegister(t, "id,countries,target,action\n"+
		"z-post-throttle,RU,post:1,throttle 1KiB/s\n"+
		"y-account-block,RU,account:a,\n"+
		"b-post-block,RU,post:2,\n"+
		"a-account-block,RU,account:b,\n"+
		"c-post-block,RU,post:2,\n"+
		"t-slow,RU,post:3,throttle 1KiB/s\n"+
		"t-fast,RU,post:3,throttle 1MiB/s\n"+
		"t-both,RU,account:c,throttle 1KiB/s both\n"+
		"t-up,RU,post:4,throttle 1KiB/s\n"+
		"p-exact,RU,path:/p/x,\n"+
		"p-prefix,RU,path:/p/*,\n"+
		"p-short,RU,path:/q*,\n"+
		"p-long,RU,path:/q/r*,\n",
		Options{Patterns: mustPatterns(t, "/{account}/s/{post}")})
	tests := []struct{ path, want, why string }{
		{"/a/s/1", "y-account-block", "a block wins over a throttle, whatever the target"},
		{"/b/s/2", "b-post-block", "among blocks a post wins over an account, then the lowest id"},
		{"/x/s/3", "t-slow", "among throttles the lowest rate wins"},
		{"/c/s/4", "t-both", "at the same rate, one that also slows responses wins"},
		{"/p/x", "p-exact", "an exact path wins over a prefix"},
		{"/q/r/s", "p-long", "between prefixes, the lowest id"},
	}
	for _, tc := range tests {
		t.Run(tc.why, func(t *testing.T) {
			o, ok := applies(r, "RU", tc.path, "", testNow)
			if !ok || o.ID != tc.want {
				t.Errorf("Match(%q) = %q, want %q", tc.path, o.ID, tc.want)
			}
		})
	}
}

func mustPatterns(t testing.TB, templates ...string) *Patterns {
	t.Helper()
	p, err := ParsePatterns(templates)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMatchWindowsAndCountries(t *testing.T) {
	r := mustRegister(t, "id,countries,target,start,end\n"+
		"past,RU,post:1,2020-01-01,2021-01-01\n"+
		"now,RU,post:1,2025-06-01T12:00:00Z,2025-06-01T12:00:01Z\n"+
		"future,RU,post:2,2030-01-01,\n"+
		"always,*,post:3,,\n"+
		"two,BY|KZ,post:4,,\n",
		Options{})
	tests := []struct {
		name, country, path string
		now                 time.Time
		want                string
	}{
		{"expired order skipped, active one found", "RU", "/a/status/1", testNow, "now"},
		{"end is exclusive", "RU", "/a/status/1", testNow.Add(time.Second), ""},
		{"inside the old window", "RU", "/a/status/1", time.Date(2020, 6, 1, 0, 0, 0, 0, time.UTC), "past"},
		{"not yet", "RU", "/a/status/2", testNow, ""},
		{"from its start", "RU", "/a/status/2", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), "future"},
		{"everywhere", "US", "/a/status/3", testNow, "always"},
		{"everywhere includes unknown", "", "/a/status/3", testNow, "always"},
		{"second country", "kz", "/a/status/4", testNow, "two"},
		{"not that country", "RU", "/a/status/4", testNow, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, ok := applies(r, tc.country, tc.path, "", tc.now)
			if ok != (tc.want != "") || o.ID != tc.want {
				t.Errorf("got %q, want %q", o.ID, tc.want)
			}
		})
	}
	if !r.HasCountry("DE") {
		t.Error(`HasCountry must be true everywhere with a "*" order`)
	}
	r2 := mustRegister(t, "id,countries,target\na,RU,post:1\n", Options{})
	if !r2.HasCountry("ru") || r2.HasCountry("DE") || r2.HasCountry("") {
		t.Error("HasCountry")
	}
	var nilRegister *Register
	if _, ok := applies(nilRegister, "RU", "/", "", testNow); ok || nilRegister.Len() != 0 || nilRegister.HasCountry("RU") {
		t.Error("a nil register matches nothing")
	}
}

func TestMatchReturnsACopy(t *testing.T) {
	r := mustRegister(t, "id,countries,target,action,authority,reason,notice\n"+
		"a,RU|BY,post:7,throttle 8KiB/s both,RKN,Because,https://n.example/a\n", Options{})
	o, ok := applies(r, "BY", "/x/status/7", "", testNow)
	if !ok {
		t.Fatal("no match")
	}
	want := Order{ID: "a", Countries: []string{"BY", "RU"}, Target: Target{TargetPost, "7"}, Action: ActionThrottle, Rate: 8192,
		ThrottleResponse: true, Authority: "RKN", Reason: "Because", Notice: "https://n.example/a", Source: "orders.csv:2"}
	if d := diffOrder(o, want); d != "" {
		t.Error(d)
	}
	o.Countries[0] = "XX"
	if o2, _ := applies(r, "BY", "/x/status/7", "", testNow); o2.Countries[0] != "BY" {
		t.Error("changing a returned order changed the register")
	}
}

func TestMatchAllocations(t *testing.T) {
	r := mustRegister(t, bypassRegister, Options{})
	tests := []struct{ name, country, path, query string }{
		{"clean", "RU", "/other/status/1234567890123456789", ""},
		{"upper-case", "RU", "/Other/Status/1234567890123456789", ""},
		{"dirty", "RU", "/Other/%73tatus/%31%32;x=1/", ""},
		{"fullwidth", "RU", "/%EF%BC%AFther/status/%EF%BC%91%EF%BC%92", ""},
		{"non-ASCII", "RU", "/hashtag/%D0%9F%D0%A0%D0%98%D0%92%D0%95%D0%A2", ""},
		{"query", "RU", "/1.1/statuses/show.json", "id=1234&id=%35&i%64=9"},
		{"format suffix", "RU", "/other.json", ""},
		{"no orders in country", "DE", "/someuser/status/123", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := applies(r, tc.country, tc.path, tc.query, testNow); ok {
				t.Fatal("unexpected match")
			}
			if n := testing.AllocsPerRun(200, func() { r.Match(tc.country, tc.path, tc.query, testNow) }); n != 0 {
				t.Errorf("allow path allocates %v times", n)
			}
		})
	}
}

func TestParsePatterns(t *testing.T) {
	tests := []struct {
		name      string
		templates []string
		err       string
	}{
		{"defaults", defaultTemplates, ""},
		{"query", []string{"/view?post={post}"}, ""},
		{"root query", []string{"/?p={post}"}, ""},
		{"trailing slash", []string{"/u/{account}/"}, ""},
		{"none", nil, "patterns: no templates"},
		{"no placeholder", []string{"/home"}, `pattern "/home": no {post} or {account} placeholder`},
		{"unknown placeholder", []string{"/x/{user}"}, `pattern "/x/{user}": unknown placeholder {user} (want {post} or {account})`},
		{"partial segment", []string{"/x/{post}.json"}, `pattern "/x/{post}.json": segment "{post}.json": a placeholder must be a whole segment`},
		{"duplicate placeholder", []string{"/{post}/{post}"}, `pattern "/{post}/{post}": duplicate placeholder {post}`},
		{"duplicate in query", []string{"/{post}?id={post}"}, `pattern "/{post}?id={post}": duplicate placeholder {post}`},
		{"duplicate template", []string{"/{post}", "/{POST}"}, ""}, // placeholders are case-sensitive: {POST} is unknown
		{"duplicate template exact", []string{"/a/{post}", "/A/{post}"}, `pattern "/A/{post}": duplicate template`},
		{"relative", []string{"{account}"}, `pattern "{account}": must start with "/"`},
		{"empty segment", []string{"/a//{post}"}, `pattern "/a//{post}": empty segment`},
		{"dot segment", []string{"/a/../{post}"}, `pattern "/a/../{post}": segment ".." can never appear in a canonical path`},
		{"escape", []string{"/%61/{post}"}, `pattern "/%61/{post}": segment "%61" can never appear in a canonical path`},
		{"params", []string{"/a;b/{post}"}, `pattern "/a;b/{post}": segment "a;b" can never appear in a canonical path`},
		{"bad query", []string{"/x?id={post}&y=1"}, `pattern "/x?id={post}&y=1": query "id={post}&y=1": value must be {post} or {account}`},
		{"query literal", []string{"/x?id=5"}, `pattern "/x?id=5": query "id=5": value must be {post} or {account}`},
		{"too deep", []string{"/a/b/c/d/e/f/g/h/i/{post}"}, `more than 8 segments`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePatterns(tc.templates)
			if tc.name == "duplicate template" {
				if err == nil || !strings.Contains(err.Error(), "unknown placeholder {POST}") {
					t.Errorf("got %v", err)
				}
				return
			}
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := p.Templates(); len(got) != len(tc.templates) {
					t.Errorf("Templates() = %q", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("got %v, want %q", err, tc.err)
			}
		})
	}
}

// Configured patterns replace the defaults.
func TestCustomPatterns(t *testing.T) {
	p := mustPatterns(t, "/u/@{account}", "/p/{post}", "/view?post={post}")
	r := mustRegister(t, "id,countries,target\na,RU,post:5\nb,RU,@bob\n", Options{Patterns: p})
	tests := []struct{ path, query, want string }{
		{"/p/5", "", "a"},
		{"/view", "post=5", "a"},
		{"/u/@Bob/media", "", "b"},
		{"/u/bob", "", ""}, // "@{account}" needs the "@"
		{"/bob", "", ""},
		{"/x/status/5", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			o, _ := applies(r, "RU", tc.path, tc.query, testNow)
			if o.ID != tc.want {
				t.Errorf("got %q, want %q", o.ID, tc.want)
			}
		})
	}
}

func TestMatchAnyCountry(t *testing.T) {
	reg := mustRegister(t, "id,countries,target\n"+
		"ru,RU,post:1\n"+
		"de,DE,path:/banned\n"+
		"later,RU,post:2\n", Options{})
	now := time.Now()
	if !reg.HasCountry(AnyCountry) {
		t.Error("HasCountry(AnyCountry) = false for a register with orders")
	}
	for _, tc := range []struct {
		path string
		want string
	}{
		{"/u/status/1", "ru"},
		{"/banned", "de"},
		{"/u/status/3", ""},
	} {
		o, ok := applies(reg, AnyCountry, tc.path, "", now)
		if got := map[bool]string{true: o.ID}[ok]; got != tc.want {
			t.Errorf("Match(AnyCountry, %q) = %q, want %q", tc.path, got, tc.want)
		}
		if _, ok := applies(reg, "", tc.path, "", now); ok {
			t.Errorf("Match(\"\", %q) matched an order that names countries", tc.path)
		}
	}
}

func TestTimed(t *testing.T) {
	for _, tc := range []struct {
		name, csv string
		want      bool
	}{
		{"no windows", "id,countries,target\na,RU,post:1\n", false},
		{"a start", "id,countries,target,start\na,RU,post:1,\nb,RU,post:2,2024-01-01\n", true},
		{"an end", "id,countries,target,end\na,RU,post:1,2030-01-01\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := mustRegister(t, tc.csv, Options{})
			if got := reg.Timed(); got != tc.want {
				t.Errorf("Timed() = %v, want %v", got, tc.want)
			}
			// Without windows, the zero time decides like any other.
			if !tc.want {
				if _, ok := applies(reg, "RU", "/u/status/1", "", time.Time{}); !ok {
					t.Error("Match with the zero time missed an order without a window")
				}
			}
		})
	}
}

// applies is Match for tests that only ask whether an order applies.
func applies(r *Register, country, path, query string, now time.Time) (Order, bool) {
	o, v := r.Match(country, path, query, now)
	return o, v == Applies
}

func TestCensus(t *testing.T) {
	r, err := Load(context.Background(), []Source{
		// a3 returns to a1's rule after another: counts are kept as runs, and merged.
		{Name: "a.csv", Reader: strings.NewReader("id,countries,target,action\na1,RU,post:1,\na2,RU BY,post:2,throttle 1KiB/s\na3,RU,post:4,\n")},
		{Name: "b.csv", Reader: strings.NewReader("id,countries,target\nb1,*,post:3\n")},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := r.Census()
	want := []Census{
		{"a.csv", 3, map[string]int{"block": 2, "throttle": 1}, map[string]int{"RU": 3, "BY": 1}},
		{"b.csv", 1, map[string]int{"block": 1}, map[string]int{"*": 1}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Census() = %v, want %v", got, want)
	}
}
