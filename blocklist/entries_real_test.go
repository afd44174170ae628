package blocklist

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// The regulator's real registers: excerpts that the project keeps outside the repository
// (they are the regulator's data, not ours), in ../shared/registers/rkn of the module root.
// Tests that read them skip when they are absent, as in CI; the fixtures of the other tests
// cover every structure found in them.
var rknExcerpts = filepath.Join("..", "..", "shared", "registers", "rkn")

func readExcerpt(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(rknExcerpts, name))
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("the excerpt %s is not here (it is not in the repository)", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// byID finds the entry with the register id, or fails.
func byID(t *testing.T, entries []*Entry, id string) *Entry {
	t.Helper()
	for _, e := range entries {
		if e.ID == id {
			return e
		}
	}
	t.Fatalf("no entry %s", id)
	return nil
}

func countBlockTypes(entries []*Entry) map[BlockType]int {
	n := map[BlockType]int{}
	for _, e := range entries {
		n[e.BlockType]++
	}
	return n
}

func countValues(entries []*Entry) (urls, domains, ips int) {
	for _, e := range entries {
		urls, domains, ips = urls+len(e.URLs), domains+len(e.Domains), ips+len(e.IPs)
	}
	return
}

// The counts below are those of the excerpts as a grep for elements or a reading with
// Python's expat and csv modules gives them; the entries were checked by hand.

func TestRealRKNXML2015(t *testing.T) {
	data := readExcerpt(t, "rkn_dump_2015-08-01.xml")
	h, entries, err := readEntries(t, FormatRKNXML, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Header{Format: FormatRKNXML, UpdateTime: "2015-08-01T00:00:00+03:00", UpdateTimeUrgently: "2015-07-30T18:44:00+03:00", FormatVersion: "2.2"}); h != want {
		t.Errorf("header %+v, want %+v", h, want)
	}
	if len(entries) != 11181 {
		t.Errorf("%d entries, want 11181", len(entries))
	}
	if urls, domains, ips := countValues(entries); urls != 11725 || domains != 11181 || ips != 25779 {
		t.Errorf("%d URLs, %d domains, %d IPs; want 11725, 11181, 25779", urls, domains, ips)
	}
	if n := countBlockTypes(entries); n[BlockDomain] != 5 || n[BlockURL] != 11176 {
		t.Errorf("block types %v", n)
	}
	first, last := entries[0], entries[len(entries)-1]
	if first.ID != "347" || first.Offset != 219 || first.Line != 1 || last.ID != "219436" || last.Offset != 3981985 {
		t.Errorf("first entry %s at %d:%d, last %s at %d", first.ID, first.Line, first.Offset, last.ID, last.Offset)
	}
	sameEntries(t, []*Entry{first}, []*Entry{{
		ID: "347", IncludeTime: "2012-11-18T15:17:51", EntryType: "1", Hash: "C86E7A5E6798B89EC967F693E000B317",
		Decision: Decision{Date: "2012-11-10", Number: "101-РИ", Org: "Роскомнадзор"},
		URLs:     []string{"http://video-one.com/popular/Teen/1.html"}, Domains: []string{"video-one.com"}, IPs: []string{"109.69.58.58"},
		Line: 1,
	}})
	// A zero-width space pasted with the URL and published HTML-escaped, inside CDATA.
	if e := byID(t, entries, "132751"); !slices.Equal(e.URLs, []string{"http://mirror130.graniru.info/\u200b"}) || e.Decision.Org != "Генпрокуратура" || e.EntryType != "3" {
		t.Errorf("entry 132751: %+v", *e)
	}
	// A '|' in a query.
	if e := byID(t, entries, "198011"); len(e.URLs) != 1 || !bytes.Contains([]byte(e.URLs[0]), []byte("utm_campaign=RF_|_Magnity_na_schetchiki&utm_content")) {
		t.Errorf("entry 198011: %q", e.URLs)
	}
	if e := byID(t, entries, "114136"); e.BlockType != BlockDomain || !slices.Equal(e.Domains, []string{"aurelik.com"}) || len(e.URLs) != 0 || len(e.IPs) < 20 {
		t.Errorf("entry 114136: %+v", *e)
	}
}

// partWithHead makes a whole register of the 2024 excerpt, a part cut from a larger dump:
// the 2015 dump's declaration and root tag, then the part from its first whole entry.
func partWithHead(t testing.TB) (data []byte, partOffset int) {
	head := readExcerpt(t, "rkn_dump_2015-08-01.xml")
	part := readExcerpt(t, "rkn_dump.xml.03_2024-06-11.part")
	head = head[:bytes.Index(head, []byte("<content"))]
	part = part[bytes.Index(part, []byte("<content")):]
	data = append(append(slices.Clip(head), '\n'), part...)
	return data, len(head) + 1
}

func TestRealRKNXMLPart(t *testing.T) {
	part := readExcerpt(t, "rkn_dump.xml.03_2024-06-11.part")
	t.Run("as it is", func(t *testing.T) {
		// It starts in the middle of an element: a file cut short at its start.
		_, entries, err := readEntries(t, FormatRKNXML, part, nil)
		checkError(t, err, 1, "byte 0:", "truncated at its start")
		if !errors.Is(err, errTruncated) || len(entries) != 0 {
			t.Errorf("%d entries, error %v", len(entries), err)
		}
		if f := DetectFormat(part); f != "" {
			t.Errorf("DetectFormat says %q", f)
		}
	})
	t.Run("with a head", func(t *testing.T) {
		data, _ := partWithHead(t)
		_, entries, err := readEntries(t, FormatRKNXML, data, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 8563 {
			t.Errorf("%d entries, want 8563", len(entries))
		}
		if n := countBlockTypes(entries); n[BlockDomain] != 3641 || n[BlockDomainMask] != 2946 || n[BlockURL] != 1976 {
			t.Errorf("block types %v, want 3641 domain, 2946 domain-mask, 1976 URL", n)
		}
		if urls, domains, ips := countValues(entries); urls != 4086 || domains != 8563 || ips != 28742 {
			t.Errorf("%d URLs, %d domains, %d IPs; want 4086, 8563, 28742", urls, domains, ips)
		}
		if first, last := entries[0], entries[len(entries)-1]; first.ID != "7096201" || first.Line != 2 || last.ID != "7118417" || last.Line != 67074 {
			t.Errorf("first entry %s at line %d, last %s at line %d", first.ID, first.Line, last.ID, last.Line)
		}
		sameEntries(t, []*Entry{byID(t, entries, "7117414")}, []*Entry{{
			ID: "7117414", IncludeTime: "2024-06-11T17:20:03", EntryType: "3", Hash: "96D4F6B941E888C5DD623D0064EE0B11", BlockType: BlockDomain,
			Decision: Decision{Date: "2024-03-12"},
			Domains:  []string{"kompromat.gr"}, IPs: []string{"38.180.49.65", "2a03:3f40:0002:0246:0000:0000:0000:0010"},
			Line: 67060,
		}})
		if e := byID(t, entries, "7096212"); e.BlockType != BlockDomainMask || !slices.Equal(e.Domains, []string{"*.cryptobosscasino.kz"}) {
			t.Errorf("entry 7096212: %+v", *e)
		}
		if e := byID(t, entries, "7096209"); e.BlockType != BlockURL || !slices.Equal(e.URLs, []string{"https://vavadagames.fun/ru/contactus"}) || e.Decision.Number != "2-6-14/2024-05-26-9668-АИ" {
			t.Errorf("entry 7096209: %+v", *e)
		}
	})
}

// TestRealRKNXMLTruncated cuts the real registers at many points: every cut is refused,
// with the position of the end of the file, and after the entries before it.
func TestRealRKNXMLTruncated(t *testing.T) {
	for _, name := range []string{"2015", "part"} {
		var data []byte
		if name == "2015" {
			data = readExcerpt(t, "rkn_dump_2015-08-01.xml")
		} else {
			data, _ = partWithHead(t)
		}
		_, all, err := readEntries(t, FormatRKNXML, data, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, cut := range []int{1, 50, 220, 1000, len(data) / 3, len(data) / 2, len(data) - 100, len(data) - 17, len(data) - 1} {
			t.Run(name+"/"+strconv.Itoa(cut), func(t *testing.T) {
				_, entries, err := readEntries(t, FormatRKNXML, data[:cut], nil)
				if !errors.Is(err, errTruncated) {
					t.Fatalf("error %v, want a truncated file", err)
				}
				checkError(t, err, 1+bytes.Count(data[:cut], []byte("\n")), "byte "+strconv.Itoa(cut)+":")
				complete := 0
				for _, e := range all {
					if e.Offset+int64(bytes.Index(data[e.Offset:], []byte("</content>"))+len("</content>")) <= int64(cut) {
						complete++
					}
				}
				if len(entries) != complete {
					t.Errorf("%d entries before the cut, want the %d complete ones", len(entries), complete)
				}
			})
		}
	}
}

func TestRealRKNCSV(t *testing.T) {
	data := readExcerpt(t, "zi_dump_2016-06-13.csv")
	h, entries, err := readEntries(t, FormatRKNCSV, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Header{Format: FormatRKNCSV, UpdateTime: "2016-06-13 12:04:00 +0000"}); h != want {
		t.Errorf("header %+v, want %+v", h, want)
	}
	if len(entries) != 30663 {
		t.Errorf("%d entries, want 30663", len(entries))
	}
	if n := countBlockTypes(entries); n[BlockURL] != 29157 || n[BlockDomain] != 1463 || n[BlockIP] != 43 {
		t.Errorf("block types %v, want 29157 URL, 1463 domain, 43 IP", n)
	}
	if urls, domains, ips := countValues(entries); urls != 30051 || domains != 30620 || ips != 74811 {
		t.Errorf("%d URLs, %d domains, %d IPs; want 30051, 30620, 74811", urls, domains, ips)
	}
	byLine := func(line int) *Entry {
		t.Helper()
		i, ok := slices.BinarySearchFunc(entries, line, func(e *Entry, line int) int { return e.Line - line })
		if !ok {
			t.Fatalf("no entry at line %d", line)
		}
		return entries[i]
	}
	for _, tc := range []struct {
		line int
		want Entry
	}{
		{1163, Entry{URLs: []string{"http://argo-casino.com/?a_aid=556d9bce9dfa8&a_bid=11110002"}, Domains: []string{"argo-casino.com"}, Decision: Decision{Date: "2016-02-04", Number: "2-6-27/2016-01-23-8-АИ", Org: "ФНС"}}},
		{5184, Entry{URLs: []string{"http://forumkavkaz.com/index.php?topic=4931.25;wap2"}, Domains: []string{"forumkavkaz.com"}, IPs: []string{"160.153.62.102"}, Decision: Decision{Date: "2014-12-03", Number: "2-522/2014", Org: "суд"}}},
		{10787, Entry{BlockType: BlockDomain, Domains: []string{"linecinema.org"}, IPs: []string{"185.48.56.41"}, Decision: Decision{Date: "2016-03-01", Number: "решение суда по делу № 3-0323/2016", Org: "Мосгорсуд"}}},
		{11546, Entry{URLs: []string{"http://mirror130.graniru.info/\u200b"}, Domains: []string{"mirror130.graniru.info"}, IPs: []string{"104.130.53.192"}, Decision: Decision{Date: "2014-03-13", Number: "Исорг-27/3-3420-14/", Org: "Генпрокуратура"}}},
		{25298, Entry{URLs: []string{`http://www.youtube.com/watch?v=LuijE41JN0Q"`}, Domains: []string{"www.youtube.com"}, IPs: []string{"74.125.196.132"}, Decision: Decision{Date: "2015-03-12", Number: "27-31-2015/Ид831-15", Org: "Генпрокуратура"}}},
		{30664, Entry{URLs: []string{"newcamd525://iserver4.tv:4001", "newcamd525://iserver4.tv:4002", "newcamd525://iserver4.tv:5000"}, Domains: []string{"iserver4.tv"}, IPs: []string{"149.202.99.108"}, Decision: Decision{Date: "2015-10-19", Number: "определение о предварительном обеспечении по заявлению № 2и-0384/2015", Org: "Мосгорсуд"}}},
	} {
		e := byLine(tc.line)
		want := tc.want
		want.Line, want.Offset = tc.line, e.Offset
		if want.IPs == nil {
			want.IPs = e.IPs // the row has many; their count is checked above
		}
		if !sameEntry(e, &want) {
			t.Errorf("line %d:\n got %+v\nwant %+v", tc.line, *e, want)
		}
	}
	if e := byLine(11458); len(e.URLs) != 1 || len(e.IPs) != 14 {
		t.Errorf("line 11458: a '|' in a query split the URL: %q", e.URLs)
	}
	t.Run("truncated", func(t *testing.T) {
		cut := bytes.LastIndexByte(data[:len(data)-1], '\n') + 30
		_, entries, err := readEntries(t, FormatRKNCSV, data[:cut], nil)
		checkError(t, err, 30664, "fields, not the 6")
		if len(entries) != 30662 {
			t.Errorf("%d entries before the cut row, want 30662", len(entries))
		}
	})
}

func sameEntry(a, b *Entry) bool {
	return slices.Equal(a.URLs, b.URLs) && slices.Equal(a.Domains, b.Domains) && slices.Equal(a.IPs, b.IPs) &&
		slices.Equal(a.Subnets, b.Subnets) && a.Decision == b.Decision && a.BlockType == b.BlockType &&
		a.ID == b.ID && a.Line == b.Line && a.Offset == b.Offset
}
