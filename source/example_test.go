package source_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/georestrict/caddy-georestrict/source"
)

// A register in a file: the first check hands out a version, the next
// ones only when the bytes change.
func ExampleSource_Check() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "register.csv")
	os.WriteFile(path, []byte("id,countries,target\n1,RU,/alice\n"), 0o644)

	src, err := source.New(path, source.Options{})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	v, err := src.Check(ctx)
	if err != nil {
		log.Fatal(err)
	}
	r, _ := v.Open()
	data, _ := io.ReadAll(r)
	r.Close()
	fmt.Printf("new version: %d bytes, sha256 %s...\n", v.Size, v.Hash[:8])
	fmt.Printf("%s", data)
	v.Release()

	v, err = src.Check(ctx)
	fmt.Println("unchanged:", v == nil && err == nil)
	// Output:
	// new version: 32 bytes, sha256 143a878b...
	// id,countries,target
	// 1,RU,/alice
	// unchanged: true
}

// Signing a register, and checking the signature, as the sign and verify
// subcommands do.
func ExampleSign() {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	register := []byte("id,countries,target\n1,RU,/alice\n")

	sig, err := source.Sign(priv, bytes.NewReader(register))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("register.csv.sig: %d characters\n", len(sig))

	pub := priv.Public().(ed25519.PublicKey)
	fmt.Println("genuine:", source.Verify(pub, bytes.NewReader(register), sig))
	register[21] = 'X'
	fmt.Println("tampered:", source.Verify(pub, bytes.NewReader(register), sig))
	// Output:
	// register.csv.sig: 89 characters
	// genuine: <nil>
	// tampered: verifying: not signed by the configured key: the bytes were changed after signing, or signed with another key
}
