package blocklist

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"
)

// The readers are fuzzed against the standard library: whatever they accept, encoding/xml
// (strict) and encoding/csv accept too, with the same entries. They may refuse more (they
// are stricter), but never accept damage that the standard library sees, nor read a
// document differently. Every error they return names the file and a line in it.

func FuzzRKNXML(f *testing.F) {
	f.Add([]byte(xmlDoc))
	for _, s := range []string{
		`<?xml version="1.0" encoding="windows-1251"?><reg:register><content id="1"><url><![CDATA[x]]></url></content></reg:register>`,
		"<reg:register updateTime='1'><content id=\"1\" blockType=\"ip\"><ip>1.2.3.4</ip><ipv6Subnet>::/0</ipv6Subnet></content></reg:register>",
		`<register><content id="1"><decision date="&lt;" number="&#x41;" org="&amp;"/><future><a/><b>x</b></future></content></register>`,
		"<reg:register><!-- c --><?p x?><content id=\"1\"/></reg:register>\n<!-- end -->",
		"<reg:register><content id=\"1\"><url>a<!---->b<![CDATA[c]]>&#8203;</url></content></reg:register>",
		"in><![CDATA[x]]></domain></content></reg:register>",
		"<reg:register><content id=\"1\"><url>x</domain></content></reg:register>",
	} {
		f.Add([]byte(s))
	}
	f.Add(append([]byte(`<?xml version="1.0" encoding="windows-1251"?><reg:register><content id="1"><decision org="`), 0xD0, 0xEE, 0xF1, '"', '/', '>', '<', '/', 'c', 'o', 'n', 't', 'e', 'n', 't', '>', '<', '/', 'r', 'e', 'g', ':', 'r', 'e', 'g', 'i', 's', 't', 'e', 'r', '>'))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, entries, err := readEntries(t, FormatRKNXML, data, nil)
		if err != nil {
			checkFuzzError(t, data, err, true)
			return
		}
		wantHeader, want, refErr := referenceXML(data)
		if refErr != nil {
			t.Fatalf("accepted what encoding/xml refuses (%v): %q", refErr, data)
		}
		if h != wantHeader {
			t.Fatalf("header %+v, encoding/xml reads %+v", h, wantHeader)
		}
		compareFuzzEntries(t, entries, want, data)
		// A register cut short is refused, unless only comments and blank space are cut.
		for _, cut := range cuts(len(data)) {
			_, _, err := readEntries(t, FormatRKNXML, data[:cut], nil)
			if err == nil && !onlyMisc(data[cut:]) {
				t.Fatalf("accepted the register cut at %d of %d: %q", cut, len(data), data)
			}
		}
	})
}

// cuts returns up to 64 places to cut n bytes at.
func cuts(n int) []int {
	var c []int
	step := max(1, n/64)
	for i := 0; i < n; i += step {
		c = append(c, i)
	}
	return c
}

var miscRE = regexp.MustCompile(`(?s)<!--.*?-->|<\?.*?\?>`)

// onlyMisc reports whether b is only comments, processing instructions and blank space.
func onlyMisc(b []byte) bool {
	return len(bytes.Trim(miscRE.ReplaceAll(b, nil), " \t\r\n")) == 0
}

// checkFuzzError checks that err locates a problem in data.
func checkFuzzError(t *testing.T, data []byte, err error, offsets bool) {
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want an *Error", err, err)
	}
	if lines := 1 + bytes.Count(data, []byte("\n")); e.Source != "test" || e.Line < 0 || e.Line > lines {
		t.Fatalf("error %q at %s:%d, outside the %d lines", err, e.Source, e.Line, lines)
	}
	if !offsets {
		return
	}
	m := regexp.MustCompile(`: byte (\d+): `).FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("error %q has no byte offset", err)
	}
	if off, _ := strconv.Atoi(m[1]); off > len(data) || e.Line != 1+bytes.Count(data[:off], []byte("\n")) {
		t.Fatalf("error %q: line %d and byte %d of %d disagree", err, e.Line, off, len(data))
	}
}

// compareFuzzEntries compares entries with the reference's, blank space made spaces: XML
// makes tabs and line ends in attribute values spaces, which encoding/xml does not.
func compareFuzzEntries(t *testing.T, got, want []*Entry, data []byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d entries, the reference reads %d: %q", len(got), len(want), data)
	}
	blank := strings.NewReplacer("\t", " ", "\n", " ", "\r", " ")
	norm := func(e *Entry) string {
		c := *e.Clone()
		c.Offset = 0
		for _, s := range []*string{&c.ID, &c.IncludeTime, &c.EntryType, &c.Hash, &c.Decision.Date, &c.Decision.Number, &c.Decision.Org} {
			*s = blank.Replace(*s)
		}
		c.BlockType = BlockType(blank.Replace(string(c.BlockType)))
		for _, s := range []*[]string{&c.URLs, &c.Domains, &c.IPs, &c.Subnets} {
			for i := range *s {
				(*s)[i] = blank.Replace((*s)[i])
			}
		}
		return fmt.Sprintf("%#v", c)
	}
	for i := range got {
		if g, w := norm(got[i]), norm(want[i]); g != w {
			t.Fatalf("entry %d:\n got %s\nwant %s\nin %q", i, g, w, data)
		}
	}
}

// referenceXML reads a register with encoding/xml.
func referenceXML(data []byte) (Header, []*Entry, error) {
	dec := xml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(data, []byte(bom))))
	dec.Strict = true
	dec.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		if strings.EqualFold(label, "windows-1251") || strings.EqualFold(label, "cp1251") {
			return charmap.Windows1251.NewDecoder().Reader(r), nil
		}
		return nil, fmt.Errorf("charset %s", label)
	}
	h := Header{Format: FormatRKNXML}
	var entries []*Entry
	var stack []string
	var e *Entry
	var value *[]string
	var text strings.Builder
	rootSeen := false
	attr := func(a []xml.Attr, name string) string {
		for _, x := range a {
			if x.Name.Space == "" && x.Name.Local == name {
				return strings.Trim(x.Value, " \t\r\n")
			}
		}
		return ""
	}
	for {
		line, _ := dec.InputPos() // of the token's start
		tok, err := dec.RawToken()
		if err == io.EOF {
			if len(stack) > 0 || !rootSeen {
				return h, nil, errors.New("unclosed elements")
			}
			return h, entries, nil
		}
		if err != nil {
			return h, nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			name := tok.Name.Local
			if tok.Name.Space != "" {
				name = tok.Name.Space + ":" + name
			}
			stack = append(stack, name)
			switch {
			case len(stack) == 1:
				rootSeen = true
				h.UpdateTime, h.UpdateTimeUrgently, h.FormatVersion = attr(tok.Attr, "updateTime"), attr(tok.Attr, "updateTimeUrgently"), attr(tok.Attr, "formatVersion")
			case len(stack) == 2 && name == "content":
				e = &Entry{Line: line, ID: attr(tok.Attr, "id"), IncludeTime: attr(tok.Attr, "includeTime"), EntryType: attr(tok.Attr, "entryType"), Hash: attr(tok.Attr, "hash"), BlockType: BlockType(attr(tok.Attr, "blockType"))}
				if e.BlockType == "default" {
					e.BlockType = BlockURL
				}
			case len(stack) == 3 && e != nil:
				switch name {
				case "decision":
					e.Decision = Decision{Date: attr(tok.Attr, "date"), Number: attr(tok.Attr, "number"), Org: attr(tok.Attr, "org")}
				case "url":
					value = &e.URLs
				case "domain":
					value = &e.Domains
				case "ip", "ipv6":
					value = &e.IPs
				case "ipSubnet", "ipv6Subnet":
					value = &e.Subnets
				}
				text.Reset()
			}
		case xml.EndElement:
			name := tok.Name.Local
			if tok.Name.Space != "" {
				name = tok.Name.Space + ":" + name
			}
			if len(stack) == 0 || stack[len(stack)-1] != name {
				return h, nil, errors.New("mismatched end")
			}
			switch {
			case len(stack) == 2 && e != nil:
				entries = append(entries, e)
				e = nil
			case len(stack) == 3 && value != nil:
				v := strings.Trim(text.String(), " \t\r\n")
				if value == &e.URLs {
					v = string(htmlUnescape([]byte(v)))
				}
				if v != "" {
					*value = append(*value, v)
				}
				value = nil
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 3 {
				text.Write(tok)
			}
		}
	}
}

func FuzzRKNCSV(f *testing.F) {
	f.Add(cp1251Bytes(f, csvDoc))
	for _, s := range []string{
		"Updated: x\n1.2.3.4 | 1.2.3.0/24;a.example|*.b.example;http://a/1 | http://a/2|x;суд;1;2024\n",
		"Updated: x\r\n;;\"a;b\"\"c\";;;\r\n\r\n;;;;;\n",
		"Updated: x\n;;\"unclosed\n;;;;;\n",
		"Updated: x\n1;2;3;4;5\n",
		bom + "Updated: x\n;;http://a/&amp;&#8203;;;;\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, entries, err := readEntries(t, FormatRKNCSV, data, nil)
		if err != nil {
			checkFuzzError(t, data, err, false)
			return
		}
		wantHeader, want, refErr := referenceCSV(data)
		if refErr != nil {
			t.Fatalf("accepted what encoding/csv refuses (%v): %q", refErr, data)
		}
		if h != wantHeader {
			t.Fatalf("header %+v, the reference reads %+v", h, wantHeader)
		}
		compareFuzzEntries(t, entries, want, data)
	})
}

var schemeRE = regexp.MustCompile(`^[ \t]*[A-Za-z][A-Za-z0-9+.-]*://`)

// referenceCSV reads a CSV dump with encoding/csv.
func referenceCSV(data []byte) (Header, []*Entry, error) {
	text, ok := bytes.CutPrefix(data, []byte(bom))
	if !ok {
		var err error
		if text, err = charmap.Windows1251.NewDecoder().Bytes(data); err != nil {
			return Header{}, nil, err
		}
	}
	first, rest, _ := bytes.Cut(text, []byte("\n"))
	updated, ok := bytes.CutPrefix(first, []byte("Updated:"))
	if !ok {
		return Header{}, nil, errors.New("no Updated: line")
	}
	// Line ends inside values are LF, as XML has them.
	trim := func(s string) string {
		return strings.Trim(strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s), " \t\r\n")
	}
	h := Header{Format: FormatRKNCSV, UpdateTime: trim(string(updated))}
	r := csv.NewReader(bytes.NewReader(rest))
	r.Comma, r.LazyQuotes, r.FieldsPerRecord = ';', true, 6
	split := func(s string) (vs []string) {
		for v := range strings.SplitSeq(s, "|") {
			if v = trim(v); v != "" {
				vs = append(vs, v)
			}
		}
		return vs
	}
	var entries []*Entry
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return h, entries, nil
		}
		if err != nil {
			return h, nil, err
		}
		line, _ := r.FieldPos(0)
		e := &Entry{Line: line + 1, Decision: Decision{Org: trim(rec[3]), Number: trim(rec[4]), Date: trim(rec[5])}, Domains: split(rec[1])}
		for _, v := range split(rec[0]) {
			if strings.Contains(v, "/") {
				e.Subnets = append(e.Subnets, v)
			} else {
				e.IPs = append(e.IPs, v)
			}
		}
		u := rec[2]
		for {
			i := strings.IndexByte(u, '|')
			for i >= 0 && !schemeRE.MatchString(u[i+1:]) {
				j := strings.IndexByte(u[i+1:], '|')
				if j < 0 {
					i = -1
				} else {
					i += 1 + j
				}
			}
			v := u
			if i >= 0 {
				v = u[:i]
			}
			if v = trim(v); v != "" {
				e.URLs = append(e.URLs, string(htmlUnescape([]byte(v))))
			}
			if i < 0 {
				break
			}
			u = u[i+1:]
		}
		switch {
		case len(e.URLs) > 0:
		case len(e.Domains) > 0:
			e.BlockType = BlockDomain
			for _, d := range e.Domains {
				if strings.HasPrefix(d, "*.") {
					e.BlockType = BlockDomainMask
				}
			}
		case len(e.IPs)+len(e.Subnets) > 0:
			e.BlockType = BlockIP
		}
		entries = append(entries, e)
	}
}

func FuzzURLs(f *testing.F) {
	f.Add([]byte(urlsDoc))
	f.Add([]byte("\xff\xfeh\x00"))
	f.Add([]byte("a\r\n#b\n\xd0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, entries, err := readEntries(t, FormatURLs, data, nil)
		if err != nil {
			checkFuzzError(t, data, err, false)
			return
		}
		var want []*Entry
		for i, line := range strings.Split(strings.TrimPrefix(string(data), bom), "\n") {
			if line = strings.TrimSpace(line); line != "" && line[0] != '#' {
				want = append(want, &Entry{URLs: []string{line}, Line: i + 1})
			}
		}
		compareFuzzEntries(t, entries, want, data)
	})
}
