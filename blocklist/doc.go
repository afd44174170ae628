// Package blocklist holds the register of legal orders that georestrict enforces: which posts,
// accounts and paths of a microblogging site must be withheld (HTTP 451) or throttled in which
// countries, on whose authority, and from when until when.
//
// A register is read from CSV (what legal teams edit in a spreadsheet) or JSON files with
// [Parse] or [LoadFiles], validated strictly (a file with any error is refused whole, with every
// problem reported by file, line and field), and compiled into an immutable [Register] whose
// [Register.Match] runs on every request. Matching first brings the request path into the
// canonical form the application would see ([CanonicalPath]), so that case, percent-encoding,
// dot segments and similar tricks cannot dodge an order, then looks the path up through the
// site's URL [Patterns] in constant time without allocating.
//
// The package uses only the standard library and knows nothing about Caddy.
package blocklist
