// Package blocklist holds the register of legal orders that georestrict enforces: which posts,
// accounts and paths of a microblogging site must be withheld (HTTP 451) or throttled in which
// countries, on whose authority, and from when until when.
//
// A register is read from CSV (what legal teams edit in a spreadsheet) or JSON files with
// [Load] (or [Parse], one file), validated strictly, and compiled into an immutable [Register] whose
// [Register.Match] runs on every request. Matching first brings the request path into the
// canonical form the application would see ([CanonicalPath]), so that case, percent-encoding,
// dot segments and similar tricks cannot dodge an order, then finds the posts and accounts in
// it through the site's URL [Patterns], in constant time and without allocating.
//
// # Register files
//
// CSV files have a header row naming the columns, in any order; UTF-8, with or without a BOM,
// CRLF or LF, comma- or semicolon-separated. JSON files hold an array of objects, or one
// object per line (JSON Lines: .jsonl, .ndjson); the format goes by the extension, then by
// content. The fields are the same everywhere:
//
//	id         required, unique across all files of a register
//	countries  required: ISO 3166-1 alpha-2 codes separated by spaces, "|" or commas
//	           (a JSON array also does), or "*" for everywhere
//	target     required: post:<id>, account:<handle> or @handle, path:<exact path>,
//	           path:<prefix>*, or a URL of the site, resolved through the patterns
//	action     block (the default), throttle <rate>, or throttle <rate> both
//	           (rates like 64KiB/s, 2Mbit/s; "both" slows responses too)
//	authority  who ordered it
//	reference  decision number and date
//	notice     absolute http(s) URL of the public notice
//	reason     text shown to the user
//	start, end the order applies from start until (not including) end; RFC 3339, or
//	           YYYY-MM-DD for midnight UTC; either may be empty
//
// Every problem is reported with its file, line and field, and a file with any problem is
// refused whole: a register is never partly loaded.
//
// Text must be UTF-8. A field that is not (a file saved as windows-1251), or, in JSON, a \u
// escape of a lone UTF-16 surrogate, is refused rather than read as U+FFFD, which would make
// an account target silently never match; a UTF-16 file (Excel's "Unicode Text") is refused
// as a whole. A file that yields no orders is refused too, unless its [Source] says
// AllowEmpty: loading it would lift every order it held.
//
// # URL targets
//
// A URL resolves through the patterns into a post, an account (where a template covers the
// whole path) or an exact path; a URL whose meaning lies in a query that no template reads
// is refused, since a path target cannot keep it. A fragment is not sent by browsers, so a URL
// never falls back to the page without it: a hash-bang or client-side route on an otherwise
// empty URL ("https://twitter.com/#!/someuser/status/715") resolves as the path it names, and
// any other fragment is refused. Reserved route names ([DefaultReserved], or
// [WithReserved]) are never accounts: "https://twitter.example/search" is the exact path
// /search, "/search?q=x" is refused, and account:search is refused.
//
// # What a target covers
//
// A post order covers the post wherever a template shows it, with extra segments
// ("/someuser/status/123/photo/1"), leading zeros, a format suffix (".json") or, as lenient
// integer parsers read it, trailing garbage ("123abc"). An account order covers the profile and
// every path under it. "path:/banned" is that canonical path only; "path:/media/upload*" is a
// plain string prefix of the canonical path, as people write it (it also covers
// /media/uploads), and "path:/media/*" stops at the segment boundary and covers /media itself.
// Paths compare in canonical form, case-insensitively (see [CanonicalPath]).
package blocklist
