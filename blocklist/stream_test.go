package blocklist

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func init() {
	// A string that outlives its chunk reads as 0xff bytes in every test.
	poisonChunks = true
}

// loadAsCaddyDoes turns the poisoning of chunks off for a benchmark, which measures loads
// as a gateway runs them: poisoning writes every byte of the file once more, on the
// goroutine that commits the rows.
func loadAsCaddyDoes(b *testing.B) {
	poisonChunks = false
	b.Cleanup(func() { poisonChunks = true })
}

// A CSV register is read in chunks cut at record ends; whatever the records look like where
// a chunk ends (quoted fields over several lines, doubled quotes, CRLF, blank lines), every
// order must read back as encoding/csv reads its record, from the line it starts on.
func TestCSVAcrossChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString("id,countries,target,reason\r\n")
	for i := 0; b.Len() < 5*chunkSize; i++ {
		eol := "\n"
		if i%3 == 0 {
			eol = "\r\n"
		}
		reason := "plain reason " + strconv.Itoa(i)
		switch i % 7 {
		case 1:
			reason = `"over` + eol + `two lines, with ""quotes"" and a comma, ` + strconv.Itoa(i) + `"`
		case 2:
			reason = `"` + strings.Repeat("x", rng.IntN(3000)) + `"`
		case 3:
			reason = `""`
		}
		fmt.Fprintf(&b, "o%d,RU,post:%d,%s%s", i, i+1, reason, eol)
		if i%11 == 0 {
			b.WriteString(eol) // a blank line
		}
	}
	text := b.String()

	cr := csv.NewReader(strings.NewReader(text))
	records, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := make(map[string]readBack, len(records))
	cr = csv.NewReader(strings.NewReader(text))
	for {
		rec, err := cr.Read()
		if err != nil {
			break
		}
		line, _ := cr.FieldPos(0)
		want[rec[0]] = readBack{strings.TrimPrefix(rec[2], "post:"), strings.TrimSpace(rec[3]), line}
	}
	delete(want, "id")
	checkReadBack(t, "orders.csv", text, want)
}

// readBack is what an order must read back as.
type readBack struct {
	post, reason string
	line         int
}

// checkReadBack loads text as the register name and checks that it holds the orders of
// want, by id, and nothing else.
func checkReadBack(t *testing.T, name, text string, want map[string]readBack) {
	t.Helper()
	r, err := Load(context.Background(), []Source{{Name: name, Reader: strings.NewReader(text)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != len(want) {
		t.Fatalf("%d orders, want %d", r.Len(), len(want))
	}
	for o := range r.orders {
		w, ok := want[o.ID]
		switch {
		case !ok:
			t.Fatalf("order %q was not in the file", o.ID)
		case o.Target.Value != w.post:
			t.Fatalf("order %q: target %q, want post %q", o.ID, o.Target.Value, w.post)
		case o.Reason != w.reason:
			t.Fatalf("order %q: reason %q, want %q", o.ID, o.Reason, w.reason)
		case o.Source != name+":"+strconv.Itoa(w.line):
			t.Fatalf("order %q: source %s, want line %d", o.ID, o.Source, w.line)
		}
	}
}

// A record longer than a chunk, and problems after it, are reported where they are.
func TestCSVRecordLongerThanChunk(t *testing.T) {
	long := strings.Repeat("long reason\n", 2*chunkSize/12)
	text := "id,countries,target,reason\n" +
		"a,RU,post:1,ok\n" +
		"b,RU,post:2,\"" + long + "\"\n" +
		"c,RX,post:3,ok\n"
	_, err := Load(context.Background(), []Source{{Name: "o.csv", Reader: strings.NewReader(text)}}, Options{})
	cLine := 3 + strings.Count(long, "\n") + 1
	want := "register o.csv: line 3: reason: longer than 4096 bytes\n" +
		"register o.csv: line " + strconv.Itoa(cLine) + `: countries: unknown country code "RX"`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// A JSON Lines register is read in chunks cut at line ends; whatever the lines look like
// where a chunk ends (escapes, multi-byte characters, CRLF, blank lines, long lines), every
// order must read back as encoding/json reads its line, from that line.
func TestJSONLinesAcrossChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var b strings.Builder
	b.WriteString(bom)
	want := map[string]readBack{}
	line := 1
	for i := 0; b.Len() < 5*chunkSize; i++ {
		eol := "\n"
		if i%3 == 0 {
			eol = "\r\n"
		}
		reason := "plain reason " + strconv.Itoa(i)
		switch i % 7 {
		case 1:
			reason = "two\nlines, \"quoted\", é and 日本 " + strconv.Itoa(i)
		case 2:
			reason = strings.Repeat("x", rng.IntN(3000))
		case 3:
			reason = ""
		}
		id := "o" + strconv.Itoa(i)
		countries := `"RU"`
		if i%5 == 0 {
			countries = `["RU", "BY"]`
		}
		reasonJSON, _ := json.Marshal(reason)
		if i%4 == 0 {
			fmt.Fprintf(&b, `  {"target": "post:%d", "reason": %s, "countries": %s, "id": %q}%s`, i+1, reasonJSON, countries, id, eol)
		} else {
			fmt.Fprintf(&b, `{"id":%q,"countries":%s,"target":"post:%d","reason":%s}%s`, id, countries, i+1, reasonJSON, eol)
		}
		want[id] = readBack{strconv.Itoa(i + 1), strings.TrimSpace(reason), line}
		line++
		if i%11 == 0 {
			b.WriteString(" \t" + eol) // a blank line
			line++
		}
	}
	text := b.String()

	checkReadBack(t, "orders.jsonl", text, want)

	// Broken lines, one longer than a chunk among them, are reported on their lines in
	// order, in every chunk, and the lines around them are still checked.
	lines := strings.SplitAfter(text, "\n")
	broken := []string{
		`{"id":"b%d","countries":"RU","target":"post:1","colour":"red"}`,
		`{"id":"b%d","countries":"RU","target":"post:2"`,
		`{"id":"b%d","countries":"RX","target":"post:3"}`,
		`{"id":"b%d","countries":"RU","target":"post:4","reason":"` + strings.Repeat("long ", 2*chunkSize/5) + `"}`,
		`{"id":"b%d","countries":"RU","target":"post:5","reason":"` + "\xff" + `"}`,
	}
	var wantErrs []string
	for k, at := 0, 100; k < 15; k, at = k+1, at+len(lines)/16 {
		lines[at] = fmt.Sprintf(broken[k%len(broken)], k) + "\n"
		msg := map[int]string{
			0: `unknown field "colour" (want id, countries, target, action, authority, reference, notice, reason, start, end)`,
			1: `invalid JSON: unexpected end`,
			2: `countries: unknown country code "RX"`,
			3: `reason: longer than 4096 bytes`,
			4: `reason: not valid UTF-8 (save the file as UTF-8)`,
		}[k%len(broken)]
		wantErrs = append(wantErrs, "register orders.jsonl: line "+strconv.Itoa(at+1)+": "+msg)
	}
	_, err := Load(context.Background(), []Source{{Name: "orders.jsonl", Reader: strings.NewReader(strings.Join(lines, ""))}}, Options{})
	if err == nil || err.Error() != strings.Join(wantErrs, "\n") {
		t.Errorf("got %v\nwant %s", err, strings.Join(wantErrs, "\n"))
	}
}

// A JSON array is read in chunks cut after elements; whatever the elements look like where
// a chunk ends (over several lines, several on a line, brackets, braces and escaped quotes
// in strings, escapes the fast reader leaves to encoding/json), every order must read back
// as written, from the line its element starts on, and problems must name the element by
// its place in the whole array.
func TestJSONArrayAcrossChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	reasons := []string{
		`braces } and ] and {"x": [1]} in a reason`,
		`one quote " then } and ] outside it if the quote were not escaped, and a backslash \\`,
		`a backslash before the closing quote \\`,
		"Доступ ограничен, with é",
		"",
	}
	var elems []string
	want := map[string]readBack{}
	size := 0
	for i := 0; size < 5*chunkSize; i++ {
		id := "o" + strconv.Itoa(i)
		reason := strconv.Itoa(i) + " " + reasons[i%len(reasons)]
		if i%9 == 2 {
			reason = strings.Repeat("y", rng.IntN(3000))
		}
		reasonJSON, _ := json.Marshal(reason)
		var e string
		switch i % 5 {
		case 0: // pretty-printed, over several lines
			e = fmt.Sprintf("{\n    \"id\": %q,\n    \"countries\": [\"RU\", \"BY\"],\n    \"target\": \"post:%d\",\n    \"reason\": %s\n  }", id, i+1, reasonJSON)
		case 1: // an escape the fast reader leaves to encoding/json
			e = fmt.Sprintf(`{"id":%q,"countries":"RU","target":"post:%d","reason":%s,"notice":"https://n.example/\u0041"}`, id, i+1, reasonJSON)
		default:
			e = fmt.Sprintf(`{"id":%q,"countries":"RU","target":"post:%d","reason":%s}`, id, i+1, reasonJSON)
		}
		elems = append(elems, e)
		want[id] = readBack{post: strconv.Itoa(i + 1), reason: strings.TrimSpace(reason)}
		size += len(e)
	}
	// join writes the array, with separators of every kind, and returns the line each
	// element starts on.
	join := func(elems []string) (string, []int) {
		var b strings.Builder
		b.WriteString(" \r\n[")
		lines := make([]int, len(elems))
		for i, e := range elems {
			if i > 0 {
				b.WriteString([]string{",\n  ", ", ", "\n,", ",\r\n\n"}[i%4])
			}
			lines[i] = 1 + strings.Count(b.String(), "\n")
			b.WriteString(e)
		}
		b.WriteString("\n]\n")
		return b.String(), lines
	}
	text, lines := join(elems)
	for i := range elems {
		id := "o" + strconv.Itoa(i)
		w := want[id]
		w.line = lines[i]
		want[id] = w
	}
	checkReadBack(t, "orders.json", text, want)

	// Broken elements, one longer than a chunk among them, are reported by their place in
	// the array and their line, in every chunk, and the elements around them are still
	// checked.
	broken := []struct{ elem, msg string }{
		{`{"id":"b%d","countries":"RU","target":"post:1","colour":"red"}`,
			`unknown field "colour" (want id, countries, target, action, authority, reference, notice, reason, start, end)`},
		{`{"id":"b%d","countries":"RX","target":"post:3"}`, `.countries: unknown country code "RX"`},
		{`{"id":"b%d","countries":"RU","target":"post:4","reason":"` + strings.Repeat("long ", 2*chunkSize/5) + `"}`,
			`.reason: longer than 4096 bytes`},
		{`{"id":"b%d","countries":"RU","target":"post:5","reason":"` + "\xff" + `"}`, `.reason: not valid UTF-8 (save the file as UTF-8)`},
		{`{"id":"b%d","countries":"RU","target":"post:6",}`, `: invalid JSON: invalid character '}' looking for beginning of object key string`},
		{`["b%d"]`, `: want a JSON object`},
	}
	var wantErrs []string
	for k, at := 0, 100; k < 15; k, at = k+1, at+len(elems)/16 {
		b := broken[k%len(broken)]
		elems[at] = fmt.Sprintf(b.elem, k)
		msg := b.msg
		if msg[0] != '.' && msg[0] != ':' {
			msg = ": " + msg
		}
		wantErrs = append(wantErrs, fmt.Sprintf("register orders.json: line %%d: [%d]%s", at, msg))
	}
	text, lines = join(elems)
	for k, at := 0, 100; k < 15; k, at = k+1, at+len(elems)/16 {
		wantErrs[k] = fmt.Sprintf(wantErrs[k], lines[at])
	}
	_, err := Load(context.Background(), []Source{{Name: "orders.json", Reader: strings.NewReader(text)}}, Options{})
	if err == nil || err.Error() != strings.Join(wantErrs, "\n") {
		t.Errorf("got %v\nwant %s", err, strings.Join(wantErrs, "\n"))
	}
}

// plainURL reads what url.Parse reads, as urlTarget and checkNotice use it, wherever it
// accepts a URL.
func TestPlainURL(t *testing.T) {
	const alphabet = "aZ09-._~!$&'()*+,;=:@/?%#[]\\ \"<>^`{|}\x7fé"
	rng := rand.New(rand.NewPCG(3, 4))
	accepted := 0
	for i := range 200_000 {
		var b strings.Builder
		b.WriteString([]string{"http://", "https://", "HTTP://", "https:/", "ftp://"}[i%5])
		b.WriteString([]string{"", "t.example", "T.Example.", "1.2.3.4", "a-b", "h:80", "u@h", "[::1]", "é.example", "."}[rng.IntN(10)])
		b.WriteString([]string{"", "/", "?", "/a", "#"}[rng.IntN(5)])
		for range rng.IntN(24) {
			if rng.IntN(4) == 0 {
				b.WriteString([]string{"%41", "%2F", "%zz", "%4", "host.example", "/a/b", "?q=1"}[rng.IntN(7)])
				continue
			}
			set := alphabet
			if rng.IntN(10) < 8 {
				set = alphabet[:24] // what a URL may hold
			}
			b.WriteByte(set[rng.IntN(len(set))])
		}
		s := b.String()
		path, query, ok := plainURL(s)
		if !ok {
			continue
		}
		accepted++
		u, err := url.Parse(s)
		switch {
		case err != nil:
			t.Fatalf("plainURL(%q) accepted what url.Parse refuses: %v", s, err)
		case u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Fragment != "":
			t.Fatalf("plainURL(%q) accepted scheme %q, host %q, fragment %q", s, u.Scheme, u.Host, u.Fragment)
		case strings.TrimSuffix(strings.ToLower(u.Hostname()), ".") != urlHost(s):
			t.Fatalf("plainURL(%q): url.Parse's host %q is not urlHost's %q", s, u.Hostname(), urlHost(s))
		case path != u.EscapedPath() || query != u.RawQuery:
			t.Fatalf("plainURL(%q) = %q, %q; url.Parse: %q, %q", s, path, query, u.EscapedPath(), u.RawQuery)
		}
	}
	t.Logf("%d of 200000 took the fast path", accepted)
	if accepted < 1000 {
		t.Errorf("only %d URLs took the fast path: the test does not test it", accepted)
	}
}

// referenceCheckText is what checkText and checkUnicodeText must find: invalid UTF-8, or
// the first control character unicode.IsControl finds.
func referenceCheckText(s string, multiline bool) error {
	if !utf8.ValidString(s) {
		return errNotUTF8
	}
	for _, c := range s {
		if unicode.IsControl(c) && !(multiline && (c == '\n' || c == '\r' || c == '\t')) {
			return fmt.Errorf("control character %U not allowed", c)
		}
	}
	return nil
}

// checkText passes over eight bytes of printable ASCII at once: every byte that is not
// printable ASCII must still be found, at every position in the word and in the tail, and
// the first one reported, as a byte-by-byte reading reports it: an ASCII control
// character before any other byte, else what the text as a whole is found to have.
func TestCheckText(t *testing.T) {
	byByte := func(s string, multiline bool) error {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c >= utf8.RuneSelf {
				return referenceCheckText(s, multiline)
			}
			if c < 0x20 && !(multiline && (c == '\n' || c == '\r' || c == '\t')) || c == 0x7f {
				return fmt.Errorf("control character %U not allowed", rune(c))
			}
		}
		return nil
	}
	odd := []byte{0x00, 0x09, 0x0a, 0x0d, 0x1f, 0x7f, 0x80, 0xc2, 0xd0, 0xff}
	printable := []byte{0x20, 0x21, 0x2f, 0x30, 0x41, 0x7a, 0x7e}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, multiline := range []bool{false, true} {
		for n := range 40 {
			for range 2_000 {
				b := make([]byte, n)
				for i := range b {
					b[i] = printable[rng.IntN(len(printable))]
				}
				// None, one or a few bytes that are not printable ASCII, anywhere.
				for range rng.IntN(4) {
					if n > 0 {
						b[rng.IntN(n)] = odd[rng.IntN(len(odd))]
					}
				}
				s := string(b)
				got, want := checkText(s, multiline), byByte(s, multiline)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("checkText(%q, %v) = %v, want %v", s, multiline, got, want)
				}
			}
		}
	}
	for x := range 256 { // every byte value, in each position of a word
		for pos := range 8 {
			b := []byte("abcdefgh")
			b[pos] = byte(x)
			want := x >= 0x20 && x < 0x7f
			if got := printableASCII(le64(string(b))); got != want {
				t.Fatalf("printableASCII(%q) = %v, want %v", b, got, want)
			}
		}
	}
}

// checkUnicodeText finds the control characters unicode.IsControl finds, the first first.
func TestCheckUnicodeText(t *testing.T) {
	reference := referenceCheckText
	pieces := []string{"a", "Ж", "é", "\u0080", "\u009f", "\u00a0", "\u00ad", "\u2028", "\n", "\t", "\x00", "\x7f", "\xc2", "\x9f", "\xff", "€", "😀",
		"\xe0\x80\x80", "\xe0\xa0\x80", "\xed\xa0\x80", "\xed\x9f\xbf", "\xf0\x80\x80\x80", "\xf0\x90\x80\x80", "\xf4\x90\x80\x80",
		"\xf4\x8f\xbf\xbf", "\xe2\x82", "\xc0\x80", "\xf5\x80\x80\x80", "\xe2\x28\xa1"}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 100_000 {
		var b strings.Builder
		b.WriteString("Ж") // not ASCII: checkText hands it over
		for range rng.IntN(8) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		s, multiline := b.String(), rng.IntN(2) == 0
		got, want := checkUnicodeText(s, multiline), reference(s, multiline)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("checkUnicodeText(%q, %v) = %v, want %v", s, multiline, got, want)
		}
	}
}
