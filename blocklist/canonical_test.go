package blocklist

import (
	"strings"
	"testing"
	"unicode"
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
		{"/%2573tatus", "/status"},             // double-encoded
		{"/%252573tatus", "/status"},           // triple
		{"/%%3241", "/$1"},                     // "%", "%32" -> "2" completes "%24" -> "$", then "1"
		{"/%2%34%31", "/$1"},                   // "%2", "%34" -> "4" completes "%24" -> "$", "%31" -> "1"
		{"/%zz/%4", "/%zz/%4"},                 // invalid escapes stay
		{"/%C3%84", "/ä"},                      // decoded UTF-8, lower-cased
		{"/ПРИВЕТ", "/привет"},                 // raw non-ASCII, lower-cased
		{"/\xff\xfeA", "/\xff\xfea"},           // invalid UTF-8 kept
		{"/a;jsessionid=1/b;x", "/a/b"},        // params cut in every segment
		{"/a/..;/b", "/b"},                     // Tomcat-style
		{"/a/%2e%2e/b", "/b"},                  // encoded dot segment
		{"/a/%2E/b", "/a/b"},                   //
		{"/a/.%2e/b", "/b"},                    //
		{`\a\b`, "/a/b"},                       // backslash
		{"/a%5Cb", "/a/b"},                     //
		{"/a%5C..%5Cb", "/b"},                  //
		{"/a%00/b", "/a"},                      // NUL ends the path
		{"/a\x00b", "/a"},                      //
		{"/a%09b%0a%0d", "/ab"},                // other controls dropped
		{"/a%7fb", "/ab"},                      //
		{"/a%20/%20b", "/a/b"},                 // spaces around segments trimmed
		{"/a b", "/a b"},                       // inside kept
		{"/%20/a", "/a"},                       // a segment of spaces is empty
		{"/a/%20../b", "/b"},                   //
		{"/a/b.json", "/a/b.json"},             //
		{"/%2F%2Fa", "/a"},                     //
		{"/%25", "/%"},                         // a literal percent
		{"/%25%32%35", "/%"},                   // "%" + "25" -> "%25" -> "%"
		{"/\u212Aelvin", "/kelvin"},            // Kelvin sign folds to ASCII k
		{"/\u023A", "/\u2C65"},                 // lower-case form is longer in UTF-8
		{"/\u023A\u023A/X", "/\u2C65\u2C65/x"}, //
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

func TestCanonicalPathFastPath(t *testing.T) {
	for _, p := range []string{"/", "/someuser/status/1234567890", "/i/web/status/1", "/a-b_c~d/e+f/@g"} {
		if !isCanonical(p) {
			t.Errorf("%q should take the fast path", p)
		}
		if n := testing.AllocsPerRun(100, func() { _ = CanonicalPath(p) }); n != 0 {
			t.Errorf("CanonicalPath(%q) allocates %v times", p, n)
		}
	}
	for _, p := range []string{"", "a", "/a/", "//a", "/A", "/a%20", "/a.b", "/a;b", `/a\b`, "/a b", "/a\x00", "/é"} {
		if isCanonical(p) {
			t.Errorf("%q must not take the fast path", p)
		}
	}
}

// Lower-casing happens after decoding and segment normalisation, which is only sound if no
// letter lower-cases into something those steps treat specially, and if lower-casing is
// idempotent. Checked for every rune.
func TestUnicodeLowerIsSafe(t *testing.T) {
	for r := rune(0x80); r <= unicode.MaxRune; r++ {
		l := unicode.ToLower(r)
		if unicode.ToLower(l) != l {
			t.Errorf("ToLower not idempotent at %U", r)
		}
		if l < 0x80 && !strings.ContainsRune("ik", l) {
			t.Errorf("%U lower-cases to ASCII %q", r, l)
		}
	}
}
