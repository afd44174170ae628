// Package blocklist holds the register of legal orders that georestrict enforces: which posts,
// accounts and paths of a microblogging site must be withheld (HTTP 451) or throttled in which
// countries, on whose authority, and from when until when.
//
// A register is read from CSV (what legal teams edit in a spreadsheet) or JSON files with
// [Load] (or [Parse], one file), validated strictly, and compiled into an immutable [Register] whose
// [Register.Match] runs on every request. Matching reads the request path the ways the
// application behind the gateway may read it (see "How requests are read"), so that case,
// percent-encoding, other scripts and similar tricks cannot dodge an order, then finds the
// posts and accounts in each reading through the site's URL [Patterns], in constant time and,
// for ordinary paths, without allocating.
//
// # Register files
//
// CSV files have a header row naming the columns, in any order; UTF-8, with or without a BOM,
// CRLF or LF, comma- or semicolon-separated. JSON files hold an array of objects, or one
// object per line (JSON Lines: .jsonl, .ndjson); the format goes by the extension, then by
// content. The fields are the same everywhere:
//
//	id         required, unique across all files of a register
//	countries  required: ISO 3166-1 alpha-2 codes or XK (Kosovo), separated by spaces, "|"
//	           or commas (a JSON array also does), or "*" for everywhere
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
// # How requests are read
//
// The gateway must never see a different request than the application behind it. Whatever
// it does to a path before matching may only merge spellings that some application could take
// for the same request; it must never drop, split or merge segments in a way that lets some
// application find a withheld item where the gateway finds none. Where applications disagree,
// the gateway reads the path every way one of them might and withholds it if any reading
// names a withheld item, or refuses the path.
//
// Within a segment, spellings merge. A path is split at its literal slashes, which every
// application honours, and each segment is decoded until no percent-escape is left ("%2573"
// is "s") and folded: case ("ς" and "σ", "ſ" and "s" too), compatibility forms (fullwidth
// "ｓｏｍｅｕｓｅｒ", "①"), accents and invisible characters (zero-width spaces, soft hyphens),
// as accent- and case-insensitive database collations compare text; digits of every script
// (Unicode Nd: "١٢٣", "１２３") become ASCII digits, as Python's int() and Java's
// Long.parseLong read them; ";params" are cut and spaces around the segment trimmed.
//
// Structure is read every way. A slash decoded from "%2F" (or folded from "／") and a
// backslash either separate segments or belong to one; empty segments ("//", and for some
// applications "/%20/", "/;x/" or an invisible character) are either kept, shifting the
// segments after them, or merged away. Each combination is a reading, and each reading is
// matched.
//
// Some paths are refused instead ([Ambiguous]; the gateway answers 400 to clients in countries
// with orders): paths with dot segments ("..", "%2e%2e", "..;", "．．": whether they climb
// depends on how often an application decodes, whether it cuts parameters, folds or cleans
// at all, and browsers resolve them before sending), separators made by decoding twice
// ("%252F"), and control characters once decoded (a NUL ends a path for C stacks and is kept
// by others).
//
// Post ids are numbers in every reading a lenient parser makes of them: the leading digits
// ("00123", "+123", "123abc", "123.json", "1_23"), hexadecimal after "0x" (JavaScript's
// parseInt, Java's Long.decode), and a whole number with a fraction or exponent ("123.0",
// "1.23e2": MySQL compares strings with numbers as doubles).
//
// A path with none of the ambiguities has one reading and costs no allocation to match.
//
// # What a target covers
//
// A post order covers the post wherever a template shows it, with extra segments
// ("/someuser/status/123/photo/1"), a format suffix (".json"), and in every reading of its id
// described above. An account order covers the profile and every path under it.
// "path:/banned" is that path only; "path:/media/upload*" is a plain string prefix of the path,
// as people write it (it also covers /media/uploads), and "path:/media/*" stops at the segment
// boundary and covers /media itself. Register paths are read in canonical form (see
// [CanonicalPath]) and compared with every reading of a request path.
package blocklist
