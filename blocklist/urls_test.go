package blocklist

import (
	"testing"
)

const urlsDoc = "# Decision 2-1687/2024 of 2024-05-23\n" +
	"https://twitter.example/someuser/status/123\n" +
	"\n" +
	"  https://twitter.example/#!/otheruser/status/715  \r\n" +
	"   # an indented comment\n" +
	"https://twitter.example/Путин?a=1&amp;b=2\n" +
	"\t\n" +
	"twitter.example/search"

var urlsDocEntries = []*Entry{
	{URLs: []string{"https://twitter.example/someuser/status/123"}, Line: 2},
	// '#' after the start of a line is part of the URL.
	{URLs: []string{"https://twitter.example/#!/otheruser/status/715"}, Line: 4},
	// The legal team's own text: no HTML is decoded.
	{URLs: []string{"https://twitter.example/Путин?a=1&amp;b=2"}, Line: 6},
	{URLs: []string{"twitter.example/search"}, Line: 8},
}

func TestReadURLs(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
		want []*Entry
	}{
		{"list", urlsDoc, urlsDocEntries},
		{"byte order mark", bom + urlsDoc, urlsDocEntries},
		{"empty", "", nil},
		{"comments only", "# nothing yet\n\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, got, err := readEntries(t, FormatURLs, []byte(tc.data), nil)
			if err != nil {
				t.Fatal(err)
			}
			if h != (Header{Format: FormatURLs}) {
				t.Errorf("header %+v", h)
			}
			sameEntries(t, got, tc.want)
		})
	}
}

func TestURLsDamage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		data    string
		line    int
		msgs    []string
		entries int
	}{
		{"windows-1251", "https://a.example/1\nhttps://a.example/\xcf\xf3\xf2\xe8\xed\n", 2, []string{"not valid UTF-8"}, 1},
		{"UTF-16", "\xff\xfeh\x00t\x00t\x00p\x00", 0, []string{"UTF-16"}, 0},
		{"UTF-16 without a mark", "h\x00t\x00t\x00p\x00s\x00:\x00/\x00/\x00", 0, []string{"UTF-16"}, 0},
		{"control character", "https://a.example/1\n\nhttps://a.example/\x00\n", 3, []string{"control character"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, entries, err := readEntries(t, FormatURLs, []byte(tc.data), nil)
			if err == nil {
				t.Fatalf("no error; %d entries", len(entries))
			}
			checkError(t, err, tc.line, tc.msgs...)
			if len(entries) != tc.entries {
				t.Errorf("%d entries before the error, want %d", len(entries), tc.entries)
			}
		})
	}
}
