// Package source gets the bytes of a register or a country database from
// where they are published, a local file or an http(s) URL, and hands on
// each new version of them, verified and immutable. It knows nothing of
// what the bytes mean: parsing them is the caller's business (package
// blocklist for registers, package geo for databases).
//
// A [Source] is one location. [Source.Check] asks cheaply whether it has
// changed since the version it handed out last and, if so, returns a new
// [Version]; [Source.CheckFull] asks without shortcuts. [Source.Watch]
// runs checks on an interval, with backoff after failures, and reports
// each outcome to a callback. A typical caller:
//
//	src, err := source.New("https://legal.example/register.csv", source.Options{
//		PublicKey: key,
//		Storage:   storage, // caddy.Context.Storage()
//	})
//	v, err := src.Check(ctx)
//	if err != nil {
//		v, err = src.LoadLastGood(ctx) // the origin is down: the stored copy
//	}
//	... parse v.Open(), enforce it, src.SaveLastGood(ctx, v) ...
//	go src.Watch(ctx, time.Minute, func(e source.Event) { ... })
//
// # Checking cheaply
//
// A file is opened by path at every check and closed before the check
// returns, so a file replaced by rename (how editors, rsync and
// geoipupdate write) is picked up, and the replaced one is not held open.
// Its identity (device and inode), size and modification time are
// compared with the last check's; only if one of them changed is the file
// read and hashed (SHA-256), and bytes equal to the last version's are no
// change: touch alone makes no new version. An edit in place that keeps
// the size and the modification time is seen by CheckFull only; one made
// in the same clock tick as the last read is also seen by the next Check,
// which hashes a file modified less than two seconds before it was read.
//
// A URL is fetched with a conditional request (If-None-Match from the
// ETag, If-Modified-Since from Last-Modified); 304 Not Modified is no
// change, and so is a 200 whose bytes are the last version's. A check has
// a timeout; a body larger than the size limit is refused, not truncated;
// a body shorter than its Content-Length is an error; redirects are
// followed only to http and https, and never from https to http.
//
// # Versions
//
// A version is a snapshot taken while hashing: the bytes in memory up to a
// size the caller chooses, otherwise in a private temporary file (on Unix
// unlinked at once, so nothing is left behind by a crash). A 500 MB dump
// costs disk, not memory. [Version.Open] reads it from the start as often
// as needed; [Version.Release] gives it up once its readers are closed.
// The hash, size, ETag, modification time, fetch time and signature go
// with it.
//
// # Signatures
//
// With a public key in [Options], every version must come with a detached
// signature next to it: <file>.sig, or <url>.sig (".sig" added to the
// URL's path), holding the base64 of an Ed25519ph signature (RFC 8032,
// section 5.1, empty context): Ed25519 over the SHA-512 of the bytes. The
// prehashed variant is chosen because pure Ed25519 needs the whole message
// in memory (Go's API takes a []byte, and signing hashes the message
// twice), while a register of any size can be hashed as it streams past.
// The SHA-512 is computed in the same pass as the snapshot. A version
// unsigned, tampered with or signed by another key is refused with an
// error that wraps [ErrSignature] and names the source. [Sign], [Verify],
// [GenerateKey], [ParsePublicKey] and [ParsePrivateKey] are what a signing
// command needs; keys are PEM files that openssl reads (PKCS #8 private,
// PKIX public), and a public key can also be written as the base64 of its
// 32 bytes.
//
// # Last good copies
//
// With a [Storage] in Options (Caddy's certmagic storage fits as it is),
// [Source.SaveLastGood] keeps an accepted version with its ETag, fetch time
// and signature, and [Source.LoadLastGood] brings it back, marked
// FromStorage, when the origin is down at start. Keys are derived from a
// hash of the location, so they are plain for every backend, and a fleet
// whose nodes share one storage backend and one location shares one copy.
// The copy's hash, and its signature when a key is configured, are checked
// again when it is loaded.
package source
