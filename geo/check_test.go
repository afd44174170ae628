package geo

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"testing"
)

// Check reads every record; a database damaged in its tree or its data section opens, but
// does not pass Check, or answers "unknown" for far more addresses.
func TestCheckFindsDamage(t *testing.T) {
	db, err := OpenDefault()
	if err != nil {
		t.Fatal(err)
	}
	c, err := db.Check()
	if err != nil {
		t.Fatalf("the embedded database does not pass Check: %v", err)
	}
	if c.Networks < 100_000 || c.WithCountry < c.Networks*9/10 {
		t.Errorf("coverage %+v", c)
	}
	sample := Sample(4096)
	good := db.UnknownShare(sample)

	data := append([]byte(nil), mustReadEmbedded(t)...)
	// Zero a megabyte of the search tree: the file still opens.
	for i := 1 << 20; i < 2<<20; i++ {
		data[i] = 0
	}
	damaged, err := OpenBytes("damaged", data)
	if err != nil {
		t.Skipf("the damaged copy does not even open (%v): nothing left to check", err)
	}
	_, checkErr := damaged.Check()
	bad := damaged.UnknownShare(sample)
	if checkErr == nil && bad < good+0.05 {
		t.Errorf("a database with a zeroed megabyte passes Check, and answers unknown for %.1f%% of addresses (the sound one: %.1f%%)", bad*100, good*100)
	}
	t.Logf("unknown: sound %.1f%%, damaged %.1f%%; Check: %v", good*100, bad*100, checkErr)
}

// Check refuses a database whose IPv4 table does not answer what its tree does, wherever
// they differ: at the ends of a network, inside one, where there is no network, at the
// end of the address space.
func TestCheckComparesIPv4Table(t *testing.T) {
	nets := []testNetwork{
		{netip.MustParsePrefix("5.0.0.0/8"), "RU"},
		{netip.MustParsePrefix("81.2.0.0/16"), "GB"},
		{netip.MustParsePrefix("81.2.69.0/24"), "FR"},
		{netip.MustParsePrefix("255.255.255.255/32"), "NL"},
	}
	d := testDatabase{recordSize: 28, ipVersion: 6, schema: SchemaGeoIP2}
	file := d.build(t, nets)
	bucket := func(ip string) uint16 {
		a := netip.MustParseAddr(ip).As4()
		return uint16(a[0])<<8 | uint16(a[1])
	}
	uniform := func(ip, code string) func(*ipv4Table) {
		return func(tb *ipv4Table) { tb.buckets[bucket(ip)] = uniformBucket | uint32(tableCode(code)) }
	}
	// lastRun sets the answer of the last run in the bucket of ip, which
	// has more than one.
	lastRun := func(ip, code string) func(*ipv4Table) {
		return func(tb *ipv4Table) {
			b := tb.buckets[bucket(ip)]
			if b&uniformBucket != 0 {
				t.Fatalf("the /16 of %s has one answer", ip)
			}
			i := b + tb.runs[b]
			tb.runs[i] = tb.runs[i]&^0xffff | uint32(tableCode(code))
		}
	}
	cases := []struct {
		name   string
		damage func(*ipv4Table)
		at     string // where Check must say they differ
	}{
		{"the first /16 of a network", uniform("5.0.0.0", "GB"), "5.0.0.0"},
		{"a /16 inside a network", uniform("5.7.0.0", "GB"), "5.7.0.0"},
		{"where there is no network", uniform("82.1.0.0", "RU"), "82.1.0.0"},
		{"a run inside a /16", lastRun("81.2.0.0", "DE"), "81.2.70.0"},
		{"the last address", lastRun("255.255.0.0", ""), "255.255.255.255"},
		{"the last address answered as its neighbour", lastRun("255.255.0.0", "RU"), "255.255.255.255"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := openBytes(t, tc.name, file)
			if _, err := db.Check(); err != nil {
				t.Fatalf("Check of the sound database: %v", err)
			}
			tc.damage(db.v4)
			_, err := db.Check()
			want := "the IPv4 table answers"
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), " from "+tc.at+",") {
				t.Fatalf("Check of a database whose table disagrees with its tree at %s: %v", tc.at, err)
			}
			t.Log(err)
		})
	}
}

// Check refuses a tree that reaches a node more than once, in its IPv4 part (which gets no
// table) and in the rest of an IPv6 tree, where such a tree can describe more networks
// than any walk of them would finish.
func TestCheckRefusesLoopingTree(t *testing.T) {
	d := testDatabase{recordSize: 32, ipVersion: 6, schema: SchemaGeoIP2}
	r := rand.New(rand.NewPCG(3, 13))
	file := d.build(t, randomNetworks(r, 200))
	nodeCount := uint32(openBytes(t, "clean", file).reader.Metadata.NodeCount)
	// path returns the nodes from the root along the bits of addr, to depth n.
	path := func(addr netip.Addr, n int) []uint32 {
		a := addr.As16()
		nodes := []uint32{0}
		for i := range n - 1 {
			bit := uint32(a[i/8] >> (7 - i%8) & 1)
			next := binary.BigEndian.Uint32(file[8*nodes[i]+4*bit:])
			if next >= nodeCount {
				t.Fatalf("%s: a leaf at depth %d", addr, i+1)
			}
			nodes = append(nodes, next)
		}
		return nodes
	}
	// doubled points both records of every node on the path from depth 8
	// to 31 to the path's next node: 2^23 copies of the /32 below.
	doubled := bytes.Clone(file)
	nodes := path(netip.MustParseAddr("2a02:6b8::"), 32)
	for i := 8; i < 31; i++ {
		binary.BigEndian.PutUint32(doubled[8*nodes[i]:], nodes[i+1])
		binary.BigEndian.PutUint32(doubled[8*nodes[i]+4:], nodes[i+1])
	}
	// selfish makes a node of the IPv4 part its own children.
	selfish := bytes.Clone(file)
	n := path(netip.MustParseAddr("::192.0.0.0"), 98)[97]
	binary.BigEndian.PutUint32(selfish[8*n:], n)
	binary.BigEndian.PutUint32(selfish[8*n+4:], n)

	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"IPv6 part", doubled, "more networks than nodes"},
		{"IPv4 part", selfish, "the IPv4 part of the search tree reaches some node more than once"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := openBytes(t, tc.name, tc.data)
			_, err := db.Check()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check: %v, want an error about %q", err, tc.want)
			}
			t.Log(err)
		})
	}
}

func mustReadEmbedded(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("defaultdb/geo-whois-asn-country.mmdb")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestSampleIsStableAndPublic(t *testing.T) {
	a, b := Sample(1000), Sample(1000)
	for i := range a {
		if a[i] != b[i] || !isPublic(a[i]) {
			t.Fatalf("address %d: %v, %v", i, a[i], b[i])
		}
	}
}

// BenchmarkCheck measures what vetting a new database costs: every record
// read, and the IPv4 table compared with the whole IPv4 part of the tree.
func BenchmarkCheck(b *testing.B) {
	db, err := OpenDefault()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.Check(); err != nil {
			b.Fatal(err)
		}
	}
}

// Check accepts a database whose whole IPv4 space is one network, which the tree holds as a
// single leaf (and Networks may report as an IPv6 prefix).
func TestCheckWholeIPv4Space(t *testing.T) {
	nets := []testNetwork{{netip.MustParsePrefix("0.0.0.0/0"), "RU"}}
	for _, d := range testDatabases() {
		t.Run(d.String(), func(t *testing.T) {
			db := openBytes(t, d.String(), d.build(t, nets))
			if _, err := db.Check(); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if got := db.Country(netip.MustParseAddr("8.8.8.8")); got != "RU" {
				t.Fatalf("Country(8.8.8.8) = %q, want RU", got)
			}
		})
	}
}
