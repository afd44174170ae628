package source_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/georestrict/caddy-georestrict/source"
)

// FuzzParsePublicKey checks that any text either is refused or yields a
// 32-byte key that is exactly what the text encodes: base64 that encodes
// back to the text, or a PEM block that marshals back to an equal key.
func FuzzParsePublicKey(f *testing.F) {
	pub, priv := testKey(1)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	privDER, _ := x509.MarshalPKCS8PrivateKey(priv)
	f.Add([]byte(base64.StdEncoding.EncodeToString(pub)))
	f.Add([]byte(base64.RawStdEncoding.EncodeToString(pub) + "\n"))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte("AAAA"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, text []byte) {
		key, err := source.ParsePublicKey(text)
		if err != nil {
			if key != nil {
				t.Fatalf("error %v with a key", err)
			}
			return
		}
		if len(key) != ed25519.PublicKeySize {
			t.Fatalf("key of %d bytes", len(key))
		}
		if bytes.Contains(text, []byte("-----BEGIN")) {
			der, err := x509.MarshalPKIXPublicKey(key)
			if err != nil {
				t.Fatal(err)
			}
			again, err := source.ParsePublicKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
			if err != nil || !again.Equal(key) {
				t.Fatalf("re-encoded PEM: %x, %v; want %x", again, err, key)
			}
			return
		}
		// Decoding skips line breaks inside the base64 and white space
		// around it; nothing else may differ.
		b64 := string(stripSpace(text))
		if b64 != base64.StdEncoding.EncodeToString(key) && b64 != base64.RawStdEncoding.EncodeToString(key) {
			t.Fatalf("%q decoded to %x, which encodes otherwise", text, key)
		}
	})
}

// FuzzParsePrivateKey checks that any text either is refused or yields a
// key that signs what its public key verifies.
func FuzzParsePrivateKey(f *testing.F) {
	pub, priv := testKey(1)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	pubDER, _ := x509.MarshalPKIXPublicKey(pub)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der[:len(der)-1]}))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		key, err := source.ParsePrivateKey(text)
		if err != nil {
			return
		}
		if len(key) != ed25519.PrivateKeySize {
			t.Fatalf("key of %d bytes", len(key))
		}
		sig, err := source.Sign(key, bytes.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		if err := source.Verify(key.Public().(ed25519.PublicKey), bytes.NewReader(text), sig); err != nil {
			t.Fatalf("the key's own signature: %v", err)
		}
	})
}

// FuzzVerify checks that the signature decoder accepts only the true
// signature: whatever the fuzzer makes of the .sig text and the bytes,
// Verify succeeds only if the text decodes to the signature the key makes
// over those bytes (Ed25519 signing is deterministic), and every refusal
// wraps ErrSignature.
func FuzzVerify(f *testing.F) {
	pub, priv := testKey(1)
	sig := func(data []byte) []byte {
		s, _ := source.Sign(priv, bytes.NewReader(data))
		return s
	}
	f.Add(v1, sig(v1))
	f.Add(v2, sig(v1))
	f.Add([]byte{}, sig(nil))
	f.Add(v1, bytes.TrimSpace(sig(v1)))
	f.Add(v1, []byte(base64.RawStdEncoding.EncodeToString(make([]byte, 64))))
	f.Add(v1, []byte("not base64\n"))
	f.Fuzz(func(t *testing.T, data, sigText []byte) {
		err := source.Verify(pub, bytes.NewReader(data), sigText)
		if err != nil {
			if !errors.Is(err, source.ErrSignature) {
				t.Fatalf("refusal %v does not wrap ErrSignature", err)
			}
			return
		}
		want := strings.TrimSpace(string(sig(data)))
		if got := string(stripSpace(sigText)); got != want && got != strings.TrimRight(want, "=") {
			t.Fatalf("accepted %q for %q; the signature is %q", sigText, data, want)
		}
	})
}

// stripSpace drops every white space character (Unicode's, as
// bytes.TrimSpace knows them) from text.
func stripSpace(text []byte) []byte {
	return bytes.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, text)
}
