package geo

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/oschwald/maxminddb-golang/v2"
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
//
// Check also compares the IPv4 table that Country answers from with the whole IPv4 part of
// the tree, and refuses a tree that reaches some node more than once: the table is
// compiled anew from every file, files no test has seen, and a tree whose records point
// back into it can describe billions of networks, which no walk of it would finish.
func (db *Database) Check() (Coverage, error) {
	var c Coverage
	if nodeReader(db.reader.Metadata.RecordSize) == nil {
		return c, fmt.Errorf("checking %s: unsupported record size %d", db.info.Name, db.reader.Metadata.RecordSize)
	}
	if db.v4 == nil {
		// Open compiles a table from every tree but one whose IPv4 part
		// reaches some node more than once.
		return c, fmt.Errorf("checking %s: the IPv4 part of the search tree reaches some node more than once", db.info.Name)
	}
	// A tree whose every node has one parent has at most one network more
	// than it has nodes; the walk below stops as soon as it has seen more.
	maxNetworks := db.reader.Metadata.NodeCount + 1
	var networks uint
	var next uint64 // the first IPv4 address the table has not been compared at
	for res := range db.reader.Networks(maxminddb.IncludeNetworksWithoutData()) {
		networks++
		if err := res.Err(); err != nil {
			return c, fmt.Errorf("checking %s: network %d: %w", db.info.Name, networks, err)
		}
		if networks > maxNetworks {
			return c, fmt.Errorf("checking %s: the search tree has more networks than nodes: it reaches some node more than once", db.info.Name)
		}
		code := ""
		if res.Found() {
			c.Networks++
			rec := db.data.CursorAt(uint(res.Offset()))
			if _, err := rec.Map(); err != nil {
				return c, fmt.Errorf("checking %s: the record of %s is damaged: %w", db.info.Name, res.Prefix(), err)
			}
			code = db.recordCountry(uint(res.Offset()))
			if code != "" {
				c.WithCountry++
			}
		}
		if first, last, ok := ipv4Range(res.Prefix()); ok {
			if uint64(first) > next {
				// A sound tree leaves no gap (empty networks come too); a gap has no answer.
				if err := db.confirmIPv4(uint32(next), first-1, 0); err != nil {
					return c, fmt.Errorf("checking %s: %w", db.info.Name, err)
				}
			}
			if err := db.confirmIPv4(first, last, tableCode(code)); err != nil {
				return c, fmt.Errorf("checking %s: %w", db.info.Name, err)
			}
			next = uint64(last) + 1
		}
	}
	if c.Networks == 0 {
		return c, fmt.Errorf("checking %s: it has no networks", db.info.Name)
	}
	if next < 1<<32 {
		if err := db.confirmIPv4(uint32(next), 1<<32-1, 0); err != nil {
			return c, fmt.Errorf("checking %s: %w", db.info.Name, err)
		}
	}
	return c, nil
}

// ipv4Range returns the first and last IPv4 address of p, as Networks reports the IPv4
// part of the tree: IPv4 prefixes, or, when the whole IPv4 space lies in one network of an
// IPv6 tree, an IPv6 prefix that contains ::/96.
func ipv4Range(p netip.Prefix) (first, last uint32, ok bool) {
	switch {
	case p.Addr().Is4():
	case p.Addr().Is4In6() && p.Bits() >= 96:
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	case p.Bits() <= 96 && p.Contains(netip.IPv6Unspecified()):
		return 0, 1<<32 - 1, true
	default:
		return 0, 0, false
	}
	a := p.Masked().Addr().As4()
	first = binary.BigEndian.Uint32(a[:])
	return first, first | uint32(uint64(1)<<(32-p.Bits())-1), true
}

// confirmIPv4 confirms that the IPv4 table answers code, what the search tree answers, for
// every address in [first, last].
func (db *Database) confirmIPv4(first, last uint32, code uint16) error {
	if at, other, found := db.v4.firstOther(first, last, code); found {
		return fmt.Errorf("the IPv4 table answers %q from %s, the search tree %q", codeString(other), addr4(at), codeString(code))
	}
	return nil
}

// addr4 returns the IPv4 address with the value v.
func addr4(v uint32) netip.Addr {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], v)
	return netip.AddrFrom4(a)
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
