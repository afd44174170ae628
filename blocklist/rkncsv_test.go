package blocklist

import (
	"testing"
)

// csvDoc is a dump.csv (in UTF-8 here; tests encode it) with every structure the mirror
// publishes; most rows are real ones from the excerpt, with their quirks.
const csvDoc = `Updated: 2016-06-13 12:04:00 +0000
104.16.173.117;;;суд;2-1687/2013;2013-05-23
148.251.140.112 | 148.251.140.113;;;ФНС;2-6-27/ 2016-02-03-20-АИ;2016-02-04
176.9.99.20;007nomer.ru;http://007nomer.ru/good1.html;суд;2-1284/2015;2015-10-07
151.80.0.236 | 164.132.101.19;argo-casino.com;"http://argo-casino.com/?a_aid=556d9bce9dfa8&amp;a_bid=11110002";ФНС;2-6-27/2016-01-23-8-АИ;2016-02-04
146.0.10.36;forum.travian.ru;http://forum.travian.ru/showthread.php?t=180379&s;Роспотребнадзор;9274;2016-04-23
160.153.62.102;forumkavkaz.com;"http://forumkavkaz.com/index.php?topic=4931.25;wap2";суд;2-522/2014;2014-12-03
104.130.53.192;mirror130.graniru.info;"http://mirror130.graniru.info/&#8203;";Генпрокуратура;Исорг-27/3-3420-14/;2014-03-13
74.125.196.132;www.youtube.com;"http://www.youtube.com/watch?v=LuijE41JN0Q""";Генпрокуратура;27-31-2015/Ид831-15 ;2015-03-12
151.80.119.230;midora.ru;http://midora.ru/disk/?utm_campaign=RF_|_Magnity&utm_term=1;суд;2-1573/15;2015-04-23
149.202.99.105;iserver1.tv;newcamd525://iserver1.tv:4001 | newcamd525://iserver1.tv:4002|newcamd525://iserver1.tv:5000;Мосгорсуд;определение № 2и-0384/2015;2015-10-19
185.48.56.41;linecinema.org ;;Мосгорсуд;решение суда по делу № 3-0323/2016;2016-03-01
1.2.3.4|1.2.3.0/24 | 2001:db8::/32;a.example|*.b.example;;ФНС;1;2024-01-01

;;"https://twitter.example/x?a=1;b=""2""
continued";;;
;;;;;
`

var csvDocEntries = []*Entry{
	{BlockType: BlockIP, Decision: Decision{Date: "2013-05-23", Number: "2-1687/2013", Org: "суд"}, IPs: []string{"104.16.173.117"}, Line: 2},
	{BlockType: BlockIP, Decision: Decision{Date: "2016-02-04", Number: "2-6-27/ 2016-02-03-20-АИ", Org: "ФНС"}, IPs: []string{"148.251.140.112", "148.251.140.113"}, Line: 3},
	{
		Decision: Decision{Date: "2015-10-07", Number: "2-1284/2015", Org: "суд"},
		URLs:     []string{"http://007nomer.ru/good1.html"}, Domains: []string{"007nomer.ru"}, IPs: []string{"176.9.99.20"}, Line: 4,
	},
	{
		Decision: Decision{Date: "2016-02-04", Number: "2-6-27/2016-01-23-8-АИ", Org: "ФНС"},
		URLs:     []string{"http://argo-casino.com/?a_aid=556d9bce9dfa8&a_bid=11110002"}, Domains: []string{"argo-casino.com"},
		IPs: []string{"151.80.0.236", "164.132.101.19"}, Line: 5,
	},
	{
		// "&s" then the separator: no entity, six fields.
		Decision: Decision{Date: "2016-04-23", Number: "9274", Org: "Роспотребнадзор"},
		URLs:     []string{"http://forum.travian.ru/showthread.php?t=180379&s"}, Domains: []string{"forum.travian.ru"}, IPs: []string{"146.0.10.36"}, Line: 6,
	},
	{
		Decision: Decision{Date: "2014-12-03", Number: "2-522/2014", Org: "суд"},
		URLs:     []string{"http://forumkavkaz.com/index.php?topic=4931.25;wap2"}, Domains: []string{"forumkavkaz.com"}, IPs: []string{"160.153.62.102"}, Line: 7,
	},
	{
		Decision: Decision{Date: "2014-03-13", Number: "Исорг-27/3-3420-14/", Org: "Генпрокуратура"},
		URLs:     []string{"http://mirror130.graniru.info/\u200b"}, Domains: []string{"mirror130.graniru.info"}, IPs: []string{"104.130.53.192"}, Line: 8,
	},
	{
		Decision: Decision{Date: "2015-03-12", Number: "27-31-2015/Ид831-15", Org: "Генпрокуратура"},
		URLs:     []string{`http://www.youtube.com/watch?v=LuijE41JN0Q"`}, Domains: []string{"www.youtube.com"}, IPs: []string{"74.125.196.132"}, Line: 9,
	},
	{
		// A '|' in a query, not between URLs.
		Decision: Decision{Date: "2015-04-23", Number: "2-1573/15", Org: "суд"},
		URLs:     []string{"http://midora.ru/disk/?utm_campaign=RF_|_Magnity&utm_term=1"}, Domains: []string{"midora.ru"}, IPs: []string{"151.80.119.230"}, Line: 10,
	},
	{
		Decision: Decision{Date: "2015-10-19", Number: "определение № 2и-0384/2015", Org: "Мосгорсуд"},
		URLs:     []string{"newcamd525://iserver1.tv:4001", "newcamd525://iserver1.tv:4002", "newcamd525://iserver1.tv:5000"},
		Domains:  []string{"iserver1.tv"}, IPs: []string{"149.202.99.105"}, Line: 11,
	},
	{
		BlockType: BlockDomain, Decision: Decision{Date: "2016-03-01", Number: "решение суда по делу № 3-0323/2016", Org: "Мосгорсуд"},
		Domains: []string{"linecinema.org"}, IPs: []string{"185.48.56.41"}, Line: 12,
	},
	{
		BlockType: BlockDomainMask, Decision: Decision{Date: "2024-01-01", Number: "1", Org: "ФНС"},
		Domains: []string{"a.example", "*.b.example"}, IPs: []string{"1.2.3.4"}, Subnets: []string{"1.2.3.0/24", "2001:db8::/32"}, Line: 13,
	},
	{URLs: []string{"https://twitter.example/x?a=1;b=\"2\"\ncontinued"}, Line: 15},
	{Line: 17},
}

func TestReadRKNCSV(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"windows-1251", cp1251Bytes(t, csvDoc)},
		{"CRLF", cp1251Bytes(t, crlf(csvDoc))},
		{"UTF-8 with a byte order mark", []byte(bom + csvDoc)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, got, err := readEntries(t, FormatRKNCSV, tc.data, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := (Header{Format: FormatRKNCSV, UpdateTime: "2016-06-13 12:04:00 +0000"}); h != want {
				t.Errorf("header %+v, want %+v", h, want)
			}
			// With CRLF, the line end inside the quoted field is read as LF too.
			sameEntries(t, got, csvDocEntries)
		})
	}
}

// crlf makes line ends CRLF.
func crlf(s string) string {
	var b []byte
	for i := range len(s) {
		if s[i] == '\n' {
			b = append(b, '\r')
		}
		b = append(b, s[i])
	}
	return string(b)
}

func TestReadRKNCSVEdges(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
		want []*Entry
	}{
		{"header only", "Updated: x\n", nil},
		{"header without line end", "Updated: x", nil},
		{"no line end at the end", "Updated: x\n1.2.3.4;;;суд;1;2024-01-01", []*Entry{
			{BlockType: BlockIP, Decision: Decision{Date: "2024-01-01", Number: "1", Org: "суд"}, IPs: []string{"1.2.3.4"}, Line: 2},
		}},
		{"quoted last field at the end", "Updated: x\n;;;;;\"2024\"", []*Entry{{Decision: Decision{Date: "2024"}, Line: 2}}},
		{"every field quoted", "Updated: x\n\"1.2.3.4\";\"a.example\";\"http://a.example/\";\"суд\";\"1\";\"2024\"\n", []*Entry{
			{Decision: Decision{Date: "2024", Number: "1", Org: "суд"}, URLs: []string{"http://a.example/"}, Domains: []string{"a.example"}, IPs: []string{"1.2.3.4"}, Line: 2},
		}},
		{"quote inside an unquoted field", "Updated: x\n;;http://a.example/?q=\"x\";;;\n", []*Entry{{URLs: []string{`http://a.example/?q="x"`}, Line: 2}}},
		{"blank values between separators", "Updated: x\n | 1.2.3.4 |  | ; | ;;;;\n", []*Entry{{BlockType: BlockIP, IPs: []string{"1.2.3.4"}, Line: 2}}},
		{"URLs joined without spaces", "Updated: x\n;;http://a.example/1|https://a.example/2|x|y;;;\n", []*Entry{{URLs: []string{"http://a.example/1", "https://a.example/2|x|y"}, Line: 2}}},
		{"pipe before something that is not a URL", "Updated: x\n;;http://a.example/1 | a.example/2;;;\n", []*Entry{{URLs: []string{"http://a.example/1 | a.example/2"}, Line: 2}}},
		{"HTML only in URLs", "Updated: x\n;\"a&amp;b\";\"http://a&amp;b/\";\"&amp;\";\"&amp;\";\n", []*Entry{{Decision: Decision{Number: "&amp;", Org: "&amp;"}, URLs: []string{"http://a&b/"}, Domains: []string{"a&amp;b"}, Line: 2}}},
		{"an escaped pipe does not separate", "Updated: x\n;;\"http://a.example/&#124;http://b.example/\";;;\n", []*Entry{{URLs: []string{"http://a.example/|http://b.example/"}, Line: 2}}},
		{"blank lines", "Updated: x\n\n\r\n\n;;;;;1\n\n", []*Entry{{Decision: Decision{Date: "1"}, Line: 5}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, got, err := readEntries(t, FormatRKNCSV, cp1251Bytes(t, tc.data), nil)
			if err != nil {
				t.Fatal(err)
			}
			sameEntries(t, got, tc.want)
		})
	}
}

func TestRKNCSVDamage(t *testing.T) {
	const head = "Updated: 2016-06-13 12:04:00 +0000\n"
	const good = "1.2.3.4;a.example;http://a.example/;суд;1;2024-01-01\n"
	for _, tc := range []struct {
		name    string
		data    string
		raw     []byte
		line    int
		field   string
		msgs    []string
		entries int
	}{
		{name: "empty file", data: "", line: 1, msgs: []string{`does not start with "Updated:"`}},
		{name: "no Updated line", data: "ip;domain;url;org;number;date\n" + good, line: 1, msgs: []string{`does not start with "Updated:"`}},
		{name: "our own CSV", data: "id,countries,target\nx,RU,post:1\n", line: 1, msgs: []string{`does not start with "Updated:"`}},
		{name: "five fields", data: head + good + "1.2.3.4;a.example;http://a.example/;суд;1\n", line: 3, entries: 1, msgs: []string{"5 fields, not the 6 of dump.csv"}},
		{name: "seven fields", data: head + good + good + "1.2.3.4;a.example;http://a.example/?a;b;суд;1;2024-01-01\n", line: 4, entries: 2, msgs: []string{"7 fields"}},
		{name: "one field", data: head + "1.2.3.4\n", line: 2, msgs: []string{"1 fields"}},
		{name: "truncated in a row", data: head + good + "1.2.3.4;a.exa", line: 3, entries: 1, msgs: []string{"2 fields"}},
		{name: "truncated in a quoted field", data: head + good + "1.2.3.4;a.example;\"http://a.example/?a;b", line: 3, entries: 1, field: "url", msgs: []string{"unexpected end of file inside a quoted field", "truncated"}},
		{name: "unclosed quote swallows the rest", data: head + good + ";;\"http://a.example/\n" + good + good, line: 3, entries: 1, field: "url", msgs: []string{"truncated"}},
		{name: "text after a closing quote", data: head + ";;\"http://a.example/\"x;;;\n", line: 2, field: "url", msgs: []string{"text after the closing quote"}},
		{name: "byte 0x98", raw: append([]byte(head+good+";;;"), "\x98;1;2\n"...), line: 3, entries: 1, field: "org", msgs: []string{"bad encoding: byte 0x98 is not a character in windows-1251"}},
		{name: "bad byte in the header", raw: []byte("Updated: \x98\n"), line: 1, msgs: []string{"bad encoding"}},
		{name: "control character", raw: []byte(head + ";;http://a.example/\x00;;;\n"), line: 2, field: "url", msgs: []string{"control character 0x00"}},
		{name: "bad UTF-8 after a byte order mark", raw: []byte(bom + head + ";;;\xd0;;\n"), line: 2, field: "org", msgs: []string{"not a character in UTF-8"}},
		{name: "lone CR at the end", data: head + good + "\r", line: 3, entries: 1, msgs: []string{"1 fields"}},
		{name: "CR after a closing quote", data: head + ";;\"http://a.example/\"\rx;;;\n", line: 2, field: "url", msgs: []string{"text after the closing quote"}},
		{name: "error in a later line of a row", raw: []byte(head + ";;\"a\nb\x01\";;;\n"), line: 3, field: "url", msgs: []string{"control character"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.raw
			if data == nil {
				data = cp1251Bytes(t, tc.data)
			}
			_, entries, err := readEntries(t, FormatRKNCSV, data, nil)
			if err == nil {
				t.Fatalf("no error; %d entries", len(entries))
			}
			checkError(t, err, tc.line, tc.msgs...)
			if e := err.(*Error); e.Field != tc.field {
				t.Errorf("field %q, want %q", e.Field, tc.field)
			}
			if len(entries) != tc.entries {
				t.Errorf("%d entries before the error, want %d", len(entries), tc.entries)
			}
		})
	}
}
