package serve

import (
	"container/list"
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// Defaults of ServerOptions.
const (
	DefaultMaxConns          = 1024
	DefaultIdleTimeout       = 30 * time.Second
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
)

// ServerOptions configure a [Server]. The zero value means the defaults.
type ServerOptions struct {
	// MaxConns bounds the connections held open; zero means
	// DefaultMaxConns. At the bound, a new connection closes the one that
	// has been idle (or silent since it connected) the longest; when every
	// connection has a request in progress, the new one is closed instead.
	// Each connection costs a goroutine and buffers (about 10 KiB), so the
	// bound is also a bound on memory.
	MaxConns int
	// IdleTimeout closes a connection that sends no request for this long
	// after its last response; zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// ReadHeaderTimeout bounds the time to read a request, from the first
	// byte (or the connection) to the end of its header; zero means
	// DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// WriteTimeout bounds a request from the end of its header to the end
	// of the response, the wait for a fetch included; zero means
	// DefaultWriteTimeout. Keep it above the cache's FetchTimeout.
	WriteTimeout time.Duration
}

// maxHeaderBytes bounds a request's line and header: the longest reference
// (a 2048-character ARN) fits several times over once escaped.
const maxHeaderBytes = 32 << 10

// A Server serves the endpoint's handler over HTTP with timeouts at every
// stage and a bound on connections, so that clients that connect and stay
// silent, or keep idle connections, cannot exhaust file descriptors or
// memory, nor keep other clients out.
type Server struct {
	srv   *http.Server
	conns *conns
}

// NewServer returns a server of h (usually from [Handler]).
func NewServer(h http.Handler, opts ServerOptions) *Server {
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	c := &conns{max: opts.MaxConns, all: map[net.Conn]*list.Element{}, order: list.New()}
	return &Server{conns: c, srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		// The requests are GETs without a body: reading one takes no
		// longer than its header.
		ReadTimeout:    opts.ReadHeaderTimeout,
		WriteTimeout:   opts.WriteTimeout,
		IdleTimeout:    opts.IdleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		ConnState:      c.track,
	}}
}

// Serve accepts connections on ln until Shutdown; it returns
// http.ErrServerClosed then.
func (s *Server) Serve(ln net.Listener) error {
	return s.srv.Serve(&limitListener{Listener: ln, conns: s.conns})
}

// Shutdown stops accepting, closes idle connections and waits for the
// requests in progress, up to ctx.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// conns tracks the open connections and which of them may be closed to
// make room: those idle between requests or silent since they connected,
// least recently active first. Every connection stays in one list, in
// order of its last request's end, so that a request moves nothing and
// allocates nothing; only making room walks the list, past busy ones.
type conns struct {
	max   int
	mu    sync.Mutex
	all   map[net.Conn]*list.Element // of *tracked, in order
	order *list.List
}

type tracked struct {
	nc   net.Conn
	busy bool // a request is in progress
}

// admit registers a new connection, closing the longest idle one if the
// bound is reached. It reports false, and registers nothing, when every
// connection is busy.
func (c *conns) admit(nc net.Conn) bool {
	c.mu.Lock()
	var victim net.Conn
	if len(c.all) >= c.max {
		for el := c.order.Front(); el != nil; el = el.Next() {
			if t := el.Value.(*tracked); !t.busy {
				victim = t.nc
				c.order.Remove(el)
				delete(c.all, victim)
				break
			}
		}
		if victim == nil {
			c.mu.Unlock()
			return false
		}
	}
	c.all[nc] = c.order.PushBack(&tracked{nc: nc})
	c.mu.Unlock()
	if victim != nil {
		victim.Close()
	}
	return true
}

// track follows the server's connection states.
func (c *conns) track(nc net.Conn, state http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.all[nc]
	if !ok {
		return // evicted
	}
	switch state {
	case http.StateActive:
		el.Value.(*tracked).busy = true
	case http.StateIdle:
		el.Value.(*tracked).busy = false
		c.order.MoveToBack(el)
	case http.StateClosed, http.StateHijacked:
		c.order.Remove(el)
		delete(c.all, nc)
	}
}

// open returns the number of connections held.
func (c *conns) open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.all)
}

type limitListener struct {
	net.Listener
	conns *conns
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.conns.admit(nc) {
			return nc, nil
		}
		nc.Close()
	}
}
