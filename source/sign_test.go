package source_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/georestrict/caddy-georestrict/source"
)

// TestSignVerify checks Verify against signatures good and bad.
func TestSignVerify(t *testing.T) {
	pub, priv := testKey(1)
	otherPub, otherPriv := testKey(2)
	good := signature(t, priv, v1)
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(good)))
	tampered := bytes.Clone(v1)
	tampered[len(tampered)/2] ^= 1

	tests := []struct {
		name string
		key  ed25519.PublicKey
		data []byte
		sig  []byte
		want string // error text; empty for success
	}{
		{name: "good", key: pub, data: v1, sig: good},
		{name: "unpadded base64", key: pub, data: v1, sig: []byte(base64.RawStdEncoding.EncodeToString(raw))},
		{name: "white space around", key: pub, data: v1, sig: []byte("\r\n  " + strings.TrimSpace(string(good)) + " \r\n")},
		{name: "empty bytes", key: pub, data: nil, sig: signature(t, priv, nil)},
		{name: "tampered byte", key: pub, data: tampered, sig: good, want: "changed after signing, or signed with another key"},
		{name: "byte added", key: pub, data: append(bytes.Clone(v1), '\n'), sig: good, want: "changed after signing"},
		{name: "other key", key: otherPub, data: v1, sig: good, want: "signed with another key"},
		{name: "signed by the other key", key: pub, data: v1, sig: signature(t, otherPriv, v1), want: "signed with another key"},
		{name: "pure Ed25519, not Ed25519ph", key: pub, data: v1, sig: []byte(base64.StdEncoding.EncodeToString(ed25519.Sign(priv, v1))), want: "signed with another key"},
		{name: "empty signature", key: pub, data: v1, sig: []byte("\n"), want: "empty signature"},
		{name: "not base64", key: pub, data: v1, sig: []byte("this is not a signature!"), want: "not base64"},
		{name: "url-safe base64", key: pub, data: v1, sig: []byte(base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 64))), want: "not base64"},
		{name: "63 bytes", key: pub, data: v1, sig: []byte(base64.StdEncoding.EncodeToString(raw[:63])), want: "signature is 63 bytes, want 64"},
		{name: "a whole file", key: pub, data: v1, sig: bytes.Repeat(good, 20), want: "more than 1024 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := source.Verify(tc.key, bytes.NewReader(tc.data), tc.sig)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify: no error, want %q", tc.want)
			}
			if !errors.Is(err, source.ErrSignature) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Verify: %v, want ErrSignature with %q", err, tc.want)
			}
		})
	}
}

// signedCase is a way a signed source can be published wrong.
type signedCase struct {
	name string
	key  ed25519.PublicKey
	data []byte
	sig  []byte // nil: no .sig
	want string // error text; empty for success
}

func signedCases(t *testing.T) []signedCase {
	pub, priv := testKey(1)
	otherPub, otherPriv := testKey(2)
	good := signature(t, priv, v1)
	tampered := bytes.Clone(v1)
	tampered[3] ^= 0x20
	return []signedCase{
		{name: "good", key: pub, data: v1, sig: good},
		{name: "tampered byte", key: pub, data: tampered, sig: good, want: "changed after signing, or signed with another key"},
		{name: "other key", key: otherPub, data: v1, sig: good, want: "signed with another key"},
		{name: "signed by another key", key: pub, data: v1, sig: signature(t, otherPriv, v1), want: "signed with another key"},
		{name: "missing .sig", key: pub, data: v1, want: "no signature"},
		{name: "bad base64", key: pub, data: v1, sig: []byte("QUJD!?==\n"), want: "not base64"},
	}
}

// TestSignedFile checks a file source with a public key: every refusal
// names the file and wraps ErrSignature, and a source whose signature is
// fixed is accepted at the next check.
func TestSignedFile(t *testing.T) {
	_, priv := testKey(1)
	for _, tc := range signedCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "register.csv")
			writeFile(t, path, tc.data, hourAgo)
			if tc.sig != nil {
				writeFile(t, path+".sig", tc.sig, hourAgo)
			}
			src := mustNew(t, path, source.Options{PublicKey: tc.key})
			v, err := src.Check(t.Context())
			if tc.want == "" {
				v = wantVersion(t, v, err, tc.data)
				if err := source.Verify(tc.key, bytes.NewReader(tc.data), []byte(base64.StdEncoding.EncodeToString(v.Signature))); err != nil {
					t.Errorf("Version.Signature does not verify: %v", err)
				}
				return
			}
			err = wantError(t, v, err, "verifying "+path+": ", tc.want)
			if !errors.Is(err, source.ErrSignature) {
				t.Errorf("error %v is not ErrSignature", err)
			}
			// A cheap check sees the same stat, but must not take the
			// refused bytes for handed out.
			v, err = src.Check(t.Context())
			wantError(t, v, err, tc.want)

			// Published right: accepted.
			if tc.key.Equal(priv.Public()) {
				renameOver(t, path, v1, hourAgo)
				renameOver(t, path+".sig", signature(t, priv, v1), hourAgo)
				v, err = src.Check(t.Context())
				wantVersion(t, v, err, v1)
			}
		})
	}
}

// TestSignedFileUpdates follows a signed file through updates, in the order
// a publisher may make them.
func TestSignedFileUpdates(t *testing.T) {
	pub, priv := testKey(1)
	path := filepath.Join(t.TempDir(), "register.csv")
	src := mustNew(t, path, source.Options{PublicKey: pub})
	steps := []struct {
		name string
		data []byte // nil: leave the register as it is
		sig  []byte // nil: leave the signature as it is
		want []byte // the new version; nil for none
		err  string
	}{
		{name: "signed", data: v1, sig: signature(t, priv, v1), want: v1},
		{name: "signature garbled, bytes unchanged", sig: []byte("garbage\n")},
		{name: "new bytes, garbled signature", data: v2, err: "not base64"},
		{name: "new bytes signed", sig: signature(t, priv, v2), want: v2},
		{name: "signature first, for bytes not yet published", sig: signature(t, priv, v1Same)},
		{name: "then the bytes", data: v1Same, want: v1Same},
	}
	for i, step := range steps {
		mtime := hourAgo.Add(time.Duration(i) * time.Second)
		if step.data != nil {
			renameOver(t, path, step.data, mtime)
		}
		if step.sig != nil {
			renameOver(t, path+".sig", step.sig, mtime)
		}
		v, err := src.Check(t.Context())
		switch {
		case step.err != "":
			wantError(t, v, err, step.err)
		case step.want != nil:
			wantVersion(t, v, err, step.want)
		default:
			wantUnchanged(t, v, err)
		}
		if t.Failed() {
			t.Fatalf("at step %q", step.name)
		}
	}
}

// TestSignedURL is TestSignedFile for a URL: the signature is fetched from
// <url>.sig.
func TestSignedURL(t *testing.T) {
	_, priv := testKey(1)
	for _, tc := range signedCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			o, srv := newOrigin(t, tc.data, `"1"`, time.Time{})
			o.setSignature(tc.sig)
			loc := srv.URL + "/register.csv"
			src := mustNew(t, loc, source.Options{PublicKey: tc.key})
			v, err := src.Check(t.Context())
			if tc.want == "" {
				v = wantVersion(t, v, err, tc.data)
				if len(v.Signature) != ed25519.SignatureSize {
					t.Errorf("Version.Signature is %d bytes", len(v.Signature))
				}
				return
			}
			err = wantError(t, v, err, "verifying "+loc+": signature "+loc+".sig: ", tc.want)
			if !errors.Is(err, source.ErrSignature) {
				t.Errorf("error %v is not ErrSignature", err)
			}
			if tc.key.Equal(priv.Public()) {
				o.publish(v1, `"2"`, time.Time{})
				o.setSignature(signature(t, priv, v1))
				v, err = src.Check(t.Context())
				wantVersion(t, v, err, v1)
			}
		})
	}
}

// TestSignatureUnreachable checks that a signature the origin fails to
// serve is a fetch error, not a verdict on the register.
func TestSignatureUnreachable(t *testing.T) {
	pub, _ := testKey(1)
	o, srv := newOrigin(t, v1, `"1"`, time.Time{})
	mux := http.NewServeMux()
	mux.Handle("/register.csv", o)
	mux.HandleFunc("/register.csv.sig", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	srv.Config.Handler = mux
	src := mustNew(t, srv.URL+"/register.csv", source.Options{PublicKey: pub})
	v, err := src.Check(t.Context())
	err = wantError(t, v, err, "register.csv.sig: server answered 503")
	if errors.Is(err, source.ErrSignature) {
		t.Errorf("an unreachable signature is reported as ErrSignature: %v", err)
	}
}

// TestSignedLarge checks a signed version larger than memory holds.
func TestSignedLarge(t *testing.T) {
	pub, priv := testKey(1)
	data := bytes.Repeat([]byte("<content id=\"1\"><url>https://x.example/</url></content>\n"), 40000)
	path := filepath.Join(t.TempDir(), "dump.xml")
	writeFile(t, path, data, hourAgo)
	writeFile(t, path+".sig", signature(t, priv, data), hourAgo)
	src := mustNew(t, path, source.Options{PublicKey: pub, MemoryLimit: 64 * kib, Dir: t.TempDir()})
	v, err := src.Check(t.Context())
	wantVersion(t, v, err, data)
}

// TestGenerateKey checks the key files GenerateKey writes.
func TestGenerateKey(t *testing.T) {
	dir := t.TempDir()
	privFile, pubFile := filepath.Join(dir, "register.key"), filepath.Join(dir, "register.pub")
	pub, err := source.GenerateKey(privFile, pubFile)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(privFile)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("private key file mode %v, want no access for group and others", perm)
	}
	privText, _ := os.ReadFile(privFile)
	pubText, _ := os.ReadFile(pubFile)
	priv, err := source.ParsePrivateKey(privText)
	if err != nil {
		t.Fatal(err)
	}
	gotPub, err := source.ParsePublicKey(pubText)
	if err != nil {
		t.Fatal(err)
	}
	if !gotPub.Equal(pub) || !priv.Public().(ed25519.PublicKey).Equal(pub) {
		t.Error("the key files do not hold the returned key")
	}
	if err := source.Verify(pub, bytes.NewReader(v1), signature(t, priv, v1)); err != nil {
		t.Errorf("a signature by the generated key: %v", err)
	}

	// Never overwritten.
	if _, err := source.GenerateKey(privFile, filepath.Join(dir, "other.pub")); err == nil {
		t.Error("GenerateKey over an existing private key: no error")
	}
	if _, err := source.GenerateKey(filepath.Join(dir, "other.key"), pubFile); err == nil {
		t.Error("GenerateKey over an existing public key: no error")
	}
	if _, err := os.Stat(filepath.Join(dir, "other.key")); err == nil {
		t.Error("a private key without its public key was left behind")
	}
	if again, _ := os.ReadFile(privFile); !bytes.Equal(again, privText) {
		t.Error("the private key file changed")
	}
}

// TestParseKeys checks the key encodings accepted and refused.
func TestParseKeys(t *testing.T) {
	pub, priv := testKey(7)
	pubDER, _ := x509.MarshalPKIXPublicKey(pub)
	privDER, _ := x509.MarshalPKCS8PrivateKey(priv)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecPubDER, _ := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	ecPrivDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)

	publics := []struct {
		name string
		text string
		want string // error text; empty for success
	}{
		{name: "base64", text: base64.StdEncoding.EncodeToString(pub)},
		{name: "base64 unpadded, newline", text: base64.RawStdEncoding.EncodeToString(pub) + "\n"},
		{name: "PEM", text: string(pubPEM)},
		{name: "PEM after a comment", text: "# legal team key, 2026\n" + string(pubPEM)},
		{name: "base64 of 31 bytes", text: base64.StdEncoding.EncodeToString(pub[:31]), want: "31 bytes, want 32"},
		{name: "hex", text: "deadbeef" + strings.Repeat("0", 56), want: "32"},
		{name: "garbage", text: "ssh-ed25519 AAAA", want: "neither PEM nor base64"},
		{name: "empty", text: "", want: "32"},
		{name: "private key PEM", text: string(privPEM), want: "this is a private key"},
		{name: "ECDSA public key", text: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecPubDER})), want: "want an Ed25519 key"},
		{name: "certificate PEM", text: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pubDER})), want: `PEM block "CERTIFICATE"`},
		{name: "two PEM blocks", text: string(pubPEM) + string(pubPEM), want: "more than one PEM block"},
		{name: "broken PEM", text: "-----BEGIN PUBLIC KEY-----\nAAAA\n", want: "no PEM block"},
	}
	for _, tc := range publics {
		t.Run("public/"+tc.name, func(t *testing.T) {
			got, err := source.ParsePublicKey([]byte(tc.text))
			if tc.want == "" {
				if err != nil || !got.Equal(pub) {
					t.Fatalf("ParsePublicKey = %x, %v; want %x", got, err, pub)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParsePublicKey: %v, want an error with %q", err, tc.want)
			}
		})
	}

	privates := []struct {
		name string
		text string
		want string
	}{
		{name: "PEM", text: string(privPEM)},
		{name: "public key PEM", text: string(pubPEM), want: `PEM block "PUBLIC KEY"`},
		{name: "encrypted", text: string(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: privDER})), want: "encrypted keys are not supported"},
		{name: "legacy encrypted", text: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: privDER})), want: "headers"},
		{name: "ECDSA", text: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecPrivDER})), want: "want an Ed25519 key"},
		{name: "DER garbage", text: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}})), want: "private key: "},
		{name: "base64 seed", text: base64.StdEncoding.EncodeToString(priv.Seed()), want: "no PEM block"},
	}
	for _, tc := range privates {
		t.Run("private/"+tc.name, func(t *testing.T) {
			got, err := source.ParsePrivateKey([]byte(tc.text))
			if tc.want == "" {
				if err != nil || !got.Equal(priv) {
					t.Fatalf("ParsePrivateKey: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParsePrivateKey: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestKeysWithOpenSSL checks that openssl and this package read each
// other's key files.
func TestKeysWithOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("no openssl")
	}
	dir := t.TempDir()
	run := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command(openssl, args...).Output()
		if err != nil {
			t.Fatalf("openssl %s: %v", strings.Join(args, " "), err)
		}
		return out
	}

	// openssl's key, read here.
	osslKey := filepath.Join(dir, "openssl.key")
	run("genpkey", "-algorithm", "ed25519", "-out", osslKey)
	text, _ := os.ReadFile(osslKey)
	priv, err := source.ParsePrivateKey(text)
	if err != nil {
		t.Fatalf("ParsePrivateKey of openssl's key: %v", err)
	}
	pub, err := source.ParsePublicKey(run("pkey", "-in", osslKey, "-pubout"))
	if err != nil {
		t.Fatalf("ParsePublicKey of openssl's public key: %v", err)
	}
	if !pub.Equal(priv.Public()) {
		t.Error("openssl's public key is not the private key's")
	}

	// This package's key, read by openssl.
	ourKey, ourPub := filepath.Join(dir, "our.key"), filepath.Join(dir, "our.pub")
	if _, err := source.GenerateKey(ourKey, ourPub); err != nil {
		t.Fatal(err)
	}
	wantPub, _ := os.ReadFile(ourPub)
	if got := run("pkey", "-in", ourKey, "-pubout"); !bytes.Equal(got, wantPub) {
		t.Errorf("openssl derives public key\n%s\nfrom our private key, want\n%s", got, wantPub)
	}
	if got := run("pkey", "-pubin", "-in", ourPub, "-pubout"); !bytes.Equal(got, wantPub) {
		t.Errorf("openssl reads our public key as\n%s\nwant\n%s", got, wantPub)
	}
}
