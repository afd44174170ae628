package blocklist_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/georestrict/caddy-georestrict/blocklist"
)

func Example() {
	register := `id,countries,target,action,authority,reason
rkn-1,RU,https://twitter.example/someuser/status/123,,Roskomnadzor,Withheld in your country
rkn-2,RU|BY,@OtherUser,throttle 64KiB/s,Roskomnadzor,
`
	r, err := blocklist.Load(context.Background(), []blocklist.Source{{Name: "orders.csv", Reader: strings.NewReader(register)}},
		blocklist.Options{Hosts: []string{"twitter.example"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Now()
	for _, req := range []struct{ country, path string }{
		{"RU", "/SomeUser/status/00123/photo/1"},
		{"RU", "/someuser/%2573tatus/123"},
		{"BY", "/@otheruser"},
		{"DE", "/someuser/status/123"},
		{"DE", "/someuser/status/124"},
		{"RU", "/someuser/status/123%00"},
	} {
		switch o, verdict := r.Match(req.country, req.path, "", now); verdict {
		case blocklist.Applies:
			fmt.Println(req.country, req.path, "->", o.ID, o.Action, o.Target)
		default:
			fmt.Println(req.country, req.path, "->", verdict)
		}
	}
	fmt.Println(blocklist.CanonicalPath("/x/../SomeUser//status/123;jsessionid=1/"))
	// Output:
	// RU /SomeUser/status/00123/photo/1 -> rkn-1 block post:123
	// RU /someuser/%2573tatus/123 -> rkn-1 block post:123
	// BY /@otheruser -> rkn-2 throttle account:otheruser
	// DE /someuser/status/123 -> listed elsewhere
	// DE /someuser/status/124 -> unlisted
	// RU /someuser/status/123%00 -> ambiguous
	// /someuser/status/123
}
