package secrets_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/mlseal/mlseal/secrets"
)

func ExampleParseRef() {
	ref, err := secrets.ParseRef("secretsmanager://prod/db?stage=AWSPREVIOUS#password")
	if err != nil {
		panic(err)
	}
	fmt.Println(ref.Scheme(), ref.Name(), ref.Stage(), ref.Key())
	fmt.Println(ref.Source())

	_, err = secrets.ParseRef("ssm://prod/db/password")
	fmt.Println(err)
	// Output:
	// secretsmanager prod/db AWSPREVIOUS password
	// secretsmanager://prod/db?stage=AWSPREVIOUS
	// secret reference "ssm://prod/db/password": name: "prod/db/password": a hierarchical name starts with /: write ssm:///prod/db/password (three slashes)
}

func ExampleSecret() {
	s := secrets.NewSecret("hunter2", secrets.Metadata{VersionID: "v1"})
	fmt.Println(s)
	fmt.Printf("%v %+v %#v %q %x\n", s, s, s, s, s)
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	logger.Info("connecting", "password", s)
	fmt.Println(len(s.Reveal()), "bytes, only through Reveal")
	// Output:
	// [REDACTED]
	// [REDACTED] [REDACTED] secrets.Secret([REDACTED]) [REDACTED] [REDACTED]
	// level=INFO msg=connecting password=[REDACTED]
	// 7 bytes, only through Reveal
}

func ExampleCache() {
	os.Setenv("EXAMPLE_DB", `{"user":"app","password":"pw"}`)
	cache := secrets.NewCache(secrets.NewProviders(secrets.AWSOptions{}), secrets.CacheOptions{
		OnChange: func(ref secrets.Ref, previous, current secrets.Secret) {
			slog.Info("secret rotated", "ref", ref, "version", current.VersionID())
		},
	})
	defer cache.Close()

	ctx := context.Background()
	user := secrets.MustParseRef("env://EXAMPLE_DB#user")
	password := secrets.MustParseRef("env://EXAMPLE_DB#password")
	// One fetch for both keys of the secret.
	if err := cache.Prefetch(ctx, user, password); err != nil {
		panic(err)
	}
	u, _ := cache.Get(ctx, user)
	p, _ := cache.Get(ctx, password)
	fmt.Println(u.Reveal(), len(p.Reveal()))

	_, err := cache.Get(ctx, secrets.MustParseRef("env://EXAMPLE_MISSING"))
	fmt.Println(errors.Is(err, secrets.ErrNotFound), err)
	st := cache.Stats()
	fmt.Println(st.APICalls, st.Hits)
	// Output:
	// app 2
	// true secret env://EXAMPLE_MISSING: not found: variable EXAMPLE_MISSING is not set
	// 2 2
}
