package geo

import (
	"encoding/binary"
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
		code := db.recordCountry(uint(res.Offset()))
		if code != "" {
			c.WithCountry++
		}
		if err := db.checkIPv4(res.Prefix(), code); err != nil {
			return c, fmt.Errorf("checking %s: %w", db.info.Name, err)
		}
	}
	if c.Networks == 0 {
		return c, fmt.Errorf("checking %s: it has no networks", db.info.Name)
	}
	return c, nil
}

// checkIPv4 confirms that the IPv4 table answers code, what the search tree answers, at
// both ends of the network p. The table is compiled anew from every file opened, files no
// test has seen, and Check is what vets a new file before it is trusted: a table that
// disagrees with its tree refuses the file rather than answering differently.
func (db *Database) checkIPv4(p netip.Prefix, code string) error {
	if db.v4 == nil || !p.Addr().Is4() {
		return nil
	}
	first := p.Masked().Addr().As4()
	v := binary.BigEndian.Uint32(first[:]) | uint32(uint64(1)<<(32-p.Bits())-1)
	var last [4]byte
	binary.BigEndian.PutUint32(last[:], v)
	for _, a := range [][4]byte{first, last} {
		if got := db.v4.country(a); got != code {
			return fmt.Errorf("the IPv4 table answers %q for %s, the search tree %q", got, netip.AddrFrom4(a), code)
		}
	}
	return nil
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
