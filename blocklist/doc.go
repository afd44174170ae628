// Package blocklist holds the register of legal orders that georestrict enforces: which posts,
// accounts and paths of a microblogging site must be withheld (HTTP 451) or throttled in which
// countries, on whose authority, and from when until when.
//
// A register is read from CSV (what legal teams edit in a spreadsheet) or JSON files with
// [Parse] or [LoadFiles], validated strictly, and compiled into an immutable [Register] whose
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
