package blocklist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"golang.org/x/text/encoding/charmap"
)

// cp1251 encodes UTF-8 test text in windows-1251, as the regulator publishes it.
func cp1251Bytes(t testing.TB, s string) []byte {
	t.Helper()
	b, err := charmap.Windows1251.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encoding %q: %v", s, err)
	}
	return b
}

// readEntries reads all of data, keeping a clone of each entry. It checks what holds for
// every entry of every format: the line and offset point at the entry.
func readEntries(t testing.TB, f Format, data []byte, r io.Reader) (Header, []*Entry, error) {
	t.Helper()
	if r == nil {
		r = bytes.NewReader(data)
	}
	er, err := NewEntryReader("test", r, f)
	if err != nil {
		t.Fatal(err)
	}
	h, err := er.Header()
	if err != nil {
		return h, nil, err
	}
	var entries []*Entry
	var counted int64 // newlines before it are in line
	line := 1
	for {
		e, err := er.Next()
		if err == io.EOF {
			return h, entries, nil
		}
		if err != nil {
			if again, err2 := er.Next(); again != nil || err2 != err {
				t.Errorf("Next after an error returned %v, %v; want nil, the same error", again, err2)
			}
			return h, entries, err
		}
		if e.Offset < 0 || e.Offset >= int64(len(data)) {
			t.Fatalf("entry at line %d: offset %d outside the input", e.Line, e.Offset)
		}
		if e.Offset < counted {
			t.Fatalf("entry at offset %d after one at %d", e.Offset, counted)
		}
		line += bytes.Count(data[counted:e.Offset], []byte("\n"))
		counted = e.Offset
		if e.Line != line {
			t.Errorf("entry at offset %d: line %d, want %d", e.Offset, e.Line, line)
		}
		if f == FormatRKNXML && !bytes.HasPrefix(data[e.Offset:], []byte("<content")) {
			t.Errorf("entry at offset %d does not start there: %q", e.Offset, data[e.Offset:min(len(data), int(e.Offset)+20)])
		}
		entries = append(entries, e.Clone())
	}
}

// sameEntries compares entries without their offsets, which readEntries checked.
func sameEntries(t *testing.T, got, want []*Entry) {
	t.Helper()
	for _, e := range got {
		e.Offset = 0
	}
	if len(got) != len(want) {
		t.Errorf("%d entries, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, *got[i], *want[i])
		}
	}
}

// checkError checks that err is an *Error at line whose message holds each of msgs.
func checkError(t *testing.T, err error, line int, msgs ...string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want an *Error", err, err)
	}
	if e.Source != "test" || e.Line != line {
		t.Errorf("error %q: at %s:%d, want test:%d", err, e.Source, e.Line, line)
	}
	for _, m := range msgs {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not say %q", err, m)
		}
	}
}

func TestDetectFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		head string
		want Format
	}{
		{"xml declaration", `<?xml version="1.0" encoding="windows-1251"?><reg:register>`, FormatRKNXML},
		{"root without declaration", "<reg:register updateTime=\"x\">", FormatRKNXML},
		{"bom and blank space", bom + "\r\n  <?xml version=\"1.0\"?>", FormatRKNXML},
		{"just the declaration's start", "<?xml", FormatRKNXML},
		{"updated line", "Updated: 2016-06-13 12:04:00 +0000\n1.2.3.4;;;суд;1;2016-01-01\n", FormatRKNCSV},
		{"updated after bom", bom + "Updated: x", FormatRKNCSV},
		{"updated after blank space", " Updated: x", ""},
		{"lower case updated", "updated: x", ""},
		{"another xml root", "<register>", ""},
		{"our csv", "id,countries,target\n", ""},
		{"json", `[{"id":"x"}]`, ""},
		{"url list", "https://twitter.example/someuser\n", ""},
		{"a part cut from a dump", "in><![CDATA[vfgwu.etage-tattoo.fr]]></domain>", ""},
		{"empty", "", ""},
		{"too short to tell", "<reg:reg", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := DetectFormat([]byte(tc.head)); got != tc.want {
				t.Errorf("DetectFormat(%q) = %q, want %q", tc.head, got, tc.want)
			}
		})
	}
}

func TestNewEntryReaderFormats(t *testing.T) {
	for _, f := range []Format{"", "csv", "json", "rkn"} {
		if _, err := NewEntryReader("test", strings.NewReader(""), f); err == nil {
			t.Errorf("NewEntryReader accepts format %q", f)
		}
	}
}

// TestEntryContract checks the contract of Next: an entry's strings and slices are views
// that the next call reuses, and reading one after that is a bug that shows at once (the
// text reads as NULs), while a Clone stays intact.
func TestEntryContract(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format Format
		data   []byte
	}{
		{"rkn-xml", FormatRKNXML, cp1251Bytes(t, `<?xml version="1.0" encoding="windows-1251"?><reg:register>`+
			`<content id="1"><decision date="2024-01-01" number="1-РИ" org="Роскомнадзор"/><url>https://a.example/1</url><domain>a.example</domain></content>`+
			`<content id="2"><decision date="2024-01-02" number="2" org="ФНС"/><url>https://b.example/2</url></content></reg:register>`)},
		{"rkn-csv", FormatRKNCSV, cp1251Bytes(t, "Updated: x\n1.2.3.4;a.example;https://a.example/1;Роскомнадзор;1-РИ;2024-01-01\n5.6.7.8;b.example;https://b.example/2;ФНС;2;2024-01-02\n")},
		{"urls", FormatURLs, []byte("https://a.example/1\nhttps://b.example/2\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewEntryReader("test", bytes.NewReader(tc.data), tc.format)
			if err != nil {
				t.Fatal(err)
			}
			first, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			kept, keptSlice, clone := first.URLs[0], first.URLs, first.Clone()
			if kept != "https://a.example/1" {
				t.Fatalf("first URL %q", kept)
			}
			keptOrg := first.Decision.Org
			second, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if second != first {
				t.Errorf("Next returned a new *Entry; the contract says the reader reuses it")
			}
			if kept != strings.Repeat("\x00", len(kept)) {
				t.Errorf("a URL kept past the next call reads %q: misuse would go unnoticed", kept)
			}
			if keptOrg != "" && keptOrg != strings.Repeat("\x00", len(keptOrg)) {
				t.Errorf("an org kept past the next call reads %q", keptOrg)
			}
			if keptSlice[0] != "https://b.example/2" {
				t.Errorf("the URL slice kept past the next call holds %q, want the next entry's", keptSlice[0])
			}
			if clone.URLs[0] != "https://a.example/1" || tc.format != FormatURLs && clone.Decision.Org != "Роскомнадзор" {
				t.Errorf("the clone changed: %+v", *clone)
			}
		})
	}
}

// TestEntryReaderAllocations checks that reading allocates nothing per entry once its
// buffers have grown.
func TestEntryReaderAllocations(t *testing.T) {
	var xml bytes.Buffer
	xml.WriteString(`<?xml version="1.0" encoding="windows-1251"?>` + "\n<reg:register>\n")
	var csv bytes.Buffer
	csv.WriteString("Updated: x\n")
	for i := range 2000 {
		fmt.Fprintf(&xml, `<content id="%d" includeTime="2024-01-01T00:00:00" entryType="1" hash="AB"><decision date="2024-01-01" number="%d-РИ" org="Роскомнадзор"/><url><![CDATA[https://a.example/%d?a=1&amp;b=2]]></url><domain>a.example</domain><ip>1.2.3.4</ip></content>`+"\n", i, i, i)
		fmt.Fprintf(&csv, "1.2.3.4 | 1.2.3.5;a.example;\"https://a.example/%d?x=1;y\";Роскомнадзор;%d-РИ;2024-01-01\n", i, i)
	}
	xml.WriteString("</reg:register>\n")
	for _, tc := range []struct {
		format Format
		data   []byte
	}{
		{FormatRKNXML, cp1251Bytes(t, xml.String())},
		{FormatRKNCSV, cp1251Bytes(t, csv.String())},
	} {
		r, err := NewEntryReader("test", bytes.NewReader(tc.data), tc.format)
		if err != nil {
			t.Fatal(err)
		}
		for range 100 { // grow the buffers
			if _, err := r.Next(); err != nil {
				t.Fatal(err)
			}
		}
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := r.Next(); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 0.01 {
			t.Errorf("%s: %.2f allocations per entry", tc.format, allocs)
		}
	}
}

func TestHTMLUnescape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://a.example/?a=1&amp;b=2", "http://a.example/?a=1&b=2"},
		{"http://mirror130.graniru.info/&#8203;", "http://mirror130.graniru.info/\u200b"},
		{"http://a.example/&#x200B;x", "http://a.example/\u200bx"},
		{"&lt;&gt;&quot;&apos;&nbsp;", "<>\"'\u00a0"},
		{"http://a.example/?amp&amp", "http://a.example/?amp&amp"}, // no ';': as published
		{"http://forum.example/?t=1&s", "http://forum.example/?t=1&s"},
		{"?x=1&s;y", "?x=1&s;y"},                           // not an entity
		{"&#0;&#10;&#127;&#x9f;", "&#0;&#10;&#127;&#x9f;"}, // controls stay escaped
		{"&#xD800;&#1114112;&#;&#x;", "&#xD800;&#1114112;&#;&#x;"},
		{"&amp;amp;", "&amp;"}, // one level only
		{"&#1071;", "Я"},
		{"&&amp;&", "&&&"},
		{"", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := string(htmlUnescape([]byte(tc.in))); got != tc.want {
				t.Errorf("htmlUnescape(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestAppendText(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		enc  encoding
		want string
		bad  int
	}{
		{"ascii", []byte("plain text, longer than eight bytes"), encCP1251, "plain text, longer than eight bytes", -1},
		{"cyrillic", []byte{0xD0, 0xEE, 0xF1, ' ', 0xB9, 0x88}, encCP1251, "Рос №€", -1},
		{"undefined byte", []byte("abcdefghij\x98"), encCP1251, "abcdefghij", 10},
		{"control", []byte("abc\x01"), encCP1251, "abc", 3},
		{"line ends", []byte("a\r\nb\rc\td"), encCP1251, "a\nb\nc\td", -1},
		{"utf-8", []byte("Роскомнадзор"), encUTF8, "Роскомнадзор", -1},
		{"bad utf-8", []byte("Рос\xff"), encUTF8, "Рос", 6},
		{"noncharacter", []byte("a\uFFFE"), encUTF8, "a", 1},
		{"control after eight ascii bytes", []byte("01234567\x0089"), encUTF8, "01234567", 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, bad := appendText(nil, tc.in, tc.enc)
			if string(got) != tc.want || bad != tc.bad {
				t.Errorf("appendText(%q) = %q, %d; want %q, %d", tc.in, got, bad, tc.want, tc.bad)
			}
		})
	}
}

// TestSmallReads reads fixtures a byte at a time and in odd pieces: every token then
// straddles a refill of the buffer, and the entries must be those of one large read.
func TestSmallReads(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format Format
		data   []byte
	}{
		{"rkn-xml", FormatRKNXML, []byte(xmlDoc)},
		{"rkn-xml CRLF", FormatRKNXML, []byte(crlf(xmlDoc))},
		{"rkn-csv", FormatRKNCSV, cp1251Bytes(t, csvDoc)},
		{"rkn-csv CRLF", FormatRKNCSV, cp1251Bytes(t, crlf(csvDoc))},
		{"urls", FormatURLs, []byte(urlsDoc)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantHeader, want, err := readEntries(t, tc.format, tc.data, nil)
			if err != nil {
				t.Fatal(err)
			}
			for name, r := range map[string]io.Reader{
				"one byte":  iotest.OneByteReader(bytes.NewReader(tc.data)),
				"half":      iotest.HalfReader(bytes.NewReader(tc.data)),
				"data+EOF":  iotest.DataErrReader(bytes.NewReader(tc.data)),
				"timeout":   iotest.TimeoutReader(iotest.OneByteReader(bytes.NewReader(tc.data))),
				"odd sizes": &oddReader{data: tc.data},
			} {
				h, got, err := readEntries(t, tc.format, tc.data, r)
				if name == "timeout" {
					// The second read fails: the error is a read error, not damage.
					if err == nil || !errors.Is(err, iotest.ErrTimeout) {
						t.Errorf("%s: error %v, want the read error", name, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if h != wantHeader {
					t.Errorf("%s: header %+v, want %+v", name, h, wantHeader)
				}
				for _, e := range want {
					e.Offset = 0
				}
				sameEntries(t, got, want)
			}
		})
	}
}

// oddReader returns 1, 2, 3, ... 7 bytes a read, and sometimes nothing.
type oddReader struct {
	data []byte
	n    int
}

func (r *oddReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	r.n++
	n := min(r.n%8, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}
