package serve

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func startServer(t *testing.T, opts ServerOptions) (string, *Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	s := NewServer(h, opts)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Shutdown(context.Background())
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	})
	return ln.Addr().String(), s
}

// request sends one GET on a new connection and returns the connection
// for reuse, after reading the response.
func request(t *testing.T, addr, path string) (net.Conn, int) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return c, resp.StatusCode
}

// TestServerConnectionBound: at MaxConns, a new client is still served:
// the connection idle the longest makes room, and the number held stays at
// the bound.
func TestServerConnectionBound(t *testing.T) {
	addr, s := startServer(t, ServerOptions{MaxConns: 4})
	var idle []net.Conn
	for range 10 {
		c, err := net.Dial("tcp", addr) // connects, says nothing
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	for range 3 {
		c, code := request(t, addr, "/") // one request, then idle
		defer c.Close()
		if code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	if n := s.conns.open(); n > 4 {
		t.Errorf("%d connections held, bound 4", n)
	}
	// The oldest silent connections were closed by the server.
	idle[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := idle[0].Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the oldest silent connection: %v, want EOF", err)
	}
}

// TestServerTimeouts: an idle connection is closed after IdleTimeout, and
// a request line longer than the bound is refused.
func TestServerTimeouts(t *testing.T) {
	addr, _ := startServer(t, ServerOptions{IdleTimeout: 50 * time.Millisecond})
	c, _ := request(t, addr, "/")
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("idle connection: %v, want EOF after the idle timeout", err)
	}
	c2, code := request(t, addr, "/?secretId="+strings.Repeat("x", 600<<10))
	c2.Close()
	if code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a 600 KiB request line: %d, want 431", code)
	}
}
