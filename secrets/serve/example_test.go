package serve_test

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"

	"github.com/mlseal/mlseal/secrets"
	"github.com/mlseal/mlseal/secrets/serve"
)

// Serve secrets to the jobs of this machine, as the Lambda extension
// serves a function: one cache, a token, loopback only, bounded
// connections.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	cache := secrets.NewCache(secrets.NewProviders(secrets.AWSOptions{}), secrets.CacheOptions{})
	defer cache.Close()
	h, err := serve.Handler(cache, os.Getenv("AWS_SESSION_TOKEN"))
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", serve.DefaultAddr)
	if err != nil {
		log.Fatal(err)
	}
	srv := serve.NewServer(h, serve.ServerOptions{})
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
