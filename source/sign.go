package source

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrSignature is wrapped by every refusal of bytes for their signature:
// none found, one that is not a signature, or one that does not match the
// bytes under the public key.
var ErrSignature = errors.New("not signed by the configured key")

// maxSignatureFile bounds what is read of a .sig file: a signature is 88
// characters of base64, a few bytes of white space around it are allowed.
const maxSignatureFile = 1024

// ed25519ph selects Ed25519ph (RFC 8032, section 5.1) with an empty
// context: the signature is over the SHA-512 of the bytes.
var ed25519ph = &ed25519.Options{Hash: crypto.SHA512}

// Sign signs the bytes read from r with key and returns what belongs in
// their .sig file: the base64 of a 64-byte Ed25519ph signature (RFC 8032)
// over their SHA-512, and a newline. The bytes are streamed, never held.
func Sign(key ed25519.PrivateKey, r io.Reader) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("signing: private key is %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	h := sha512.New()
	if _, err := io.Copy(h, r); err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	sig, err := key.Sign(nil, h.Sum(nil), ed25519ph)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return []byte(base64.StdEncoding.EncodeToString(sig) + "\n"), nil
}

// Verify checks the bytes read from r against signature, the contents of
// a .sig file as [Sign] writes them, under key. Any error wraps
// [ErrSignature], unless reading r failed.
func Verify(key ed25519.PublicKey, r io.Reader, signature []byte) error {
	if len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("verifying: public key is %d bytes, want %d", len(key), ed25519.PublicKeySize)
	}
	sig, err := decodeSignature(signature)
	if err != nil {
		return fmt.Errorf("verifying: %w", err)
	}
	h := sha512.New()
	if _, err := io.Copy(h, r); err != nil {
		return fmt.Errorf("verifying: %w", err)
	}
	if err := verifyDigest(key, h.Sum(nil), sig); err != nil {
		return fmt.Errorf("verifying: %w", err)
	}
	return nil
}

// verifyDigest checks an Ed25519ph signature over a SHA-512 digest.
func verifyDigest(key ed25519.PublicKey, digest, sig []byte) error {
	if ed25519.VerifyWithOptions(key, digest, sig, ed25519ph) != nil {
		return fmt.Errorf("%w: the bytes were changed after signing, or signed with another key", ErrSignature)
	}
	return nil
}

// decodeSignature decodes the contents of a .sig file: standard base64,
// padded or not, with white space around it.
func decodeSignature(text []byte) ([]byte, error) {
	if len(text) > maxSignatureFile {
		return nil, fmt.Errorf("%w: more than %d bytes, not a signature", ErrSignature, maxSignatureFile)
	}
	text = bytes.TrimSpace(text)
	if len(text) == 0 {
		return nil, fmt.Errorf("%w: empty signature", ErrSignature)
	}
	sig, err := decodeBase64(text)
	if err != nil {
		return nil, fmt.Errorf("%w: signature is not base64: %v", ErrSignature, err)
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature is %d bytes, want %d", ErrSignature, len(sig), ed25519.SignatureSize)
	}
	return sig, nil
}

// decodeBase64 decodes standard base64, with or without padding.
func decodeBase64(text []byte) ([]byte, error) {
	enc := base64.StdEncoding
	if len(text)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	out := make([]byte, enc.DecodedLen(len(text)))
	n, err := enc.Strict().Decode(out, text)
	if err != nil {
		return nil, err
	}
	return out[:n], nil
}

// ParsePublicKey reads an Ed25519 public key written either as the
// standard base64 of its 32 bytes (what fits on a Caddyfile line) or as a
// PEM "PUBLIC KEY" block (PKIX, as GenerateKey and
// "openssl pkey -pubout" write it).
func ParsePublicKey(text []byte) (ed25519.PublicKey, error) {
	text = bytes.TrimSpace(text)
	if bytes.Contains(text, []byte("-----BEGIN")) {
		block, err := onePEMBlock(text)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		switch block.Type {
		case "PUBLIC KEY":
		case "PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("public key: this is a private key; give the public key (keep the private one off the servers)")
		default:
			return nil, fmt.Errorf("public key: PEM block %q, want \"PUBLIC KEY\"", block.Type)
		}
		key, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		pub, ok := key.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key: a %T, want an Ed25519 key", key)
		}
		return pub, nil
	}
	raw, err := decodeBase64(text)
	if err != nil {
		return nil, fmt.Errorf("public key: neither PEM nor base64: %w", err)
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key: %d bytes, want %d", len(raw), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

// ParsePrivateKey reads an Ed25519 private key from a PEM "PRIVATE KEY"
// block (PKCS #8, as GenerateKey and
// "openssl genpkey -algorithm ed25519" write it).
func ParsePrivateKey(text []byte) (ed25519.PrivateKey, error) {
	block, err := onePEMBlock(bytes.TrimSpace(text))
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	switch block.Type {
	case "PRIVATE KEY":
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("private key: encrypted keys are not supported (decrypt with: openssl pkey -in KEY -out PLAIN)")
	default:
		return nil, fmt.Errorf("private key: PEM block %q, want \"PRIVATE KEY\"", block.Type)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key: a %T, want an Ed25519 key", key)
	}
	return priv, nil
}

// onePEMBlock decodes text that holds exactly one PEM block: a key file
// with a second block in it is a mistake better reported than guessed at.
func onePEMBlock(text []byte) (*pem.Block, error) {
	block, rest := pem.Decode(text)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("more than one PEM block")
	}
	if len(block.Headers) != 0 {
		return nil, errors.New("PEM block has headers (an encrypted legacy key?)")
	}
	return block, nil
}

// GenerateKey makes a new key pair and writes the private key to
// privateKeyFile (PEM PKCS #8, readable by its owner only) and the public
// key to publicKeyFile (PEM PKIX). It refuses to overwrite either file.
func GenerateKey(privateKeyFile, publicKeyFile string) (ed25519.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating key: %w", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("generating key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("generating key: %w", err)
	}
	if err := writeNew(privateKeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		return nil, fmt.Errorf("writing private key: %w", err)
	}
	if err := writeNew(publicKeyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		os.Remove(privateKeyFile)
		return nil, fmt.Errorf("writing public key: %w", err)
	}
	return pub, nil
}

// writeNew writes data to a file that must not exist yet.
func writeNew(name string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}
