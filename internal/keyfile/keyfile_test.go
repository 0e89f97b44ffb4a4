package keyfile

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteThenRead(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	path := filepath.Join(t.TempDir(), "k.pem")
	if err := Write(path, key); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !key.Equal(got) {
		t.Fatal("read another key than was written")
	}
	b, _ := os.ReadFile(path)
	if _, err := Parse(append(b, b...)); err == nil || !strings.Contains(err.Error(), "one key per file") {
		t.Errorf("two keys in one file: %v", err)
	}
	if _, err := Read(filepath.Join(t.TempDir(), "none.pem")); err == nil {
		t.Error("a missing file was read")
	}
}
