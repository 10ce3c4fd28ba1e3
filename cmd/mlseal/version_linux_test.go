package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// dockerBuild is how the Dockerfile builds the binary it puts on scratch.
const dockerBuild = `CGO_ENABLED=0 go build -trimpath -ldflags="-s -w"`

// TestStaticBinaryInEmptyRoot checks what the container image relies on,
// since no image can be built here: the binary built as the Dockerfile
// builds it is static, and in an empty root (no C library, no /etc, no
// certificates) it runs, encrypts and decrypts, and trusts its embedded
// TLS roots, as 'mlseal version --verbose' says.
func TestStaticBinaryInEmptyRoot(t *testing.T) {
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{dockerBuild, "FROM scratch", "USER 65532:65532"} {
		if !bytes.Contains(df, []byte(want)) {
			t.Fatalf("the Dockerfile no longer has %q: keep this test in step with it", want)
		}
	}
	root := t.TempDir()
	bin := filepath.Join(root, "mlseal")
	// As the Dockerfile does, but without -trimpath, which changes nothing
	// in how the binary links and would rebuild every package.
	build := exec.Command("go", "build", "-ldflags=-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Fatalf("the binary is dynamically linked (program header %v)", p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("the binary needs %v", libs)
	}

	// Outside, with the system's certificates (where this machine has them).
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		out, err := exec.Command(bin, "version", "--verbose").Output()
		if err != nil || !strings.Contains(string(out), "tls roots: system certificates") {
			t.Fatalf("version --verbose outside the empty root: %v\n%s", err, out)
		}
	}

	plain := []byte("sealed in an empty root")
	if err := os.WriteFile(filepath.Join(root, "p.txt"), plain, 0o600); err != nil {
		t.Fatal(err)
	}
	inRoot := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("/mlseal", args...)
		cmd.Dir = "/"
		cmd.Env = []string{"HOME=/", "XDG_CONFIG_HOME=/"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("chroot is not permitted here (%v): run the tests as root, or with CAP_SYS_CHROOT", err)
		}
		if err != nil {
			t.Fatalf("mlseal %s in an empty root: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
		}
		return string(out)
	}
	out := inRoot("version", "--verbose")
	if !strings.Contains(out, "tls roots: embedded (") || !strings.Contains(out, "build: CGO_ENABLED=0") ||
		!strings.Contains(out, "default key: /mlseal/default.key (not created yet") {
		t.Fatalf("version --verbose in an empty root:\n%s", out)
	}
	inRoot("keygen", "-o", "/k.key")
	inRoot("encrypt", "-k", "/k.key", "-o", "/m.enc", "/p.txt")
	inRoot("decrypt", "-k", "/k.key", "-o", "/back.txt", "/m.enc")
	if back, err := os.ReadFile(filepath.Join(root, "back.txt")); err != nil || !bytes.Equal(back, plain) {
		t.Fatalf("round trip in an empty root: %q, %v", back, err)
	}
}
