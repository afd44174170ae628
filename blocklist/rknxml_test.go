package blocklist

import (
	"strings"
	"testing"
)

// xmlDoc is a register in UTF-8 with every structure that dump.xml has, or may have.
const xmlDoc = `<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment before the root -->
<reg:register updateTime="2024-06-11T17:20:00+03:00" updateTimeUrgently="2024-06-11T17:10:00+03:00" formatVersion="2.4" xmlns:reg="http://rsoc.ru" xmlns:tns="http://rsoc.ru">
<content id="7096209" includeTime="2024-06-05T00:55:02" entryType="1" hash="1C4C" ts="2024-06-05T00:55:02">
 <decision date="2024-05-28" number="2-6-14/2024-05-26-9668-АИ" org="ФНС"/>
 <url><![CDATA[https://twitter.example/someuser/status/123]]></url>
 <url><![CDATA[https://twitter.example/search?q=x&amp;src=typd]]></url>
 <url>https://twitter.example/a?b=1&amp;c=2</url>
 <domain><![CDATA[twitter.example]]></domain>
 <ip>188.114.96.1</ip>
 <ipv6>2a06:98c1:3120:0000:0000:0000:0000:0001</ipv6>
</content>
<content id="7096201" includeTime="2024-06-05T00:55:02" entryType="1" hash="652C" blockType="domain">
 <decision date="2024-05-27" number="" org=""/>
 <domain><![CDATA[eventkassa.ru]]></domain>
</content>
<content id="7096212" includeTime="2024-06-05T00:55:02" entryType="1" hash="14D3" blockType="domain-mask">
 <decision date="2024-05-28" number="2-6-14" org="ФНС"/>
 <domain><![CDATA[*.cryptobosscasino.kz]]></domain>
</content>
<content id="5" blockType="ip" entryType="2"><decision date="2018-04-13" number="2-1779/18" org="суд"></decision><ipSubnet>149.154.160.0/20</ipSubnet><ipv6Subnet>2001:67c:4e8::/48</ipv6Subnet><ip>149.154.167.99</ip></content>
<content id='6' blockType='default' urgencyType="1" futureAttribute="x &amp; y"><decision date='2014-03-13' number='Исорг-27/3-3420-14/' org='Генпрокуратура'/><url><![CDATA[http://mirror130.graniru.info/&#8203;]]></url>
 <futureElement kind="a"><nested><![CDATA[<not markup>]]></nested><empty/>text &lt; &#x44;</futureElement>
 <futureEmpty/>
 <!-- a comment in an entry --><?pi in an entry?>
 <url> <![CDATA[https://twitter.example/]]>someuser<!-- split --><![CDATA[/status/1]]> </url>
 <url>   </url>
 <url/>
 <domain>&#x6D;irror130.graniru.info</domain>
</content>
<content id="7" blockType="domain-future"/>
<futureTopLevel><item id="ignored"/></futureTopLevel>
<content
  id="8"
  org="not the decision's">
 <decision date="2015-01-01" number="a&gt;b" org="x&#9;y
z"/>
 <url><![CDATA[https://twitter.example/x?a=&lt;b&gt;]]></url>
</content>
</reg:register>
<!-- a comment after the root -->
`

var xmlDocEntries = []*Entry{
	{
		ID: "7096209", IncludeTime: "2024-06-05T00:55:02", EntryType: "1", Hash: "1C4C",
		Decision: Decision{Date: "2024-05-28", Number: "2-6-14/2024-05-26-9668-АИ", Org: "ФНС"},
		URLs: []string{
			"https://twitter.example/someuser/status/123",
			"https://twitter.example/search?q=x&src=typd",
			// Plain text: "&amp;" is XML's escape, and the result has no HTML in it.
			"https://twitter.example/a?b=1&c=2",
		},
		Domains: []string{"twitter.example"},
		IPs:     []string{"188.114.96.1", "2a06:98c1:3120:0000:0000:0000:0000:0001"},
		Line:    4,
	},
	{
		ID: "7096201", IncludeTime: "2024-06-05T00:55:02", EntryType: "1", Hash: "652C", BlockType: BlockDomain,
		Decision: Decision{Date: "2024-05-27"},
		Domains:  []string{"eventkassa.ru"},
		Line:     13,
	},
	{
		ID: "7096212", IncludeTime: "2024-06-05T00:55:02", EntryType: "1", Hash: "14D3", BlockType: BlockDomainMask,
		Decision: Decision{Date: "2024-05-28", Number: "2-6-14", Org: "ФНС"},
		Domains:  []string{"*.cryptobosscasino.kz"},
		Line:     17,
	},
	{
		ID: "5", EntryType: "2", BlockType: BlockIP,
		Decision: Decision{Date: "2018-04-13", Number: "2-1779/18", Org: "суд"},
		IPs:      []string{"149.154.167.99"},
		Subnets:  []string{"149.154.160.0/20", "2001:67c:4e8::/48"},
		Line:     21,
	},
	{
		ID:       "6",
		Decision: Decision{Date: "2014-03-13", Number: "Исорг-27/3-3420-14/", Org: "Генпрокуратура"},
		URLs:     []string{"http://mirror130.graniru.info/\u200b", "https://twitter.example/someuser/status/1"},
		Domains:  []string{"mirror130.graniru.info"},
		Line:     22,
	},
	{ID: "7", BlockType: "domain-future", Line: 31},
	{
		ID: "8",
		// Blank space in attribute values becomes spaces, but a character reference stays.
		Decision: Decision{Date: "2015-01-01", Number: "a>b", Org: "x\ty z"},
		URLs:     []string{"https://twitter.example/x?a=<b>"},
		Line:     33,
	},
}

func TestReadRKNXML(t *testing.T) {
	h, got, err := readEntries(t, FormatRKNXML, []byte(xmlDoc), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{Format: FormatRKNXML, UpdateTime: "2024-06-11T17:20:00+03:00", UpdateTimeUrgently: "2024-06-11T17:10:00+03:00", FormatVersion: "2.4"}
	if h != want {
		t.Errorf("header %+v, want %+v", h, want)
	}
	sameEntries(t, got, xmlDocEntries)
}

func TestReadRKNXMLVariants(t *testing.T) {
	const entry = `<content id="1"><decision date="2024-01-01" number="1-РИ" org="Роскомнадзор"/><url><![CDATA[https://twitter.example/Путин]]></url></content>`
	one := []*Entry{{
		ID: "1", Decision: Decision{Date: "2024-01-01", Number: "1-РИ", Org: "Роскомнадзор"},
		URLs: []string{"https://twitter.example/Путин"}, Line: 1,
	}}
	for _, tc := range []struct {
		name string
		data []byte
		want []*Entry
	}{
		{"windows-1251", cp1251Bytes(t, `<?xml version="1.0" encoding="windows-1251"?><reg:register>`+entry+`</reg:register>`), one},
		{"encoding name in capitals", cp1251Bytes(t, `<?xml version="1.0" encoding="WINDOWS-1251"?><reg:register>`+entry+`</reg:register>`), one},
		{"single-quoted declaration", cp1251Bytes(t, `<?xml version='1.0' encoding='windows-1251' standalone='yes' ?><reg:register>`+entry+`</reg:register>`), one},
		{"no declaration: UTF-8", []byte(`<reg:register>` + entry + `</reg:register>`), one},
		{"byte order mark", []byte(bom + `<?xml version="1.0" encoding="utf-8"?><reg:register>` + entry + `</reg:register>`), one},
		{"another prefix", []byte(`<r:register xmlns:r="http://rsoc.ru">` + entry + `</r:register>`), one},
		{"no prefix", []byte(`<register>` + entry + `</register>`), one},
		{"empty register", []byte(`<?xml version="1.0"?><reg:register updateTime="x"></reg:register>`), nil},
		{"self-closing register", []byte(`<?xml version="1.0"?><reg:register updateTime="x"/>` + "\n<!-- c -->\n"), nil},
		{"CRLF", []byte("<?xml version=\"1.0\"?>\r\n<reg:register>\r\n" + entry + "\r\n</reg:register>\r\n"), []*Entry{{
			ID: "1", Decision: Decision{Date: "2024-01-01", Number: "1-РИ", Org: "Роскомнадзор"},
			URLs: []string{"https://twitter.example/Путин"}, Line: 3,
		}}},
		{"entities in CDATA are text", []byte(`<reg:register><content id="1"><url><![CDATA[http://a.example/&lt;&amp;amp;]]></url></content></reg:register>`), []*Entry{{
			ID: "1", URLs: []string{"http://a.example/<&amp;"}, Line: 1,
		}}},
		{"entities in plain text are XML's, then HTML's", []byte(`<reg:register><content id="1"><url>http://a.example/&amp;amp;&amp;#8203;</url></content></reg:register>`), []*Entry{{
			ID: "1", URLs: []string{"http://a.example/&\u200b"}, Line: 1,
		}}},
		{"domains and IPs are not HTML-unescaped", []byte(`<reg:register><content id="1"><domain><![CDATA[a&amp;b]]></domain><ip>1.2.3.4&amp;</ip></content></reg:register>`), []*Entry{{
			ID: "1", Domains: []string{"a&amp;b"}, IPs: []string{"1.2.3.4&"}, Line: 1,
		}}},
		{"character references", []byte(`<reg:register><content id="&#49;&#x32;"><domain>&#1087;&#x440;&#x438;&#1084;&#1077;&#1088;.&#x440;&#x444;</domain></content></reg:register>`), []*Entry{{
			ID: "12", Domains: []string{"пример.рф"}, Line: 1,
		}}},
		{"'>' in an attribute value", []byte(`<reg:register><content id="1" hash="a>b"/></reg:register>`), []*Entry{{
			ID: "1", Hash: "a>b", Line: 1,
		}}},
		{"blank space around '=' and before '>'", []byte("<reg:register ><content id = \"1\"\n\t></content ></reg:register\n>"), []*Entry{{
			ID: "1", Line: 1,
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, got, err := readEntries(t, FormatRKNXML, tc.data, nil)
			if err != nil {
				t.Fatal(err)
			}
			sameEntries(t, got, tc.want)
		})
	}
}

func TestRKNXMLDamage(t *testing.T) {
	const head = `<?xml version="1.0" encoding="windows-1251"?>` + "\n<reg:register>\n"
	const good = `<content id="1"><decision date="2024-01-01" number="1" org="x"/><url><![CDATA[https://a.example/1]]></url></content>` + "\n"
	for _, tc := range []struct {
		name    string
		data    string // in UTF-8, encoded as windows-1251 unless utf8 is set
		raw     []byte // or the bytes themselves
		line    int
		msgs    []string
		entries int // read before the damage
	}{
		{name: "empty file", data: "", line: 1, msgs: []string{"byte 0:", "no <reg:register>", "truncated"}},
		{name: "blank file", data: "\n\n", line: 3, msgs: []string{"byte 2:", "no <reg:register>"}},
		{name: "a part cut from a dump", data: "in><![CDATA[vfgwu.etage-tattoo.fr]]></domain>\n" + good + "</reg:register>", line: 1, msgs: []string{"byte 0:", "does not start with an XML declaration or <reg:register>", "truncated at its start"}},
		{name: "only the declaration", data: `<?xml version="1.0" encoding="windows-1251"?>`, line: 1, msgs: []string{"byte 45:", "no <reg:register>", "truncated"}},
		{name: "truncated in the declaration", data: `<?xml version="1.0" enc`, line: 1, msgs: []string{"unexpected end of file inside the XML declaration", "truncated"}},
		{name: "truncated in the root's tag", data: `<?xml version="1.0"?>` + "\n<reg:register updateTime=\"2024", line: 2, msgs: []string{"byte 52:", "unexpected end of file inside a tag", "truncated"}},
		{name: "no root end", data: head + good, line: 4, entries: 1, msgs: []string{"unexpected end of file before </reg:register> (<reg:register> is at line 2, byte 46)", "truncated"}},
		{name: "truncated between entries", data: head + good + "  ", line: 4, entries: 1, msgs: []string{"before </reg:register>"}},
		{name: "truncated in a content tag", data: head + good + `<content id="2`, line: 4, entries: 1, msgs: []string{"inside a tag", "truncated"}},
		{name: "truncated in an entry", data: head + good + `<content id="2"><decision date="2024-01-01"/>`, line: 4, entries: 1, msgs: []string{"inside <content> (line 4, byte 178)", "truncated"}},
		{name: "truncated in CDATA", data: head + good + `<content id="2"><url><![CDATA[https://a.exa`, line: 4, entries: 1, msgs: []string{"inside CDATA", "truncated"}},
		{name: "truncated in a value", data: head + good + `<content id="2"><ip>1.2.3`, line: 4, entries: 1, msgs: []string{"inside <ip> (byte 194) of <content> at line 4", "truncated"}},
		{name: "truncated in an end tag", data: head + good + `<content id="2"></cont`, line: 4, entries: 1, msgs: []string{"inside an end tag"}},
		{name: "truncated in an unknown element", data: head + good + `<content id="2"><future><deeper>`, line: 4, entries: 1, msgs: []string{"inside <deeper> (line 4, byte 202)"}},
		{name: "truncated in a comment", data: head + "<!-- x", line: 3, msgs: []string{"inside a comment"}},
		{name: "mismatched end tag", data: head + `<content id="1"><url>x</domain></content></reg:register>`, line: 3, msgs: []string{"</domain> where <url> (line 3, byte 77) should be closed"}},
		{name: "mismatched end of an unknown element", data: head + "<content id=\"1\"><a>\n<b></a></b></content></reg:register>", line: 4, msgs: []string{"</a> where <b> (line 4, byte 81) should be closed"}},
		{name: "second root element", data: head + "</reg:register>\n<reg:register></reg:register>", line: 4, msgs: []string{"markup after </reg:register>"}},
		{name: "text after the root", data: head + "</reg:register>\nx", line: 4, msgs: []string{"text after </reg:register>"}},
		{name: "text between entries", data: head + good + "x" + good, line: 4, entries: 1, msgs: []string{"text outside <content>"}},
		{name: "text in an entry", data: head + `<content id="1">x</content>`, line: 3, msgs: []string{"text in <content>"}},
		{name: "text in a decision", data: head + `<content id="1"><decision>x</decision></content>`, line: 3, msgs: []string{"text in <decision>"}},
		{name: "element in a value", data: head + `<content id="1"><url><b>x</b></url></content>`, line: 3, msgs: []string{"an element inside <url>"}},
		{name: "CDATA outside an entry", data: head + `<![CDATA[x]]>`, line: 3, msgs: []string{"CDATA outside <content>"}},
		{name: "unquoted attribute", data: head + `<content id=1></content>`, line: 3, msgs: []string{"byte 73:", "attribute id of <content> is not quoted"}},
		{name: "quote missing", data: head + "<content id=\"1>\n<decision date=\"2024\"/></content>", line: 4, msgs: []string{"'<' in the value of attribute id"}},
		{name: "attribute without value", data: head + `<content id="1" checked></content>`, line: 3, msgs: []string{"expected '=' after attribute checked"}},
		{name: "attributes without space", data: head + `<content id="1"hash="2"></content>`, line: 3, msgs: []string{"expected an attribute, '>' or '/>'"}},
		{name: "duplicate attribute", data: head + `<content id="1" id="2"></content>`, line: 3, msgs: []string{"attribute id of <content> is given twice"}},
		{name: "duplicate unknown attribute", data: head + `<content id="1"><url a="1" a="2">x</url></content>`, line: 3, msgs: []string{"attribute a of <url> is given twice"}},
		{name: "no id", data: head + good + `<content hash="1"></content>`, line: 4, entries: 1, msgs: []string{"<content> without an id"}},
		{name: "empty id", data: head + `<content id=" "></content>`, line: 3, msgs: []string{"<content> without an id"}},
		{name: "two decisions", data: head + `<content id="1"><decision number="1"/><decision number="2"/></content>`, line: 3, msgs: []string{"a second <decision>"}},
		{name: "unknown entity", data: head + `<content id="1"><url>a&nbsp;b</url></content>`, line: 3, msgs: []string{"unknown entity &nbsp;"}},
		{name: "bare ampersand", data: head + `<content id="1"><url>https://a.example/?a=1&b=2</url></content>`, line: 3, msgs: []string{"'&' that starts no entity"}},
		{name: "bare ampersand in an attribute", data: head + `<content id="1" hash="a&b"></content>`, line: 3, msgs: []string{"attribute hash: '&' that starts no entity"}},
		{name: "reference to a control character", data: head + `<content id="1"><ip>&#1;</ip></content>`, line: 3, msgs: []string{"&#1; is not a character XML allows"}},
		{name: "'<' in an attribute", data: head + `<content id="<"></content>`, line: 3, msgs: []string{"'<' in the value of attribute id"}},
		{name: "]]> in text", data: head + `<content id="1"><url>a]]>b</url></content>`, line: 3, msgs: []string{`"]]>" outside CDATA`}},
		{name: "-- in a comment", data: head + `<!-- a -- b -->`, line: 3, msgs: []string{`"--" inside a comment`}},
		{name: "DOCTYPE", data: `<?xml version="1.0"?><!DOCTYPE reg:register [<!ENTITY x "y">]><reg:register/>`, line: 1, msgs: []string{"a DOCTYPE"}},
		{name: "declaration not at the start", data: "\n" + `<?xml version="1.0"?><reg:register/>`, line: 2, msgs: []string{"an XML declaration that is not at the start"}},
		{name: "unsupported encoding", data: `<?xml version="1.0" encoding="koi8-r"?><reg:register/>`, line: 1, msgs: []string{`encoding "koi8-r" is not supported`}},
		{name: "unsupported version", data: `<?xml version="1.1"?><reg:register/>`, line: 1, msgs: []string{`XML version "1.1"`}},
		{name: "byte order mark and windows-1251", raw: []byte(bom + `<?xml version="1.0" encoding="windows-1251"?><reg:register/>`), line: 1, msgs: []string{"byte order mark"}},
		{name: "another root", data: head[:45] + "\n<html><body/></html>", line: 2, msgs: []string{"the root element is <html>, not <reg:register>"}},
		{name: "byte 0x98 in windows-1251", raw: append([]byte(head+`<content id="1"><url><![CDATA[https://a.example/`), "\x98]]></url></content></reg:register>"...), line: 3, msgs: []string{"byte 109:", "bad encoding: byte 0x98 is not a character in windows-1251"}},
		{name: "byte 0x98 in an attribute", raw: append([]byte(head+`<content id="1"><decision org="`), "\x98\"/></content></reg:register>"...), line: 3, msgs: []string{"attribute org:", "bad encoding"}},
		{name: "control character", raw: []byte(head + "<content id=\"1\"><ip>1.2.3.4\x00</ip></content></reg:register>"), line: 3, msgs: []string{"control character 0x00"}},
		{name: "control character in a comment", raw: []byte(head + "<!-- \x01 --></reg:register>"), line: 3, msgs: []string{"control character 0x01"}},
		{name: "windows-1251 declared UTF-8", raw: append([]byte(`<?xml version="1.0" encoding="utf-8"?><reg:register><content id="1"><decision org="`), cp1251Bytes(t, `Роскомнадзор"/></content></reg:register>`)...), line: 1, msgs: []string{"bad encoding: byte 0xd0 is not a character in UTF-8"}},
		{name: "malformed end tag", data: head + `<content id="1"></content x>`, line: 3, msgs: []string{"malformed end tag"}},
		{name: "slash without '>'", data: head + `<content id="1"/ >`, line: 3, msgs: []string{"expected '>' after '/'"}},
		{name: "processing instruction without a target", data: head + `<? x?>`, line: 3, msgs: []string{"without a target"}},
		{name: "entries in an unknown element", data: head + good + "<contents>\n" + good + "</contents></reg:register>", line: 5, entries: 1, msgs: []string{"<content> inside <contents> (line 4, byte 178)", "a format this reader does not know"}},
		{name: "entries in an unknown element in an entry", data: head + "<content id=\"1\"><more><content id=\"2\"/></more></content></reg:register>", line: 3, msgs: []string{"<content> inside <more>"}},
		{name: "only unknown elements", data: head + "<entry id=\"1\"/>\n<entry id=\"2\"/>\n</reg:register>", line: 3, msgs: []string{"byte 61:", "no <content> in <reg:register>, but <entry>"}},
		{name: "non-ASCII element name", data: head + `<content id="1"><адрес>x</адрес></content>`, line: 3, msgs: []string{"malformed markup in <content>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.raw
			if data == nil {
				data = cp1251Bytes(t, tc.data)
			}
			_, entries, err := readEntries(t, FormatRKNXML, data, nil)
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

// TestRKNXMLHeaderError checks that damage before the first entry is also what Header
// returns, and what Next then keeps returning.
func TestRKNXMLHeaderError(t *testing.T) {
	r, err := NewEntryReader("test", strings.NewReader("in><![CDATA[x]]></domain>"), FormatRKNXML)
	if err != nil {
		t.Fatal(err)
	}
	_, herr := r.Header()
	checkError(t, herr, 1, "truncated")
	if e, err := r.Next(); e != nil || err != herr {
		t.Errorf("Next after a bad header: %v, %v; want nil, %v", e, err, herr)
	}
}
