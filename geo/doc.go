// Package geo answers one question at the edge: in which country is this
// client address? It reads MaxMind DB (.mmdb) country databases and returns
// upper-case ISO 3166-1 alpha-2 codes.
//
// A [Database] is one immutable generation of a database file. Callers that
// reload a newer file open a new Database and drop the old one; a file is
// never changed under a running lookup.
//
// The record shape is detected when the database is opened; two are known:
//
//   - MaxMind GeoIP2/GeoLite2 and DB-IP: country.iso_code, falling back to
//     registered_country.iso_code when the record has no country;
//   - ip-location-db and IPinfo-style databases: a top-level country_code.
//
// [Database.Country] allocates nothing, so it can run on every request. It
// answers "" for addresses that no country can be assigned to (private,
// loopback, documentation ranges, ...) without consulting the database.
// IPv4 addresses are answered from a table of the IPv4 space that Open
// compiles from the database's search tree (a word per /16, then the runs
// inside the /16s that have more than one answer), which gives the same
// answers as walking the tree with a fraction of the memory reads; IPv6
// addresses walk the tree.
//
// [OpenDefault] opens a database embedded in the binary (see package
// defaultdb and [DefaultAttribution]). It is built from registry data and is
// good enough to start with; production deployments should point the plugin
// at a maintained database such as MaxMind GeoIP2/GeoLite2 (kept fresh by
// geoipupdate) or DB-IP.
package geo
