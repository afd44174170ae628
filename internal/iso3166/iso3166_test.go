package iso3166_test

import (
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/georestrict/caddy-georestrict/geo/defaultdb"
	"github.com/georestrict/caddy-georestrict/internal/iso3166"
)

// TestCoversEmbeddedDatabase: every country the embedded database can answer
// (geo returns its codes upper-cased) has a name.
func TestCoversEmbeddedDatabase(t *testing.T) {
	reader, err := maxminddb.OpenBytes(defaultdb.MMDB())
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	seen := map[uintptr]bool{}
	codes := map[string]bool{}
	for res := range reader.Networks() {
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
		// Networks share records: decode each record once.
		if seen[res.Offset()] {
			continue
		}
		seen[res.Offset()] = true
		var rec struct {
			CountryCode string `maxminddb:"country_code"`
		}
		if err := res.Decode(&rec); err != nil {
			t.Fatal(err)
		}
		codes[strings.ToUpper(rec.CountryCode)] = true
	}
	if len(codes) < 200 {
		t.Fatalf("read %d country codes from the embedded database, want the world", len(codes))
	}
	for code := range codes {
		if _, ok := iso3166.Lookup(code); !ok {
			t.Errorf("the embedded database answers %q, which the table lacks", code)
		}
	}
}

func TestTable(t *testing.T) {
	all := iso3166.All()
	if len(all) != 251 {
		t.Errorf("%d countries, want 249 assigned codes, XK and AN", len(all))
	}
	if !slices.IsSortedFunc(all, func(a, b iso3166.Country) int { return strings.Compare(a.Code, b.Code) }) {
		t.Error("table is not sorted by code")
	}
	for i, c := range all {
		if i > 0 && all[i-1].Code == c.Code {
			t.Errorf("%s listed twice", c.Code)
		}
		if c.Code != strings.ToUpper(c.Code) || iso3166.Index(c.Code) < 0 {
			t.Errorf("%q is not an upper-case two-letter code", c.Code)
		}
		if got, ok := iso3166.ByIndex(iso3166.Index(c.Code)); !ok || got != c {
			t.Errorf("ByIndex(Index(%s)) = %+v, %v", c.Code, got, ok)
		}
		if c.English == "" || strings.ContainsAny(c.English, "&") || strings.Contains(c.English, "St. ") {
			t.Errorf("%s: English name %q", c.Code, c.English)
		}
		if !strings.ContainsFunc(c.Russian, func(r rune) bool { return unicode.Is(unicode.Cyrillic, r) }) ||
			strings.Contains(c.Russian, "о-в") {
			t.Errorf("%s: Russian name %q", c.Code, c.Russian)
		}
	}
	for code, name := range map[string]string{"XK": "Kosovo", "AN": "Netherlands Antilles"} {
		if c, _ := iso3166.Lookup(code); c.Assigned || c.English != name {
			t.Errorf("%s = %+v, want %s, not assigned", code, c, name)
		}
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		name, code, lang, want string
	}{
		{"english", "RU", "en", "Russia"},
		{"russian", "RU", "ru", "Россия"},
		{"lower case", "by", "ru", "Беларусь"},
		{"unknown language is english", "DE", "de", "Germany"},
		{"kosovo", "XK", "ru", "Косово"},
		{"unlisted code is itself", "ZZ", "en", "ZZ"},
		{"not a code", "R", "en", "R"},
		{"empty", "", "ru", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := iso3166.Name(tc.code, tc.lang); got != tc.want {
				t.Errorf("Name(%q, %q) = %q, want %q", tc.code, tc.lang, got, tc.want)
			}
		})
	}
}

func TestIndexAndCode(t *testing.T) {
	tests := []struct {
		code  string
		index int
	}{
		{"AA", 0}, {"ZZ", iso3166.Size - 1}, {"RU", 17*26 + 20}, {"ru", 17*26 + 20},
		{"", -1}, {"R", -1}, {"RUS", -1}, {"R1", -1}, {"@A", -1}, {"Ä", -1},
	}
	for _, tc := range tests {
		if got := iso3166.Index(tc.code); got != tc.index {
			t.Errorf("Index(%q) = %d, want %d", tc.code, got, tc.index)
		}
		if got := iso3166.Index([]byte(tc.code)); got != tc.index {
			t.Errorf("Index([]byte(%q)) = %d, want %d", tc.code, got, tc.index)
		}
		if tc.index >= 0 && iso3166.Code(tc.index) != strings.ToUpper(tc.code) {
			t.Errorf("Code(%d) = %q, want %q", tc.index, iso3166.Code(tc.index), strings.ToUpper(tc.code))
		}
	}
	// Every pair of bytes: two ASCII letters in either case have an index,
	// anything else has none.
	letter := func(c byte) (int, bool) {
		switch {
		case 'A' <= c && c <= 'Z':
			return int(c - 'A'), true
		case 'a' <= c && c <= 'z':
			return int(c - 'a'), true
		}
		return 0, false
	}
	for x := range 256 {
		for y := range 256 {
			want := -1
			if i, ok := letter(byte(x)); ok {
				if j, ok := letter(byte(y)); ok {
					want = i*26 + j
				}
			}
			if got := iso3166.Index([]byte{byte(x), byte(y)}); got != want {
				t.Fatalf("Index(%q) = %d, want %d", []byte{byte(x), byte(y)}, got, want)
			}
		}
	}
	if iso3166.Code(-1) != "" || iso3166.Code(iso3166.Size) != "" {
		t.Error("Code out of range is not empty")
	}
	b := []byte("ru")
	if n := testing.AllocsPerRun(100, func() { _ = iso3166.Code(iso3166.Index(b)) }); n != 0 {
		t.Errorf("Code allocates %v times", n)
	}
}
