// Package defaultdb embeds the geo-whois-asn-country database so that the
// plugin answers "which country?" out of the box, with no download step.
//
// The database comes from the ip-location-db project
// (https://github.com/sapics/ip-location-db) and is built from the registration
// data that the Regional Internet Registries publish through the Number
// Resource Organization. It says where an address block is registered, which
// is usually but not always where its users are; a maintained commercial
// database (MaxMind GeoIP2 via geoipupdate, or DB-IP) is more accurate and
// should be preferred in production.
//
// The data is licensed under CC BY 4.0 by the NRO. The licence text ships next
// to the file (LICENSE-geo-whois-asn-country.txt) and is embedded as [License]
// so that the attribution travels with every binary.
//
// To refresh the database, replace geo-whois-asn-country.mmdb with a newer
// release of the same file; the geo package tests pin a few known answers.
package defaultdb

import _ "embed"

// Name identifies the embedded database in logs and in geo.Info.
const Name = "geo-whois-asn-country"

// Attribution is the credit that CC BY 4.0 requires wherever the data is used.
const Attribution = "geo-whois-asn-country (ip-location-db) by NRO data, CC BY 4.0"

// License is the licence text shipped with the database.
//
//go:embed LICENSE-geo-whois-asn-country.txt
var License string

//go:embed geo-whois-asn-country.mmdb
var mmdb []byte

// MMDB returns the embedded database file. The slice is shared by every
// caller and must not be modified.
func MMDB() []byte { return mmdb }
