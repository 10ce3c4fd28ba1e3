package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
	// Scratch containers and minimal images have no certificate store:
	// then, and only then, TLS trusts these roots (Mozilla's, kept up to
	// date by the Go team) instead of failing every call to AWS.
	_ "golang.org/x/crypto/x509roots/fallback"
	"golang.org/x/crypto/x509roots/fallback/bundle"

	"github.com/mlseal/mlseal/envelope/keyfile"
)

func (a *app) versionCmd() *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "version [--verbose]",
		Short: "Print the version of mlseal and of Go it was built with",
		Long: `Print the version of mlseal and of Go it was built with.

--verbose also prints the module versions built in, and which TLS roots
calls to AWS trust: the system's certificates, or, where the system has
none (a scratch container), the roots embedded in mlseal.`,
		Example: "  mlseal version --verbose",
		Args:    cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			if verbose {
				return a.printVersionVerbose()
			}
			_, err := fmt.Fprintln(a.stdout, versionString())
			return err
		}),
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "also print the modules built in and the TLS roots in use")
	return cmd
}

// versionString is "mlseal VERSION (GOVERSION GOOS/GOARCH)", where VERSION
// is the module version from the build information, or "devel".
func versionString() string {
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return fmt.Sprintf("mlseal %s (%s %s/%s)", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func (a *app) printVersionVerbose() error {
	fmt.Fprintln(a.stdout, versionString())
	fmt.Fprintf(a.stdout, "tls roots: %s\n", tlsRoots())
	if p, err := keyfile.DefaultPath(); err == nil {
		state := "not created yet: encrypt creates it"
		if _, err := os.Stat(p); err == nil {
			state = "back it up: losing it loses the data encrypted with it"
		}
		fmt.Fprintf(a.stdout, "default key: %s (%s)\n", p, state)
	}
	if f := os.Getenv("AWS_CA_BUNDLE"); f != "" {
		note := "trusted for AWS calls instead"
		if _, err := os.Stat(f); err != nil {
			note = "cannot be read, so AWS calls will fail: " + err.Error()
		}
		fmt.Fprintf(a.stdout, "aws ca bundle: AWS_CA_BUNDLE=%s (%s)\n", f, note)
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "CGO_ENABLED" || s.Key == "vcs.revision" || s.Key == "vcs.modified" {
				fmt.Fprintf(a.stdout, "build: %s=%s\n", s.Key, s.Value)
			}
		}
		for _, m := range bi.Deps {
			fmt.Fprintf(a.stdout, "module: %s %s\n", m.Path, m.Version)
		}
	}
	return nil
}

// tlsRoots says which roots TLS verification uses: the system's, or the
// embedded ones that crypto/x509 falls back to when the system has none.
func tlsRoots() string {
	pool, err := x509.SystemCertPool()
	if err != nil {
		return "none: " + err.Error()
	}
	embedded := x509.NewCertPool()
	n := 0
	for r := range bundle.Roots() {
		c, err := x509.ParseCertificate(r.Certificate)
		if err != nil {
			return "unknown: " + err.Error()
		}
		embedded.AddCert(c)
		n++
	}
	if pool.Equal(embedded) {
		return fmt.Sprintf("embedded (%d roots from golang.org/x/crypto/x509roots/fallback: no system certificates found)", n)
	}
	return "system certificates (" + systemRootsSource() + ")"
}

// systemRootsSource names where the system's roots come from, as
// crypto/x509 looks for them on Unix: SSL_CERT_FILE and SSL_CERT_DIR, else
// the usual files.
func systemRootsSource() string {
	for _, v := range []string{"SSL_CERT_FILE", "SSL_CERT_DIR"} {
		if p := os.Getenv(v); p != "" {
			return v + "=" + p
		}
	}
	for _, p := range []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/ca-bundle.pem", "/etc/ssl/cert.pem"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "the platform's store"
}
