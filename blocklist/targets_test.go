package blocklist

import (
	"slices"
	"strings"
	"testing"
)

// targetOf reads one CSV row with target and returns what it became, or the error.
func targetOf(t *testing.T, target string, opts Options) (Target, error) {
	t.Helper()
	orders, _, err := parseOrders("o.csv", ("id,countries,target\nx,RU," + target + "\n"), opts)
	if err != nil {
		return Target{}, err
	}
	return orders[0].Target, nil
}

// checkTarget asserts that target reads as want, or fails with exactly wantErr on its line
// and field.
func checkTarget(t *testing.T, target string, opts Options, want Target, wantErr string) {
	t.Helper()
	got, err := targetOf(t, target, opts)
	if wantErr != "" {
		if err == nil || err.Error() != "register o.csv: line 2: target: "+wantErr {
			t.Fatalf("%s: got %v, %v\nwant error: register o.csv: line 2: target: %s", target, got, err, wantErr)
		}
		return
	}
	if err != nil || got != want {
		t.Fatalf("%s: got %v, %v; want %v", target, got, err, want)
	}
}

// A hash-bang or client-side route is the path it names; any other fragment is refused, so
// that an order never widens to the page without its fragment.
func TestURLTargetFragments(t *testing.T) {
	tests := []struct {
		name, url string
		want      Target
		err       string
		match     []string // request paths (with ?query) the order must cover
		noMatch   []string // and must not
	}{
		{name: "hash-bang status", url: "https://twitter.example/#!/someuser/status/715",
			want: Target{TargetPost, "715"}, match: []string{"/someuser/status/715", "/i/web/status/715"}, noMatch: []string{"/", "/someuser"}},
		{name: "hash-bang right after the host", url: "https://twitter.example#!/SomeUser",
			want: Target{TargetAccount, "someuser"}, match: []string{"/someuser", "/someuser/status/1"}, noMatch: []string{"/"}},
		{name: "client-side route", url: "https://twitter.example/#/someuser/status/716",
			want: Target{TargetPost, "716"}, match: []string{"/someuser/status/716"}, noMatch: []string{"/"}},
		{name: "hash-bang route with its own query", url: "https://twitter.example/#!/1.1/statuses/show.json?id=9",
			want: Target{TargetPost, "9"}, match: []string{"/1.1/statuses/show.json?id=9"}, noMatch: []string{"/1.1/statuses/show.json?id=8", "/"}},
		{name: "hash-bang sub-page is a path", url: "https://twitter.example/#!/media/upload",
			want: Target{TargetPath, "/media/upload"}, match: []string{"/media/upload"}, noMatch: []string{"/", "/media"}},
		{name: "hash-bang escapes", url: "https://twitter.example/#!/some%75ser/%73tatus/5", want: Target{TargetPost, "5"}},
		{name: "hash-bang to a reserved route", url: "https://twitter.example/#!/explore",
			want: Target{TargetPath, "/explore"}, match: []string{"/explore"}, noMatch: []string{"/"}},
		{name: "hash-bang to the home page names it", url: "https://twitter.example/#!/", want: Target{TargetPath, "/"}},
		{name: "empty fragment", url: "https://twitter.example/someuser/status/1#", want: Target{TargetPost, "1"}},

		{name: "fragment on a post", url: "https://twitter.example/someuser/status/1#reply",
			err: `URL "https://twitter.example/someuser/status/1#reply" has a fragment (#reply), which browsers do not send: an order on it would cover the page without it; remove the fragment if all of that page is meant`},
		{name: "anchor on the home page", url: "https://twitter.example/#top",
			err: `URL "https://twitter.example/#top" has a fragment (#top), which browsers do not send: an order on it would cover the page without it; remove the fragment if all of that page is meant`},
		{name: "hash-bang without a slash", url: "https://twitter.example/#!someuser",
			err: `URL "https://twitter.example/#!someuser" has a fragment (#!someuser), which browsers do not send: an order on it would cover the page without it; remove the fragment if all of that page is meant`},
		{name: "path and route", url: "https://twitter.example/home#!/someuser",
			err: `URL "https://twitter.example/home#!/someuser" has both a path and a route in its fragment (#!/someuser): write the URL of the one that is meant`},
		{name: "query and route", url: "https://twitter.example/?lang=ru#!/someuser",
			err: `URL "https://twitter.example/?lang=ru#!/someuser" has both a path and a route in its fragment (#!/someuser): write the URL of the one that is meant`},
		{name: "route naming a host", url: "https://twitter.example/#!//evil.example/someuser",
			err: `URL "https://twitter.example/#!//evil.example/someuser": the route in its fragment (#!//evil.example/someuser) starts with //`},
		{name: "fragment in the route", url: "https://twitter.example/#!/someuser#top",
			err: `URL "https://twitter.example/#!/someuser#top": bad route in its fragment (#!/someuser#top)`},
		{name: "hash-bang search", url: "https://twitter.example/#!/search?q=x",
			err: `URL "https://twitter.example/#!/search?q=x": "search" is a reserved route, not an account, and a path target cannot keep its query; write path:/search if all of it is meant`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{Hosts: []string{"twitter.example"}}
			checkTarget(t, tc.url, opts, tc.want, tc.err)
			if tc.err != "" {
				return
			}
			r, err := compileOrders(t, []Order{{ID: "x", Countries: []string{"RU"}, Target: tc.want, Action: ActionBlock}}, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tc.match {
				path, query, _ := strings.Cut(p, "?")
				if _, ok := applies(r, "RU", path, query, testNow); !ok {
					t.Errorf("%s is not withheld", p)
				}
			}
			for _, p := range tc.noMatch {
				path, query, _ := strings.Cut(p, "?")
				if _, ok := applies(r, "RU", path, query, testNow); ok {
					t.Errorf("%s is withheld, but the URL does not name it", p)
				}
			}
		})
	}
}

// Reserved route names are never accounts.
func TestReservedRoutes(t *testing.T) {
	jobs, err := ParsePatterns(DefaultPatterns().Templates(), WithReserved("Jobs"))
	if err != nil {
		t.Fatal(err)
	}
	none, err := ParsePatterns(DefaultPatterns().Templates(), WithReserved())
	if err != nil {
		t.Fatal(err)
	}
	reservedQuery := func(url, name, path string) string {
		return `URL "` + url + `": "` + name + `" is a reserved route, not an account, and a path target cannot keep its query; write path:` + path + ` if all of it is meant`
	}
	tests := []struct {
		name, target string
		patterns     *Patterns
		want         Target
		err          string
	}{
		{"search page is a path", "https://twitter.example/search", nil, Target{TargetPath, "/search"}, ""},
		{"any case, trailing slash", "https://twitter.example/Explore/", nil, Target{TargetPath, "/explore"}, ""},
		{"home", "https://twitter.example/home", nil, Target{TargetPath, "/home"}, ""},
		{"i", "https://twitter.example/i", nil, Target{TargetPath, "/i"}, ""},
		{"mastodon form", "https://twitter.example/@settings", nil, Target{TargetPath, "/@settings"}, ""},
		{"a post under a reserved name is still a post", "https://twitter.example/search/status/5", nil, Target{TargetPost, "5"}, ""},
		{"a sub-page stays a path", "https://twitter.example/hashtag/banned", nil, Target{TargetPath, "/hashtag/banned"}, ""},
		{"a longer name is an account", "https://twitter.example/Searchlight", nil, Target{TargetAccount, "searchlight"}, ""},
		{"a search is refused", "https://twitter.example/search?q=%D0%BC%D1%83%D0%B7%D1%8B%D0%BA%D0%B0&src=typed_query", nil, Target{},
			reservedQuery("https://twitter.example/search?q=%D0%BC%D1%83%D0%B7%D1%8B%D0%BA%D0%B0&src=typed_query", "search", "/search")},
		{"reserved name in a query parameter", "https://twitter.example/1.1/users/show.json?screen_name=home", nil, Target{},
			reservedQuery("https://twitter.example/1.1/users/show.json?screen_name=home", "home", "/1.1/users/show.json")},
		{"account: target", "account:search", nil, Target{}, `"search" is a reserved route, not an account (write path:/search if that route is meant)`},
		{"@ target, any case", "@Explore", nil, Target{}, `"explore" is a reserved route, not an account (write path:/explore if that route is meant)`},
		{"@@ target", "account:@@home", nil, Target{}, `"home" is a reserved route, not an account (write path:/home if that route is meant)`},
		{"remote handle is not reserved", "@search@remote.example", nil, Target{TargetAccount, "search@remote.example"}, ""},

		{"custom list replaces the defaults", "https://twitter.example/search", jobs, Target{TargetAccount, "search"}, ""},
		{"custom name", "https://twitter.example/JOBS", jobs, Target{TargetPath, "/jobs"}, ""},
		{"custom name as account", "@jobs", jobs, Target{}, `"jobs" is a reserved route, not an account (write path:/jobs if that route is meant)`},
		{"none reserved", "account:search", none, Target{TargetAccount, "search"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkTarget(t, tc.target, Options{Patterns: tc.patterns}, tc.want, tc.err)
		})
	}

	_, err = compileOrders(t, []Order{{ID: "a", Countries: []string{"RU"}, Target: Target{TargetAccount, "Settings"}, Action: ActionBlock}}, Options{})
	if want := `register orders.csv: line 2: target: "settings" is a reserved route, not an account (write path:/settings if that route is meant)`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// Reserving names changes what register targets mean, never how requests match.
func TestReservedRoutesLeaveMatchingAlone(t *testing.T) {
	const register = "id,countries,target\n" +
		"a,RU,@searchlight\n" +
		"b,RU,https://twitter.example/someuser/status/5\n" +
		"c,RU,https://twitter.example/search\n" +
		"d,RU,path:/explore/*\n" +
		"e,RU,@homer\n"
	none, err := ParsePatterns(DefaultPatterns().Templates(), WithReserved())
	if err != nil {
		t.Fatal(err)
	}
	compile := func(p *Patterns) *Register {
		orders, _, err := parseOrders("o.csv", (register), Options{Patterns: p})
		if err != nil {
			t.Fatal(err)
		}
		r, err := compileOrders(t, orders, Options{Patterns: p})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	withDefaults, withNone := compile(nil), compile(none)
	// With no names reserved, the URL of /search is an account order; compare the rest.
	paths := []string{
		"/searchlight", "/SearchLight/status/9", "/@searchlight", "/someuser/status/5", "/i/web/status/5",
		"/explore", "/explore/tabs", "/homer", "/home", "/settings", "/i", "/", "/search/status/5",
	}
	for _, p := range paths {
		o1, ok1 := withDefaults.Match("RU", p, "", testNow)
		o2, ok2 := withNone.Match("RU", p, "", testNow)
		if ok1 != ok2 || o1.ID != o2.ID {
			t.Errorf("%s: %q %v with reserved names, %q %v without", p, o1.ID, ok1, o2.ID, ok2)
		}
	}
	for _, tc := range []struct{ path, want string }{
		{"/search", "c"}, {"/Search/", "c"}, {"/search/status/1", ""}, {"/searchlight", "a"},
	} {
		o, _ := withDefaults.Match("RU", tc.path, "", testNow)
		if o.ID != tc.want {
			t.Errorf("%s: got %q, want %q", tc.path, o.ID, tc.want)
		}
	}
}

func TestParsePatternsReserved(t *testing.T) {
	tests := []struct {
		name     string
		reserved []string
		want     []string
		err      string
	}{
		{"lower-cased, in order", []string{"Jobs", "  careers "}, []string{"jobs", "careers"}, ""},
		{"none", nil, nil, ""},
		{"slash", []string{"a/b"}, nil, `reserved name "a/b" must be a plain path segment (no /, %, ;, spaces or dot segments)`},
		{"at", []string{"@home"}, nil, `reserved name "@home": write it without @`},
		{"empty", []string{""}, nil, `empty reserved name`},
		{"twice", []string{"Search", "search"}, nil, `reserved name "search" given twice`},
		{"every problem", []string{"..", "@x"}, nil, `reserved name ".." must be a plain path segment (no /, %, ;, spaces or dot segments)` + "\n" + `reserved name "@x": write it without @`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePatterns([]string{"/{account}"}, WithReserved(tc.reserved...))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("got %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Reserved(); !slices.Equal(got, tc.want) && len(got)+len(tc.want) > 0 {
				t.Errorf("Reserved() = %q, want %q", got, tc.want)
			}
		})
	}

	if got := DefaultPatterns().Reserved(); !slices.Equal(got, DefaultReserved()) || !slices.Contains(got, "search") {
		t.Errorf("DefaultPatterns().Reserved() = %q", got)
	}
	d := DefaultReserved()
	d[0] = "changed"
	if DefaultReserved()[0] == "changed" || DefaultPatterns().Reserved()[0] == "changed" {
		t.Error("DefaultReserved hands out the package's own slice")
	}
	// Every default name must be usable as a reserved name.
	if _, err := ParsePatterns([]string{"/{account}"}, WithReserved(DefaultReserved()...)); err != nil {
		t.Error(err)
	}
}

// Hosts are host names alone: anything more would make the orders of that host silently
// skipped, since URL targets are compared by host.
func TestHostsOption(t *testing.T) {
	for _, tc := range []struct {
		host, want string // want "" for an error
	}{
		{"Microblog.Example.", "microblog.example"},
		{"microblog.example:443", "microblog.example"},
		{"[2001:db8::1]:8443", "2001:db8::1"},
		{"https://microblog.example", ""},
		{"microblog.example/", ""},
		{"user@microblog.example", ""},
		{"*.microblog.example", ""},
		{"microblog.example:https", ""},
		{"", ""},
		{" ", ""},
	} {
		t.Run(tc.host, func(t *testing.T) {
			got, err := normalizeHost(tc.host)
			switch {
			case tc.want == "" && err == nil:
				t.Errorf("normalizeHost(%q) = %q, want an error", tc.host, got)
			case tc.want != "" && (err != nil || got != tc.want):
				t.Errorf("normalizeHost(%q) = %q, %v; want %q", tc.host, got, err, tc.want)
			}
		})
	}
}
