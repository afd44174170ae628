package blocklist

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestCanonicalPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/a/b", "/a/b"},
		{"a/b", "/a/b"},
		{"/A/B", "/a/b"},
		{"/a//b///c", "/a/b/c"},
		{"/a/./b/.", "/a/b"},
		{"/a/../b", "/b"},
		{"/a/b/..", "/a"},
		{"/../../a", "/a"},
		{"/a/..", "/"},
		{"/..", "/"},
		{"/a/b/", "/a/b"},
		{"/a%2Fb", "/a/b"},
		{"/a%2fb", "/a/b"},
		{"/%73tatus", "/status"},
		{"/%2573tatus", "/status"},   // double-encoded
		{"/%252573tatus", "/status"}, // triple
		{"/%%3241", "/$1"},           // "%", "%32" -> "2" completes "%24" -> "$", then "1"
		{"/%2%34%31", "/$1"},         // "%2", "%34" -> "4" completes "%24" -> "$", "%31" -> "1"
		{"/%zz/%4", "/%zz/%4"},       // invalid escapes stay
		{"/%C3%84", "/a"},            // decoded UTF-8, folded: accents go
		{"/ПРИВЕТ", "/привет"},       // raw non-ASCII, lower-cased
		{"/\xff\xfeA", "/\xff\xfea"}, // invalid UTF-8 kept
		{"/a;jsessionid=1/b;x", "/a/b"},
		{"/a/..;/b", "/b"}, // Tomcat-style
		{"/a/%2e%2e/b", "/b"},
		{"/a/%2E/b", "/a/b"},
		{"/a/.%2e/b", "/b"},
		{`\a\b`, "/a/b"},
		{"/a%5Cb", "/a/b"},
		{"/a%5C..%5Cb", "/b"},
		{"/a%20/%20b", "/a/b"}, // spaces around segments trimmed
		{"/a b", "/a b"},       // inside kept
		{"/%20/a", "/a"},       // a segment of spaces is empty
		{"/a/%20../b", "/b"},
		{"/a/b.json", "/a/b.json"},
		{"/%2F%2Fa", "/a"},
		{"/%25", "/%"},       // a literal percent
		{"/%25%32%35", "/%"}, // "%" + "25" -> "%25" -> "%"
		{"/\u212Aelvin", "/kelvin"},
		{"/\u023A", "/\u2C65"}, // lower-case form is longer in UTF-8
		{"/\u023A\u023A/X", "/\u2C65\u2C65/x"},
		{"/ＳｏｍｅＵｓｅｒ/status/１２３", "/someuser/status/123"}, // fullwidth
		{"/someuser/status/١٢٣", "/someuser/status/123"}, // Arabic-Indic digits
		{"/someuser/status/१२३", "/someuser/status/123"}, // Devanagari digits
		{"/some%E2%80%8Buser", "/someuser"},              // zero-width space
		{"/s%C3%B3meuser", "/someuser"},                  // an accent
		{"/so%CC%81meuser", "/someuser"},                 // a combining accent
		{"/a%C2%A0", "/a"},                               // no-break space
		{"/a%EF%BC%8Fb", "/a/b"},                         // fullwidth solidus
		{"/a/%EF%BC%8E%EF%BC%8E/b", "/b"},                // fullwidth dots
		{"/%C4%B1", "/i"},                                // dotless i
		{"/%CF%82", "/σ"},                                // final sigma
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got := CanonicalPath(tc.in)
			if got != tc.want {
				t.Errorf("CanonicalPath(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if again := CanonicalPath(got); again != got {
				t.Errorf("not idempotent: %q -> %q", got, again)
			}
		})
	}
}

// A decoded control character makes a path unreadable: applications stop at a NUL, drop
// controls or keep them, so no reading can be trusted.
func TestCanonicalPathControls(t *testing.T) {
	for _, p := range []string{"/a%00/b", "/a\x00b", "/a%09b", "/a%0a", "/a%0D", "/a%7fb", "/a%C2%85", "/%2500", "/a/%250a"} {
		if c, ok := canonicalPath(p); ok || c != "" {
			t.Errorf("canonicalPath(%q) = %q, %v; want unreadable", p, c, ok)
		}
	}
	for _, p := range []string{"/a%C2%A0", "/%C3%85", "/a%20b"} {
		if _, ok := canonicalPath(p); !ok {
			t.Errorf("canonicalPath(%q) is unreadable; it holds no control character", p)
		}
	}
}

func TestCanonicalPathFastPath(t *testing.T) {
	for _, p := range []string{"/", "/someuser/status/1234567890", "/i/web/status/1", "/a-b_c~d/e+f/@g"} {
		if clean, _ := classify(p); !clean {
			t.Errorf("%q should take the fast path", p)
		}
		if n := testing.AllocsPerRun(100, func() { _ = CanonicalPath(p) }); n != 0 {
			t.Errorf("CanonicalPath(%q) allocates %v times", p, n)
		}
	}
	for _, p := range []string{"", "a", "/a/", "//a", "/A", "/a%20", "/a.b", "/a;b", `/a\b`, "/a b", "/a\x00", "/é"} {
		if clean, _ := classify(p); clean {
			t.Errorf("%q must not take the fast path", p)
		}
	}
}

// Every reading of an ambiguous path, as the applications that read it so would route it.
func TestReadings(t *testing.T) {
	tests := []struct {
		name, path string
		want       []string // texts, "|" marking where a value holds a slash
	}{
		{"an empty segment: kept, and merged", "//someuser/status/1",
			[]string{"//someuser/status/1", "/someuser/status/1"}},
		{"blank, cut and invisible segments: each merged by some", "/%20//;x/%E2%80%8B/a",
			[]string{"/////a", "////a", "///a", "/a"}},
		{"a segment of spaces is empty", "/%20/status/123",
			[]string{"//status/123", "/status/123"}},
		{"params leave an empty segment", "/;x/status/123",
			[]string{"//status/123", "/status/123"}},
		{"an encoded slash: in the segment, and splitting it", "/someuser%2Fstatus%2F123",
			[]string{"/someuser|status|123", "/someuser/status/123"}},
		{"a backslash: in the segment, and splitting it", `/someuser\status\123`,
			[]string{`/someuser\status\123`, "/someuser/status/123"}},
		{"both", `/a%2Fb\status\123`,
			[]string{`/a|b\status\123`, `/a/b\status\123`, "/a|b/status/123", "/a/b/status/123"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, res := appendReading(nil, tc.path); res != readAmbiguous {
				t.Fatalf("appendReading(%q) = %v, want ambiguous", tc.path, res)
			}
			rs, ok := readingsOf(tc.path)
			if !ok {
				t.Fatal("unreadable")
			}
			var got []string
			for _, r := range rs {
				var b strings.Builder
				for _, s := range r.segs {
					b.WriteByte('/')
					b.WriteString(strings.ReplaceAll(string(r.text[s[0]:s[1]]), "/", "|"))
				}
				if len(r.segs) == 0 {
					b.WriteByte('/')
				}
				if strings.ReplaceAll(b.String(), "|", "/") != string(r.text) {
					t.Errorf("segments %q do not lie in text %q", b.String(), r.text)
				}
				got = append(got, b.String())
			}
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("readings of %q:\n got %q\nwant %q", tc.path, got, want)
			}
		})
	}
}

// Dot segments are refused in every spelling some application takes for one.
func TestReadingsRefuseDotSegments(t *testing.T) {
	for _, p := range []string{
		"/someuser/status/123/..", "/./status/123", "/a/%2e%2e/b", "/a/%252e%252E/b", "/a/..;/b",
		"/.;jsessionid=1/status/123", "/a/%EF%BC%8E%EF%BC%8E/b", "/a%2F..%2Fb", "/a\\.\b", "/%20../x",
		"/a/.%2e", "//./x",
	} {
		if _, res := appendReading(nil, p); res != readRefused && res != readAmbiguous {
			t.Errorf("appendReading(%q) = %v, want refused or ambiguous", p, res)
		}
		if _, ok := readingsOf(p); ok {
			t.Errorf("readingsOf(%q) reads it; want it refused", p)
		}
	}
	for _, p := range []string{"/a.b/c", "/.well-known/x", "/a/...", "/a/.b.", "/1.1/statuses/show.json"} {
		if _, res := appendReading(nil, p); res != readOne {
			t.Errorf("appendReading(%q) = %v: not a dot segment", p, res)
		}
	}
}

// Folding is applied to decoded values and to the register's own keys alike, so it must be
// idempotent, and must never make a control character or a "%" (which a second reading
// would decode). Checked for every rune.
func TestFoldEveryRune(t *testing.T) {
	var enc [utf8.UTFMax]byte
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		in := enc[:utf8.EncodeRune(enc[:], r)]
		once := appendFolded(nil, in)
		if twice := appendFolded(nil, once); string(twice) != string(once) {
			t.Errorf("%U: fold not idempotent: %q -> %q", r, once, twice)
		}
		if !unicode.IsControl(r) && hasControl(once) {
			t.Errorf("%U folds into a control character: %q", r, once)
		}
		if r >= 0x80 && strings.Contains(string(once), "%") {
			t.Errorf("%U folds into %q, which a second reading would decode", r, once)
		}
	}
}
