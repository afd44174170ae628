package geo

import "net/netip"

// RealDatabase is the file the project's deployments use, kept outside the
// repository; tests and benchmarks that read it skip it when it is absent.
const RealDatabase = "../../shared/geodata/geo-whois-asn-country.mmdb"

// TreeCountry is Country answered by walking the search tree, as Country did
// before the IPv4 table: what the table is measured and checked against.
func (db *Database) TreeCountry(ip netip.Addr) string {
	ip = normalize(ip)
	if !isPublic(ip) {
		return ""
	}
	return db.treeCountry(ip)
}

// IPv4TableSize is the memory the compiled IPv4 table holds, or 0 when the
// database has none.
func (db *Database) IPv4TableSize() int {
	if db.v4 == nil {
		return 0
	}
	return db.v4.size()
}

// BuildIPv4Table compiles the IPv4 table of db, opened from data, anew, as
// Open does, and returns its size in bytes (0 when there is none).
func BuildIPv4Table(db *Database, data []byte) int {
	tree, section, err := sections(data, db.reader.Metadata)
	if err != nil {
		return 0
	}
	t := buildIPv4Table(tree, db.reader.Metadata, uint(len(section)), db.recordCountry)
	if t == nil {
		return 0
	}
	return t.size()
}
