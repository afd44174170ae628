package geo

import "testing"

func TestInternCode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"upper", "RU", "RU"},
		{"lower", "ru", "RU"},
		{"mixed", "gB", "GB"},
		{"first", "AA", "AA"},
		{"last", "zz", "ZZ"},
		{"empty", "", ""},
		{"one letter", "R", ""},
		{"three letters", "RUS", ""},
		{"digit", "R1", ""},
		{"dash", "--", ""},
		{"before A", "@A", ""},
		{"after Z", "A[", ""},
		{"before a", "A`", ""},
		{"after z", "{A", ""},
		{"non-ASCII", "\xc3\x9c", ""},
		{"high bit", "\xc1\xd5", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := internCode([]byte(tc.in)); got != tc.want {
				t.Fatalf("internCode(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestInternCodeTable(t *testing.T) {
	for x := 'A'; x <= 'Z'; x++ {
		for y := 'A'; y <= 'Z'; y++ {
			want := string([]rune{x, y})
			if got := internCode([]byte(want)); got != want {
				t.Fatalf("internCode(%q) = %q", want, got)
			}
		}
	}
}

func TestInternCodeDoesNotAllocate(t *testing.T) {
	b := []byte("ru")
	if n := testing.AllocsPerRun(100, func() { internCode(b) }); n != 0 {
		t.Fatalf("internCode allocates %v times per call", n)
	}
}
