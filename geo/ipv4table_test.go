package geo

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/georestrict/caddy-georestrict/geo/defaultdb"
)

// sameAnswer fails the test when the table and the tree walk answer the
// IPv4 address v differently. Both are asked for every address, public or
// not: the table covers the whole IPv4 space, whatever Country then filters.
func sameAnswer(t testing.TB, db *Database, v uint32) {
	t.Helper()
	a := addr4(v)
	if got, want := db.v4.country(a.As4()), db.treeCountry(a); got != want {
		t.Fatalf("%s: table answers %q, tree walk %q", a, got, want)
	}
}

// ipv4Networks returns every IPv4 network of the tree as [first, last],
// empty ones included, as the maxminddb reader iterates them: a walk of the
// tree written independently of the table's.
func ipv4Networks(t testing.TB, db *Database) [][2]uint32 {
	t.Helper()
	var out [][2]uint32
	for res := range db.reader.NetworksWithin(netip.MustParsePrefix("0.0.0.0/0"), maxminddb.IncludeNetworksWithoutData()) {
		if err := res.Err(); err != nil {
			t.Fatalf("iterating networks: %v", err)
		}
		p := res.Prefix()
		switch {
		case p.Addr().Is4():
		case p.Addr().Is4In6():
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		case p.Contains(netip.IPv6Unspecified()) && p.Bits() <= 96:
			p = netip.MustParsePrefix("0.0.0.0/0") // the IPv4 subtree is one leaf
		default:
			t.Fatalf("iterating IPv4 networks: got %s", p)
		}
		first := binary.BigEndian.Uint32(p.Addr().AsSlice())
		last := first | uint32(uint64(1)<<(32-p.Bits())-1)
		out = append(out, [2]uint32{first, last})
	}
	if len(out) == 0 {
		t.Fatal("the database has no IPv4 networks")
	}
	return out
}

// checkBoundaries compares the table with the tree walk at both ends of
// every IPv4 network, one address either side of them, and in the middle.
func checkBoundaries(t testing.TB, db *Database) int {
	t.Helper()
	if db.v4 == nil {
		t.Fatal("the database has no IPv4 table")
	}
	nets := ipv4Networks(t, db)
	for _, n := range nets {
		first, last := n[0], n[1]
		for _, v := range []uint32{first - 1, first, first + 1, first + (last-first)/2, last - 1, last, last + 1} {
			sameAnswer(t, db, v)
		}
	}
	return len(nets)
}

// openBytes opens data or fails the test.
func openBytes(t testing.TB, name string, data []byte) *Database {
	t.Helper()
	db, err := OpenBytes(name, data)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// countryDatabases are the real databases: the embedded one, and the file
// deployments use when this machine has it.
func countryDatabases(t testing.TB) map[string][]byte {
	dbs := map[string][]byte{"embedded": defaultdb.MMDB()}
	data, err := os.ReadFile(RealDatabase)
	switch {
	case err != nil:
		t.Logf("%s not read (%v): testing the embedded database only", RealDatabase, err)
	case bytes.Equal(data, defaultdb.MMDB()):
		// The same bytes give the same tree and the same table: testing
		// both would only take twice as long.
		t.Logf("%s is the embedded database, byte for byte", RealDatabase)
	default:
		dbs["file"] = data
	}
	return dbs
}

// TestIPv4TableRealDatabases compares the table with the tree walk on the
// real databases, at every network boundary and at one address of every /24.
func TestIPv4TableRealDatabases(t *testing.T) {
	for name, data := range countryDatabases(t) {
		t.Run(name, func(t *testing.T) {
			db := openBytes(t, name, data)
			n := checkBoundaries(t, db)
			// One address per /24, a different one in each, so that the last
			// octet takes every value across the sweep. The race detector
			// makes the tree walk ten times slower and has nothing to find
			// here: it gets one /24 in 61.
			step := uint32(1)
			if raceEnabled {
				step = 61
			}
			swept := 0
			for v := uint32(0); v < 1<<24; v += step {
				sameAnswer(t, db, v<<8|(v*167)&0xff)
				swept++
			}
			t.Logf("%d IPv4 networks, %d /24s, table %d bytes", n, swept, db.v4.size())
		})
	}
}

// A testNetwork is one network of a generated database.
type testNetwork struct {
	prefix netip.Prefix
	code   string
}

// testCodes are the codes generated databases store: valid ones in both
// cases, and ones that are not codes at all, which the tree walk answers as
// "unknown" and the table must too.
var testCodes = []string{"RU", "GB", "US", "de", "Fr", "ZZ", "", "USA", "1X", "R"}

// randomNetworks returns n networks of every length from /0 to /32 (most of
// them between /8 and /24, as in real databases), overlapping at random; the
// later ones override the earlier where they overlap.
func randomNetworks(r *rand.Rand, n int) []testNetwork {
	out := make([]testNetwork, 0, n)
	for range n {
		bits := 8 + r.IntN(17)
		switch r.IntN(10) {
		case 0:
			bits = 25 + r.IntN(8)
		case 1:
			bits = r.IntN(8)
		}
		p := netip.PrefixFrom(addr4(r.Uint32()), bits).Masked()
		out = append(out, testNetwork{p, testCodes[r.IntN(len(testCodes))]})
	}
	return out
}

// testDatabase describes how a generated database is written.
type testDatabase struct {
	recordSize int
	ipVersion  int
	schema     Schema
	noAliasing bool
	registered bool // GeoIP2 records with registered_country only
}

func (d testDatabase) String() string {
	s := fmt.Sprintf("record%d/ipv%d/%s", d.recordSize, d.ipVersion, d.schema)
	if d.registered {
		s += "-registered"
	}
	if d.noAliasing {
		s += "/no-aliasing"
	}
	return s
}

func (d testDatabase) record(code string) mmdbtype.Map {
	if d.schema == SchemaIPLocationDB {
		return mmdbtype.Map{"country_code": mmdbtype.String(code), "asn": mmdbtype.Uint32(64500)}
	}
	country := mmdbtype.Map{
		"geoname_id": mmdbtype.Uint32(1),
		"iso_code":   mmdbtype.String(code),
		"names":      mmdbtype.Map{"en": mmdbtype.String("Country " + code)},
	}
	if d.registered {
		return mmdbtype.Map{"registered_country": country}
	}
	return mmdbtype.Map{"country": country, "registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("SE")}}
}

// build writes a database of the networks, in order. IPv6 networks are
// added to IPv6 databases so that IPv4 lives in a subtree of a larger tree.
func (d testDatabase) build(tb testing.TB, nets []testNetwork) []byte {
	tb.Helper()
	typ := "GeoLite2-Country"
	if d.schema == SchemaIPLocationDB {
		typ = "ipinfo-style"
	}
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            typ,
		Description:             map[string]string{"en": "georestrict IPv4 table test"},
		IPVersion:               d.ipVersion,
		RecordSize:              d.recordSize,
		IncludeReservedNetworks: true,
		DisableIPv4Aliasing:     d.noAliasing,
	})
	if err != nil {
		tb.Fatal(err)
	}
	insert := func(p netip.Prefix, code string) {
		ipnet := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		if err := tree.Insert(ipnet, d.record(code)); err != nil {
			tb.Fatalf("inserting %s: %v", p, err)
		}
	}
	// A first record that carries a country whatever the networks are, so
	// that Open recognises the schema.
	insert(netip.MustParsePrefix("1.0.0.0/24"), "AU")
	if d.ipVersion == 6 {
		insert(netip.MustParsePrefix("2a02:6b8::/32"), "RU")
		insert(netip.MustParsePrefix("2c0f:fb50::/32"), "ZA")
	}
	for _, n := range nets {
		insert(n.prefix, n.code)
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// testDatabases are the layouts the table must read: every record size, IPv4
// and IPv6 trees, with and without aliases, both schemas.
func testDatabases() []testDatabase {
	var out []testDatabase
	for _, rs := range []int{24, 28, 32} {
		for _, v := range []int{4, 6} {
			out = append(out, testDatabase{recordSize: rs, ipVersion: v, schema: SchemaGeoIP2})
		}
	}
	return append(out,
		testDatabase{recordSize: 28, ipVersion: 6, schema: SchemaIPLocationDB},
		testDatabase{recordSize: 24, ipVersion: 6, schema: SchemaGeoIP2, registered: true},
		testDatabase{recordSize: 24, ipVersion: 6, schema: SchemaGeoIP2, noAliasing: true},
	)
}

// TestIPv4TableGenerated compares the table with the tree walk on generated
// databases of every layout, with networks of every length.
func TestIPv4TableGenerated(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 2))
	for _, d := range testDatabases() {
		t.Run(d.String(), func(t *testing.T) {
			nets := randomNetworks(r, 3000)
			db := openBytes(t, d.String(), d.build(t, nets))
			if db.schema != d.schema {
				t.Fatalf("schema %s, want %s", db.schema, d.schema)
			}
			checkBoundaries(t, db)
			if _, err := db.Check(); err != nil {
				t.Fatalf("Check: %v", err)
			}
			// The generated networks themselves, whatever the tree made of them.
			for _, n := range nets {
				first := binary.BigEndian.Uint32(n.prefix.Addr().AsSlice())
				last := first | uint32(uint64(1)<<(32-n.prefix.Bits())-1)
				for _, v := range []uint32{first - 1, first, last, last + 1} {
					sameAnswer(t, db, v)
				}
			}
			for range 20000 {
				sameAnswer(t, db, r.Uint32())
			}
		})
	}
}

// TestIPv4TableAnswers pins answers of the table where the tree walk is known
// to give them, so that the comparisons above cannot pass by both sides
// being wrong the same way.
func TestIPv4TableAnswers(t *testing.T) {
	nets := []testNetwork{
		{netip.MustParsePrefix("81.2.0.0/16"), "GB"},
		{netip.MustParsePrefix("81.2.69.0/24"), "fr"},
		{netip.MustParsePrefix("81.2.69.128/32"), "DE"},
		{netip.MustParsePrefix("81.2.70.0/23"), "USA"},
		{netip.MustParsePrefix("5.0.0.0/8"), "RU"},
		{netip.MustParsePrefix("255.255.255.255/32"), "NL"},
	}
	cases := []struct {
		name string
		ip   string
		want string
		// fallback: in GeoIP2 records with a country, the answer is the
		// registered_country, SE, instead of want.
		fallback bool
	}{
		{"a whole /8", "5.200.1.1", "RU", false},
		{"a /16 around smaller networks", "81.2.0.1", "GB", false},
		{"a /24 in a /16, lower-case in the file", "81.2.69.1", "FR", false},
		{"a /32 in a /24", "81.2.69.128", "DE", false},
		{"after the /32", "81.2.69.129", "FR", false},
		{"before the /32", "81.2.69.127", "FR", false},
		{"not a code", "81.2.70.5", "", true},
		{"the /16 again", "81.2.72.0", "GB", false},
		{"the last address of the /16", "81.2.255.255", "GB", false},
		{"no network", "82.0.0.1", "", false},
		{"the last address of all", "255.255.255.255", "NL", false},
		{"the first address of all", "0.0.0.0", "", false},
		{"the first network", "1.0.0.1", "AU", false},
	}
	for _, d := range testDatabases() {
		t.Run(d.String(), func(t *testing.T) {
			db := openBytes(t, d.String(), d.build(t, nets))
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					if tc.fallback && d.schema == SchemaGeoIP2 && !d.registered {
						tc.want = "SE"
					}
					a := netip.MustParseAddr(tc.ip)
					if got := db.v4.country(a.As4()); got != tc.want {
						t.Errorf("table: %s = %q, want %q", a, got, tc.want)
					}
					if got := db.treeCountry(a); got != tc.want {
						t.Errorf("tree walk: %s = %q, want %q", a, got, tc.want)
					}
				})
			}
		})
	}
}

// TestIPv4TableDamagedTree damages the IPv4 subtree of a database in the ways
// a bad download can: records that point into the separator, past the data
// section, or back up the tree. Open must not take long or fail for it, and
// Country must give the tree walk's answers, from a table or from the tree.
func TestIPv4TableDamagedTree(t *testing.T) {
	d := testDatabase{recordSize: 32, ipVersion: 4, schema: SchemaGeoIP2}
	r := rand.New(rand.NewPCG(7, 7))
	file := d.build(t, randomNetworks(r, 500))
	clean := openBytes(t, "clean", file)
	nodeCount := uint32(clean.reader.Metadata.NodeCount)
	dataSize := uint32(len(file)) - 8*nodeCount - 16 // an upper bound: the metadata follows

	// setRecord overwrites record side (0 left, 1 right) of node.
	setRecord := func(data []byte, node uint32, side int, v uint32) []byte {
		out := bytes.Clone(data)
		binary.BigEndian.PutUint32(out[8*node+4*uint32(side):], v)
		return out
	}
	// nodeAt returns the node reached from the root by the bits of path.
	nodeAt := func(path string) uint32 {
		node := uint32(0)
		for _, bit := range path {
			node = binary.BigEndian.Uint32(file[8*node+4*uint32(bit-'0'):])
			if node >= nodeCount {
				t.Fatalf("the network of bits %s is a leaf in the test database", path)
			}
		}
		return node
	}
	n128, n64, n192 := nodeAt("1"), nodeAt("01"), nodeAt("11")
	// Whether a table is built: yes for a tree whose shape is sound, no for
	// one that reaches a node twice, either where the damage may or may not
	// leave another node unreached.
	const (
		yes = iota
		no
		either
	)
	cases := []struct {
		name  string
		data  []byte
		table int
	}{
		{"pointer into the separator", setRecord(file, n128, 0, nodeCount+5), yes},
		{"pointer past the data section", setRecord(file, n64, 0, nodeCount+16+dataSize+100), yes},
		{"pointer to the last tree node", setRecord(file, n192, 0, nodeCount-1), either},
		{"a node that points back to the root", setRecord(file, n64, 1, 0), either},
		// 192.0.0.0/2 becomes a full tree of itself down to /32: a billion
		// networks, which the table gives up on after as many nodes as the
		// file has. (Not the root: Open reads
		// the first networks, and refuses a file whose first ones are bad.)
		{"a node that is its own children", setRecord(setRecord(file, n192, 0, n192), n192, 1, n192), no},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, err := OpenBytes(tc.name, tc.data)
			if err != nil {
				t.Fatalf("opening: %v", err)
			}
			if tc.table != either && (db.v4 != nil) != (tc.table == yes) {
				t.Fatalf("IPv4 table built: %v, want %v", db.v4 != nil, tc.table == yes)
			}
			changed := 0
			for range 20000 {
				a := addr4(r.Uint32())
				got, want := db.Country(a), db.TreeCountry(a)
				if got != want {
					t.Fatalf("%s: Country %q, tree walk %q", a, got, want)
				}
				if got != clean.Country(a) {
					changed++
				}
			}
			if changed == 0 {
				t.Fatal("the damage changes no answer: the test damages nothing it reads")
			}
		})
	}
}

// FuzzIPv4Table compares the table with the tree walk on the embedded
// database for any address.
func FuzzIPv4Table(f *testing.F) {
	for _, s := range []string{"77.88.55.88", "8.8.8.8", "0.0.0.0", "255.255.255.255", "95.108.128.0", "95.108.255.255"} {
		f.Add(binary.BigEndian.Uint32(netip.MustParseAddr(s).AsSlice()))
	}
	db := openBytes(f, "embedded", defaultdb.MMDB())
	f.Fuzz(func(t *testing.T, v uint32) {
		sameAnswer(t, db, v)
	})
}

// FuzzIPv4TableBuild compares the table with the tree walk on databases built
// from arbitrary networks: the first byte picks the layout, then every six
// bytes are a network (four of address, one of length, one of code).
func FuzzIPv4TableBuild(f *testing.F) {
	f.Add([]byte{0, 81, 2, 69, 0, 24, 1, 81, 2, 69, 128, 25, 2})
	f.Add([]byte{3, 0, 0, 0, 0, 0, 4, 255, 255, 255, 255, 32, 0, 10, 0, 0, 0, 8, 6})
	f.Add([]byte{7, 1, 2, 3, 4, 31, 5, 1, 2, 3, 6, 32, 3, 1, 2, 0, 0, 16, 9})
	layouts := testDatabases()
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 || len(b) > 1+6*64 {
			return
		}
		d := layouts[int(b[0])%len(layouts)]
		var nets []testNetwork
		for b = b[1:]; len(b) >= 6; b = b[6:] {
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte(b[:4])), int(b[4])%33).Masked()
			nets = append(nets, testNetwork{p, testCodes[int(b[5])%len(testCodes)]})
		}
		db := openBytes(t, d.String(), d.build(t, nets))
		checkBoundaries(t, db)
		if _, err := db.Check(); err != nil {
			t.Fatalf("Check: %v", err)
		}
	})
}
