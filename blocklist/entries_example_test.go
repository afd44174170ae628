package blocklist_test

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/georestrict/caddy-georestrict/blocklist"
)

func ExampleEntryReader() {
	// In practice an *os.File of hundreds of megabytes, in windows-1251.
	dump := `<?xml version="1.0" encoding="UTF-8"?>
<reg:register updateTime="2024-06-11T17:20:00+03:00" formatVersion="2.4" xmlns:reg="http://rsoc.ru">
<content id="7096209" includeTime="2024-06-05T00:55:02" entryType="1" hash="1C4C">
 <decision date="2024-05-28" number="2-6-14/2024-05-26-9668-АИ" org="ФНС"/>
 <url><![CDATA[https://twitter.example/someuser/status/123?s=20&amp;t=x]]></url>
 <domain><![CDATA[twitter.example]]></domain>
 <ip>188.114.96.1</ip>
</content>
<content id="7096212" includeTime="2024-06-05T00:55:02" entryType="1" hash="14D3" blockType="domain-mask">
 <decision date="2024-05-28" number="2-6-14/2024-05-26-9716-АИ" org="ФНС"/>
 <domain><![CDATA[*.example.kz]]></domain>
</content>
</reg:register>
`
	br := bufio.NewReader(strings.NewReader(dump))
	head, _ := br.Peek(512)
	r, err := blocklist.NewEntryReader("dump.xml", br, blocklist.DetectFormat(head))
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := r.Header()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("register of", h.UpdateTime, "format", h.FormatVersion)
	var kept []*blocklist.Entry
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err) // nothing read from this register may be applied
			return
		}
		fmt.Printf("line %d: %s %q %q %s\n", e.Line, e.ID, e.BlockType, e.Domains, e.Decision.Org)
		if len(e.URLs) > 0 {
			kept = append(kept, e.Clone()) // e is reused by the next call
		}
	}
	fmt.Println(kept[0].URLs)
	// Output:
	// register of 2024-06-11T17:20:00+03:00 format 2.4
	// line 3: 7096209 "" ["twitter.example"] ФНС
	// line 9: 7096212 "domain-mask" ["*.example.kz"] ФНС
	// [https://twitter.example/someuser/status/123?s=20&t=x]
}
