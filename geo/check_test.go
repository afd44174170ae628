package geo

import (
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

// Check refuses a database whose IPv4 table does not answer what its tree does, whatever
// the cause.
func TestCheckComparesIPv4Table(t *testing.T) {
	db, err := OpenDefault()
	if err != nil {
		t.Fatal(err)
	}
	// 95.108.0.0/16 is partly Russian, partly not: answer RU for all of it.
	a := netip.MustParseAddr("95.108.1.1").As4()
	db.v4.buckets[uint16(a[0])<<8|uint16(a[1])] = uniformBucket | uint32(tableCode("RU"))
	_, err = db.Check()
	if err == nil || !strings.Contains(err.Error(), "the IPv4 table answers") {
		t.Fatalf("Check of a database whose table disagrees with its tree: %v", err)
	}
	t.Log(err)
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

func BenchmarkCheck(b *testing.B) {
	db, err := OpenDefault()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := db.Check(); err != nil {
			b.Fatal(err)
		}
	}
}
