//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// openPTY returns the controlling side and the terminal of a new
// pseudo-terminal, or skips the test where there are none.
func openPTY(t *testing.T) (ptmx, tty *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Skipf("unlocking the pseudo-terminal: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Skipf("naming the pseudo-terminal: %v", e)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("opening the pseudo-terminal: %v", err)
	}
	return ptmx, tty
}

// TestSecretsGetTerminal: on a real terminal, secrets get adds a newline
// and refuses values with control characters.
func TestSecretsGetTerminal(t *testing.T) {
	s := newSecretsEnv(t)
	s.sm.Put("plain", "value")
	s.sm.Put("ctl", "\x1b[2Jraw")
	for ref, want := range map[string]int{"secretsmanager://plain": 0, "secretsmanager://ctl": 1} {
		ptmx, tty := openPTY(t)
		out := make(chan string)
		go func() {
			b, _ := io.ReadAll(ptmx) // ends with EIO once the terminal is closed
			out <- string(b)
		}()
		cmd := s.command("secrets", "get", ref)
		cmd.Stdout = tty
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		tty.Close()
		got := <-out
		code := 0
		if err != nil {
			code = cmd.ProcessState.ExitCode()
		}
		if code != want {
			t.Errorf("%s on a terminal: exit %d, want %d; %s", ref, code, want, stderr.String())
		}
		switch want {
		case 0:
			if got != "value\r\n" { // the terminal turns \n into \r\n
				t.Errorf("%s on a terminal: %q, want the value and a newline", ref, got)
			}
		default:
			if got != "" || !strings.Contains(stderr.String(), "not written to a terminal") {
				t.Errorf("%s on a terminal: wrote %q; %s", ref, got, stderr.String())
			}
		}
	}
}
