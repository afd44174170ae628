package blocklist

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"
)

// toCP1251 encodes UTF-8 text as the Russian regulator publishes it.
func toCP1251(t testing.TB, s string) string {
	t.Helper()
	b, err := charmap.Windows1251.NewEncoder().String(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dumpXML is a small dump.xml with entries for the site, for look-alike hosts and for
// others: what a regulator's register looks like to one platform.
const dumpXML = `<?xml version="1.0" encoding="windows-1251"?>
<reg:register updateTime="2024-06-11T09:00:00+03:00" formatVersion="2.4" xmlns:reg="http://rsoc.ru" xmlns:tns="http://rsoc.ru">
<content id="100" includeTime="2024-06-01T12:00:00" entryType="1" hash="A">
<decision date="2024-05-30" number="27-31-2024/Ид2024" org="Генпрокуратура"/>
<url><![CDATA[https://twitter.example/someuser/status/123]]></url>
<url><![CDATA[https://mobile.twitter.example/someuser/status/123]]></url>
<url><![CDATA[https://twitter.example/someuser/status/0123?s=20]]></url>
<domain><![CDATA[twitter.example]]></domain>
</content>
<content id="101" includeTime="2024-06-02T12:00:00" entryType="1" hash="B">
<decision date="2024-05-31" number="2-1687/2024" org="суд"/>
<url>https://twitter.example/censoreduser</url>
</content>
<content id="102" includeTime="2024-06-02T12:00:00" entryType="1" hash="C">
<decision date="2024-05-31" number="3" org="Роскомнадзор"/>
<url><![CDATA[https://thecannabist.co/t.co/a]]></url>
<url><![CDATA[https://twitter.example.evil.ru/someuser/status/999]]></url>
<url><![CDATA[http://eviltwitter.example/x]]></url>
</content>
<content id="103" includeTime="2024-06-02T12:00:00" entryType="1" hash="D">
<decision date="2024-05-31" number="4" org="Роскомнадзор"/>
<url><![CDATA[https://twitter.example/search?q=%D0%BF%D1%80%D0%BE%D1%82%D0%B5%D1%81%D1%82]]></url>
<url><![CDATA[https://twitter.example/explore]]></url>
</content>
<content id="104" includeTime="2024-06-02T12:00:00" entryType="1" hash="E" blockType="domain">
<decision date="2024-05-31" number="5" org="Роскомнадзор"/>
<domain><![CDATA[twitter.example]]></domain>
</content>
<content id="105" includeTime="2024-06-02T12:00:00" entryType="1" hash="F" blockType="domain-mask">
<decision date="2024-05-31" number="6" org="Роскомнадзор"/>
<domain><![CDATA[*.example.org]]></domain>
</content>
<content id="106" includeTime="2024-06-02T12:00:00" entryType="1" hash="G" blockType="ip">
<decision date="2024-05-31" number="7" org="Роскомнадзор"/>
<ip>192.0.2.1</ip>
</content>
</reg:register>
`

func loadDump(t *testing.T, text string, src Source) (*Register, error) {
	t.Helper()
	src.Name = "dump.xml"
	src.Reader = strings.NewReader(toCP1251(t, text))
	return Load(context.Background(), []Source{src}, Options{Hosts: []string{"twitter.example", "mobile.twitter.example"}})
}

func TestLoadRegulatorXML(t *testing.T) {
	r, err := loadDump(t, dumpXML, Source{Notice: "https://transparency.microblog.example/rkn/{id}?n={number}"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		country, path, query string
		want                 string
	}{
		{"RU", "/someuser/status/123", "", "rkn-100"},
		{"RU", "/x/status/123", "", "rkn-100"},
		{"RU", "/censoreduser", "", "rkn-101"},
		{"RU", "/censoreduser/likes", "", "rkn-101"},
		{"RU", "/explore", "", "rkn-103"},      // a reserved route: that path only
		{"RU", "/explore/tabs", "", ""},        // not an account
		{"RU", "/search", "q=протест", ""},     // a search cannot be an order
		{"RU", "/someuser/status/999", "", ""}, // a look-alike host's
		{"RU", "/a", "", ""},                   // a host that contains t.co
		{"RU", "/", "", ""},                    // a whole-site entry is not enforced by default
		{"DE", "/someuser/status/123", "", ""},
	}
	for _, tc := range tests {
		o, v := r.Match(tc.country, tc.path, tc.query, now)
		if got := map[bool]string{true: o.ID}[v == Applies]; got != tc.want {
			t.Errorf("%s %s?%s: %q (%v), want %q", tc.country, tc.path, tc.query, got, v, tc.want)
		}
	}
	o, _ := r.Match("RU", "/someuser/status/123", "", now)
	want := Order{ID: "rkn-100", Countries: []string{"RU"}, Target: Target{TargetPost, "123"}, Action: ActionBlock,
		Authority: "Генпрокуратура", Reference: "27-31-2024/Ид2024, 2024-05-30",
		Notice: "https://transparency.microblog.example/rkn/100?n=27-31-2024%2F%D0%98%D0%B42024",
		Start:  time.Date(2024, 6, 1, 12, 0, 0, 0, moscow), Source: "dump.xml:3"}
	if d := diffOrder(o, want); d != "" {
		t.Error(d)
	}
	// Before an entry's includeTime it does not apply.
	if _, v := r.Match("RU", "/someuser/status/123", "", time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)); v == Applies {
		t.Error("an order applied before its includeTime")
	}

	st := r.Stats()
	if r.Len() != 3 {
		t.Errorf("%d orders, want 3 (one post, one account, one path)", r.Len())
	}
	wantUnenforced := map[string]int{UnenforcedOtherHost: 4, UnenforcedWholeSite: 1, UnenforcedNetwork: 1, UnenforcedInvalid: 1}
	for k, n := range wantUnenforced {
		if st.Unenforced[k] != n {
			t.Errorf("unenforced %q: %d, want %d (all: %v)", k, st.Unenforced[k], n, st.Unenforced)
		}
	}
	var reasons []string
	for _, s := range st.Skipped {
		reasons = append(reasons, s.ID+" "+s.Reason)
	}
	if len(st.Skipped) != 2 || !strings.Contains(reasons[0], "rkn-103 target:") || !strings.Contains(reasons[1], "rkn-104 blocks the whole site") {
		t.Errorf("skipped %q", reasons)
	}
	if len(st.Headers) != 1 || st.Headers[0].UpdateTime != "2024-06-11T09:00:00+03:00" {
		t.Errorf("headers %+v", st.Headers)
	}

	// whole_site turns the domain entry into an order on every path.
	r, err = loadDump(t, dumpXML, Source{WholeSite: true})
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := r.Match("RU", "/anything", "", now); o.ID != "rkn-104" || o.Target.String() != "path:/*" {
		t.Errorf("whole site: %q %s", o.ID, o.Target)
	}
	// Other countries, and an authority for decisions that name none.
	r, err = loadDump(t, strings.ReplaceAll(dumpXML, ` org="суд"`, ""), Source{Countries: []string{"BY"}, Authority: "Суд"})
	if err != nil {
		t.Fatal(err)
	}
	if o, v := r.Match("BY", "/censoreduser", "", now); v != Applies || o.Authority != "Суд" {
		t.Errorf("BY: %v %+v", v, o)
	}
	if _, v := r.Match("RU", "/censoreduser", "", now); v == Applies {
		t.Error("countries of the source were not used")
	}
}

// A dump cut short, or damaged, is refused whole, with a position.
func TestLoadRegulatorDamage(t *testing.T) {
	cut := dumpXML[:strings.Index(dumpXML, `<content id="103"`)+30]
	_, err := loadDump(t, cut, Source{})
	var e *Error
	if !errors.As(err, &e) || e.Source != "dump.xml" || e.Line == 0 || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("a truncated dump: %v", err)
	}
	_, err = loadDump(t, strings.Replace(dumpXML, "</content>", "</contnet>", 1), Source{})
	if !errors.As(err, &e) || e.Line != 9 {
		t.Errorf("broken XML: %v, want an error at line 9", err)
	}
}

// The three regulator formats load, auto-detected where they can be.
func TestLoadRegulatorFormats(t *testing.T) {
	now := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	csv := "Updated: 2016-06-13 12:04:00 +0000\n" +
		"1.2.3.4;;;суд;2-1687/2013;2013-05-23\n" +
		"1.2.3.5;twitter.example;\"https://twitter.example/someuser/status/123?a=1&amp;b=2 | https://twitter.example/censoreduser\";Роскомнадзор;27-31;2016-06-01\n"
	urls := "# from the letter of 2024-06-01\n\nhttps://twitter.example/someuser/status/123\nhttps://elsewhere.example/x\n"
	tests := []struct {
		name string
		src  Source
		text string
		want []string
	}{
		{"rkn-csv detected", Source{Name: "dump.csv"}, toCP1251(t, csv), []string{"/someuser/status/123", "/censoreduser"}},
		{"urls named", Source{Name: "letter.txt", Format: FormatURLs, Countries: []string{"RU"}}, urls, []string{"/someuser/status/123"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.src.Reader = strings.NewReader(tc.text)
			r, err := Load(context.Background(), []Source{tc.src}, Options{Hosts: []string{"twitter.example"}})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tc.want {
				if _, v := r.Match("RU", p, "", now); v != Applies {
					t.Errorf("%s is not withheld", p)
				}
			}
			if r.Len() != len(tc.want) {
				t.Errorf("%d orders, want %d", r.Len(), len(tc.want))
			}
			// Ids are derived from the entry, the same when the file is published again.
			var ids []string
			r.orders(func(o Order) bool { ids = append(ids, o.ID); return true })
			r2, _ := Load(context.Background(), []Source{{Name: tc.src.Name, Format: tc.src.Format, Countries: tc.src.Countries,
				Reader: strings.NewReader(strings.Replace(tc.text, "\n", "\n\n", 1))}}, Options{Hosts: []string{"twitter.example"}})
			var again []string
			r2.orders(func(o Order) bool { again = append(again, o.ID); return true })
			if !slices.Equal(ids, again) || len(ids) == 0 {
				t.Errorf("ids %q, then %q", ids, again)
			}
		})
	}
	// A URL list must say where it applies, and must hold orders.
	if _, err := Load(context.Background(), []Source{{Name: "l.txt", Format: FormatURLs, Reader: strings.NewReader(urls)}}, Options{}); err == nil || !strings.Contains(err.Error(), "countries") {
		t.Errorf("a URL list without countries: %v", err)
	}
	if _, err := Load(context.Background(), []Source{{Name: "l.txt", Format: FormatURLs, Countries: []string{"RU"}, Reader: strings.NewReader("# nothing\n")}}, Options{}); err == nil || !strings.Contains(err.Error(), "no orders") {
		t.Errorf("an empty URL list: %v", err)
	}
}

// The real excerpt of the regulator's register, with entries for the site added, yields
// exactly those entries' orders. The excerpts are not in the repository (see
// ../shared/registers/rkn), so this runs where they are, and skips in CI.
func TestLoadRealDump(t *testing.T) {
	real, err := os.ReadFile("../../shared/registers/rkn/rkn_dump_2015-08-01.xml")
	if err != nil {
		t.Skipf("the real excerpt is not here: %v", err)
	}
	ours := toCP1251(t, `<content id="9000001" includeTime="2015-07-31T10:00:00" entryType="1" hash="X"><decision date="2015-07-30" number="1" org="Роскомнадзор"/><url><![CDATA[https://twitter.example/someuser/status/715]]></url></content>`)
	end := bytes.LastIndex(real, []byte("</reg:register>"))
	dump := string(real[:end]) + ours + string(real[end:])
	r, err := Load(context.Background(), []Source{{Name: "dump.xml", Reader: strings.NewReader(dump)}}, Options{Hosts: []string{"twitter.example", "t.co"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 1 {
		t.Fatalf("%d orders from the real dump, want the 1 added for the site", r.Len())
	}
	if o, v := r.Match("RU", "/x/status/715", "", time.Now()); v != Applies || o.ID != "rkn-9000001" {
		t.Errorf("%v %q", v, o.ID)
	}
	if n := r.Stats().Unenforced[UnenforcedOtherHost]; n < 1000 {
		t.Errorf("only %d entries of other hosts counted", n)
	}
}
