package geo

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
)

// A Coverage says what a database answers: how many networks it has, and how many of them
// have a country.
type Coverage struct {
	Networks    int
	WithCountry int
}

// Check walks the whole search tree and reads the record of every network. Open reads only
// the metadata and a few records, so a file damaged in its tree or data section (a partial
// download, a disk error) opens, and then answers "unknown", or worse, for the addresses
// behind the damage; Check finds broken pointers and records that are not maps. (The
// maxminddb library's own Verify also refuses sound databases whose metadata has no
// description, the embedded one among them.) It reads every record once: a few hundred
// milliseconds for a large country database.
func (db *Database) Check() (Coverage, error) {
	var c Coverage
	for res := range db.reader.Networks() {
		if err := res.Err(); err != nil {
			return c, fmt.Errorf("checking %s: network %d: %w", db.info.Name, c.Networks+1, err)
		}
		c.Networks++
		rec := db.data.CursorAt(uint(res.Offset()))
		if _, err := rec.Map(); err != nil {
			return c, fmt.Errorf("checking %s: the record of %s is damaged: %w", db.info.Name, res.Prefix(), err)
		}
		if db.recordCountry(uint(res.Offset())) != "" {
			c.WithCountry++
		}
	}
	if c.Networks == 0 {
		return c, fmt.Errorf("checking %s: it has no networks", db.info.Name)
	}
	return c, nil
}

// Sample returns n public addresses spread over the address space, the same on every call:
// for comparing what two databases answer (see UnknownShare). Three quarters are IPv4.
func Sample(n int) []netip.Addr {
	rnd := rand.New(rand.NewPCG(0x6765, 0x6f))
	out := make([]netip.Addr, 0, n)
	for len(out) < n {
		var a netip.Addr
		if len(out)%4 != 3 {
			var b [4]byte
			v := rnd.Uint32()
			b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
			a = netip.AddrFrom4(b)
		} else {
			var b [16]byte
			b[0] = 0x20 | byte(rnd.IntN(4)) // 2000::/3 holds what is assigned
			for i := 1; i < 16; i++ {
				b[i] = byte(rnd.Uint32())
			}
			a = netip.AddrFrom16(b)
		}
		if isPublic(a) {
			out = append(out, a)
		}
	}
	return out
}

// UnknownShare is the share of addresses that the database has no country for.
func (db *Database) UnknownShare(addrs []netip.Addr) float64 {
	if len(addrs) == 0 {
		return 0
	}
	unknown := 0
	for _, a := range addrs {
		if db.Country(a) == "" {
			unknown++
		}
	}
	return float64(unknown) / float64(len(addrs))
}
