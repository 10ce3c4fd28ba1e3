package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlseal/mlseal/internal/awsconfig"
	"github.com/mlseal/mlseal/secrets"
	"github.com/mlseal/mlseal/secrets/serve"
)

type serveFlags struct {
	listen      string
	tokenFile   string
	allowRemote bool
	ttl         time.Duration
	maxEntries  int
	maxConns    int
}

func (a *app) secretsServeCmd(opts *secretsOptions) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve [--listen 127.0.0.1:2773] [--token-file FILE]",
		Short: "Serve secrets to local jobs over the Lambda extension's HTTP protocol",
		Long: `Serve secrets over HTTP to jobs on this machine, with the protocol of the
AWS Parameters and Secrets Lambda Extension, backed by one cache, so that
jobs in any language share it:

  GET /secretsmanager/get?secretId=NAME[&versionStage=STAGE|&versionId=ID]
  GET /systemsmanager/parameters/get?name=NAME[&version=N|&label=L]&withDecryption=true

Requests must carry the token in the X-Aws-Parameters-Secrets-Token header;
others are refused with 401. The token is AWS_SESSION_TOKEN, as the
extension's clients expect, or the contents of --token-file. The endpoint
is plain HTTP, so it listens on loopback addresses only, unless
--allow-remote.

As with the extension, a parameter requested without withDecryption=true
is read with WithDecryption false: a SecureString comes back encrypted.
Each fetch from AWS is bounded by --timeout, retries included. Connections
idle for 30 s are closed; at --max-conns, the one idle the longest makes
room for a new one.

IAM: secretsmanager:GetSecretValue on the secrets and ssm:GetParameter on
the parameters that jobs ask for (kms:Decrypt on customer managed keys);
serve makes single-item calls only.

Examples:
  AWS_SESSION_TOKEN=$(openssl rand -hex 16) mlseal secrets serve &
  curl -H "X-Aws-Parameters-Secrets-Token: $AWS_SESSION_TOKEN" \
    'http://127.0.0.1:2773/secretsmanager/get?secretId=prod%2Fdb'`,
		Args: cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			if err := opts.check(); err != nil {
				return err
			}
			return a.secretsServe(cmd.Context(), opts, &f)
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", serve.DefaultAddr, "`ADDRESS` to listen on")
	fl.StringVar(&f.tokenFile, "token-file", "", "read the token from `FILE` instead of AWS_SESSION_TOKEN")
	fl.BoolVar(&f.allowRemote, "allow-remote", false, "allow a non-loopback listen address (secrets then cross the network in plain HTTP)")
	fl.DurationVar(&f.ttl, "ttl", secrets.DefaultTTL, "`DURATION` a secret is cached")
	fl.IntVar(&f.maxEntries, "max-entries", secrets.DefaultMaxEntries, "the `N` secrets cached at most")
	fl.IntVar(&f.maxConns, "max-conns", serve.DefaultMaxConns, "the `N` connections held open at most")
	return cmd
}

func (a *app) secretsServe(ctx context.Context, opts *secretsOptions, f *serveFlags) error {
	token, source := os.Getenv("AWS_SESSION_TOKEN"), "AWS_SESSION_TOKEN"
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return err
		}
		token, source = strings.TrimSpace(string(b)), f.tokenFile
	}
	if token == "" {
		return withHint(fmt.Errorf("no token: %s is empty", source),
			"set AWS_SESSION_TOKEN or give --token-file; requests must carry it in "+serve.TokenHeader)
	}
	host, _, err := net.SplitHostPort(f.listen)
	if err != nil {
		return usageErrorf("--listen %q: %v", f.listen, err)
	}
	if !awsconfig.IsLoopback(host) && !f.allowRemote {
		return &cliError{err: fmt.Errorf("--listen %s is not a loopback address: the endpoint is plain HTTP", f.listen),
			code: exitUsage, hint: "listen on 127.0.0.1, or add --allow-remote to serve other machines in the clear"}
	}
	cache := secrets.NewCache(secrets.NewProviders(opts.aws), secrets.CacheOptions{TTL: f.ttl, MaxEntries: f.maxEntries, FetchTimeout: opts.timeout})
	defer cache.Close()
	h, err := serve.Handler(cache, token)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return err
	}
	tuneGC()
	srv := serve.NewServer(h, serve.ServerOptions{MaxConns: f.maxConns, WriteTimeout: opts.timeout + 10*time.Second})
	a.logf("serving secrets on http://%s (token from %s)", ln.Addr(), source)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// tuneGC lets the endpoint's heap grow to five times what it holds before
// a collection, within 64 MiB, unless GOGC or GOMEMLIMIT say otherwise.
// Its garbage is per request and what it holds is small, so the memory
// costs little, while each collection takes CPU from the requests in
// progress: at 16 clients serve answered 0.83-0.89x the requests a second
// of a bare net/http server with Go's default, 0.89-0.93x with this
// (bench/serve).
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(64 << 20)
	}
}
