package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/mlseal/mlseal/secrets"
)

func init() { productCommands = append(productCommands, (*app).secretsCmd) }

// Exit codes of "secrets exec", after GNU env's: the child's own status
// otherwise.
const (
	exitExecFailed   = 125 // mlseal failed before the command ran
	exitExecNotExec  = 126 // the command was found but could not run
	exitExecNotFound = 127 // the command was not found
)

const refHelp = `References:
  secretsmanager://NAME-OR-ARN[?stage=STAGE | ?version-id=ID][#KEY]
      AWS Secrets Manager; AWSCURRENT unless ?stage= (AWSPREVIOUS, ...) or
      ?version-id= is given.
  ssm://NAME[?version=N | ?label=LABEL][&decrypt=false][#KEY]
      SSM Parameter Store, SecureString decrypted (unless decrypt=false); a
      hierarchical name keeps its slash: ssm:///prod/db/password.
  env://VARIABLE[#KEY]     an environment variable of mlseal
  file://PATH[#KEY]        a file: file:///abs/path or file://relative/path
  #KEY picks a member of a JSON value: #password, #db.password, #hosts.0.

AWS settings come from the standard chain (AWS_REGION, AWS_PROFILE, ...);
endpoints from --secretsmanager-endpoint / --ssm-endpoint, or
AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL_SSM and AWS_ENDPOINT_URL.
--timeout bounds the calls to AWS as a whole, the SDK's retries included.
`

// defaultSecretsTimeout bounds a secrets command's calls to AWS when
// --timeout is not given: long enough for the SDK's retries of a throttled
// call, short enough that an endpoint that never answers is reported.
const defaultSecretsTimeout = 30 * time.Second

// secretsOptions are the flags common to the secrets commands.
type secretsOptions struct {
	aws     secrets.AWSOptions
	timeout time.Duration
}

// check refuses a deadline that would fail every call.
func (o *secretsOptions) check() error {
	if o.timeout <= 0 {
		return usageErrorf("--timeout %v: give a positive duration, such as 30s", o.timeout)
	}
	return nil
}

func (a *app) secretsCmd() *cobra.Command {
	opts := &secretsOptions{}
	cmd := &cobra.Command{
		Use:   "secrets",
		Short: "Fetch secrets by reference and hand them to jobs",
		Long: `Fetch secrets from AWS Secrets Manager, SSM Parameter Store, the environment
and files by reference, and hand them to jobs without printing them.

  mlseal secrets exec --env DB_PASSWORD=secretsmanager://prod/db#password -- python prep.py
  mlseal secrets get ssm:///prod/api/token > token.txt

` + refHelp,
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(a.stderr)
			_ = cmd.Help()
			return usageErrorf("no secrets command given")
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&opts.aws.Region, "region", "", "AWS `REGION` (default: from the AWS configuration)")
	pf.StringVar(&opts.aws.SecretsManagerEndpoint, "secretsmanager-endpoint", "", "Secrets Manager endpoint `URL` (a VPC interface endpoint)")
	pf.StringVar(&opts.aws.SSMEndpoint, "ssm-endpoint", "", "SSM endpoint `URL` (a VPC interface endpoint)")
	pf.DurationVar(&opts.timeout, "timeout", defaultSecretsTimeout,
		"`DURATION` bound on fetching from AWS as a whole, retries included (serve: on each fetch)")
	cmd.AddCommand(a.secretsGetCmd(opts), a.secretsExecCmd(opts), a.secretsServeCmd(opts))
	return cmd
}

// secretHint suggests what to check for an error of fetching a secret.
func secretHint(err error) string {
	var re *secrets.RefError
	var se *secrets.Error
	scheme := ""
	if errors.As(err, &se) {
		scheme = se.Ref.Scheme()
	}
	switch {
	case errors.As(err, &re):
		return "see 'mlseal secrets --help' for the reference syntax"
	case scheme == secrets.SchemeEnv && errors.Is(err, secrets.ErrNotFound):
		return fmt.Sprintf("set %s in mlseal's environment", se.Ref.Name())
	case scheme == secrets.SchemeFile && (errors.Is(err, secrets.ErrNotFound) || errors.Is(err, secrets.ErrAccessDenied)):
		return "check the path and that mlseal may read the file (a relative path starts from the working directory)"
	case errors.Is(err, secrets.ErrNotFound):
		return "check the name, the version or stage, and the region (--region, AWS_REGION)"
	case scheme == secrets.SchemeSSM && errors.Is(err, secrets.ErrAccessDenied):
		return "the caller needs ssm:GetParameter on the parameter (and kms:Decrypt on its key for a SecureString); see 'mlseal secrets --help'"
	case errors.Is(err, secrets.ErrAccessDenied):
		return "the caller needs secretsmanager:GetSecretValue on the secret (and kms:Decrypt on a customer managed key); see 'mlseal secrets --help'"
	case errors.Is(err, secrets.ErrDecryption):
		return "the caller needs kms:Decrypt on the secret's KMS key, and the key must be enabled"
	case errors.Is(err, secrets.ErrThrottled):
		return "AWS throttled the calls even after retries; try again later"
	case errors.Is(err, secrets.ErrKey):
		return "the #KEY selects a member of a JSON value; check the key's path"
	case errors.Is(err, context.DeadlineExceeded):
		return "AWS did not answer within --timeout; check the network path to the endpoint"
	}
	return ""
}

// --- get ---

func (a *app) secretsGetCmd(opts *secretsOptions) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "get [--json] REF",
		Short: "Print one secret's value",
		Long: `Print the value of the secret REF to stdout, exactly as stored (binary
values included); the one place where mlseal shows a value, because it was
asked for by name. On a terminal a newline is added, and values with control
characters are refused: redirect them to a file or a pipe.

--json prints {"ref", "value", "name", "arn", "versionId", "versionStages",
"created"}; a binary value is in "valueBase64" instead.

IAM: secretsmanager:GetSecretValue on the secret, or ssm:GetParameter on the
parameter, and kms:Decrypt on a customer managed key that encrypts it.

Examples:
  mlseal secrets get secretsmanager://prod/db#password
  mlseal secrets get ssm:///prod/api/token > token.txt
  mlseal secrets get --json secretsmanager://prod/db?stage=AWSPREVIOUS

` + refHelp,
		Args: cobra.ExactArgs(1),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			if err := opts.check(); err != nil {
				return err
			}
			return a.secretsGet(cmd.Context(), opts, args[0], asJSON)
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the value with its version id and stages as JSON")
	return cmd
}

func (a *app) secretsGet(ctx context.Context, opts *secretsOptions, arg string, asJSON bool) error {
	ref, err := secrets.ParseRef(arg)
	if err != nil {
		return &cliError{err: err, code: exitUsage, hint: secretHint(err)}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	s, err := secrets.NewProviders(opts.aws).Get(ctx, ref)
	if err != nil {
		return withHint(err, secretHint(err))
	}
	term := isTerminal(a.stdout)
	if asJSON {
		m := s.Metadata()
		out := struct {
			Ref           string    `json:"ref"`
			Value         *string   `json:"value,omitempty"`
			ValueBase64   string    `json:"valueBase64,omitempty"`
			Name          string    `json:"name,omitempty"`
			ARN           string    `json:"arn,omitempty"`
			VersionID     string    `json:"versionId,omitempty"`
			VersionStages []string  `json:"versionStages,omitempty"`
			Type          string    `json:"type,omitempty"`
			Created       time.Time `json:"created,omitzero"`
		}{Ref: ref.String(), Name: m.Name, ARN: m.ARN, VersionID: m.VersionID, VersionStages: m.VersionStages, Type: m.Type, Created: m.Created}
		if v := s.Reveal(); m.Binary || !utf8.ValidString(v) {
			out.ValueBase64 = base64.StdEncoding.EncodeToString([]byte(v))
		} else {
			out.Value = &v
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		if term {
			enc.SetIndent("", "  ")
		}
		return enc.Encode(out)
	}
	v := s.Reveal()
	if term {
		if hasControl(v) {
			return withHint(fmt.Errorf("secret %s has control characters or binary data, not written to a terminal", ref),
				"redirect stdout to a file or a pipe, or use --json")
		}
		if !strings.HasSuffix(v, "\n") {
			v += "\n"
		}
	}
	_, err = io.WriteString(a.stdout, v)
	return err
}

// hasControl reports whether v has bytes that a terminal would interpret
// (escape sequences) or that are not text.
func hasControl(v string) bool {
	if !utf8.ValidString(v) {
		return true
	}
	for _, r := range v {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || 0x80 <= r && r < 0xa0 {
			return true
		}
	}
	return false
}

// --- exec ---

type execFlags struct {
	env      []string
	envFiles []string
	files    []string
	pristine bool
}

// binding is one NAME=REF of exec.
type binding struct {
	name   string
	ref    secrets.Ref
	file   bool   // --file: the value goes to a file whose path is in NAME
	origin string // where it was given, for errors
}

func (a *app) secretsExecCmd(opts *secretsOptions) *cobra.Command {
	var f execFlags
	cmd := &cobra.Command{
		Use:   "exec [--env NAME=REF]... [--env-file FILE] [--file NAME=REF]... [--pristine] -- CMD [ARGS...]",
		Short: "Run a command with secrets in its environment",
		Long: `Run CMD with secrets in its environment: --env NAME=REF sets the variable
NAME to the value of REF; --file NAME=REF writes the value to a file, readable
by its owner only, in a private temporary directory (XDG_RUNTIME_DIR or
/dev/shm when available), and sets NAME to its path; the files are removed
when CMD ends. --env-file FILE reads NAME=REF lines (blank lines and lines
starting with # are skipped). CMD inherits mlseal's environment, unless
--pristine, when it gets the secrets only.

All secrets are fetched before CMD starts, within --timeout; if any is
missing, CMD does not start and every failing reference is named. Values
are never printed, logged or put on a command line.

IAM: secretsmanager:GetSecretValue on each secret and ssm:GetParameter on
each parameter (kms:Decrypt on customer managed keys) are enough. With
secretsmanager:BatchGetSecretValue (resource "*") and ssm:GetParameters as
well, several secrets are read in one call (up to 20 secrets, 10
parameters); when AWS denies those actions, mlseal reads them one by one.

Signals that mlseal receives (INT, TERM, HUP, QUIT, USR1, USR2, WINCH) are
passed on to CMD; a Ctrl-C on a terminal reaches both, so CMD may see it
twice.

Exit status: CMD's own, or 128+N when CMD is killed by signal N;
  125  mlseal failed (bad flags, a secret could not be fetched, ...)
  126  CMD was found but could not be run
  127  CMD was not found

Examples:
  mlseal secrets exec --env DB_PASSWORD=secretsmanager://prod/db#password -- python prep.py
  mlseal secrets exec --env-file job.env --file TLS_KEY=secretsmanager://prod/tls -- ./train.sh
  mlseal secrets --timeout 10s exec --pristine --env TOKEN=ssm:///prod/api/token -- env

` + refHelp,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			if err := opts.check(); err != nil {
				return &cliError{err: err, code: exitExecFailed}
			}
			return a.secretsExec(cmd.Context(), opts, &f, args)
		}),
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &cliError{err: err, code: exitExecFailed, hint: fmt.Sprintf("see '%s --help'", c.CommandPath())}
	})
	fl := cmd.Flags()
	fl.SetInterspersed(false)
	fl.StringArrayVar(&f.env, "env", nil, "set variable NAME to the secret REF (`NAME=REF`, repeatable)")
	fl.StringArrayVar(&f.envFiles, "env-file", nil, "read NAME=REF lines from `FILE` (repeatable)")
	fl.StringArrayVar(&f.files, "file", nil, "write the secret REF to a private file and set NAME to its path (`NAME=REF`, repeatable)")
	fl.BoolVar(&f.pristine, "pristine", false, "give CMD the secrets only, not mlseal's environment")
	return cmd
}

func execError(err error, hint string) error {
	return &cliError{err: err, code: exitExecFailed, hint: hint}
}

// parseBinding parses NAME=REF. A malformed spec is not repeated in the
// error: it may hold a value typed where a reference belongs.
func parseBinding(spec, origin string, file bool) (binding, error) {
	name, refText, ok := strings.Cut(spec, "=")
	if !ok || name == "" {
		return binding{}, fmt.Errorf("%s: not NAME=REF", origin)
	}
	if !validEnvName(name) {
		return binding{}, fmt.Errorf("%s: %q is not a variable name (letters, digits and _, not starting with a digit)", origin, name)
	}
	ref, err := secrets.ParseRef(refText)
	if err != nil {
		return binding{}, fmt.Errorf("%s: %s: %w", origin, name, err)
	}
	return binding{name: name, ref: ref, file: file, origin: origin}, nil
}

func validEnvName(s string) bool {
	if s == "" || '0' <= s[0] && s[0] <= '9' {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// readEnvFile reads the NAME=REF lines of an --env-file.
func readEnvFile(path string) ([]binding, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var bs []binding
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		b, err := parseBinding(line, fmt.Sprintf("%s:%d", path, n), false)
		if err != nil {
			return nil, err
		}
		bs = append(bs, b)
	}
	return bs, sc.Err()
}

func (a *app) secretsExec(ctx context.Context, opts *secretsOptions, f *execFlags, args []string) error {
	hint := "see 'mlseal secrets exec --help'"
	if len(args) == 0 {
		return execError(errors.New("no command given: mlseal secrets exec [--env NAME=REF]... -- CMD [ARGS...]"), hint)
	}
	var bs []binding
	for _, path := range f.envFiles {
		fb, err := readEnvFile(path)
		if err != nil {
			return execError(err, hint)
		}
		bs = append(bs, fb...)
	}
	for _, spec := range f.env {
		b, err := parseBinding(spec, "--env", false)
		if err != nil {
			return execError(err, hint)
		}
		bs = append(bs, b)
	}
	for _, spec := range f.files {
		b, err := parseBinding(spec, "--file", true)
		if err != nil {
			return execError(err, hint)
		}
		bs = append(bs, b)
	}
	seen := map[string]string{}
	for _, b := range bs {
		if prev, dup := seen[b.name]; dup {
			return execError(fmt.Errorf("%s is set twice (%s and %s)", b.name, prev, b.origin), hint)
		}
		seen[b.name] = b.origin
	}

	// Resolve every secret before anything starts.
	cache := secrets.NewCache(secrets.NewProviders(opts.aws), secrets.CacheOptions{FetchTimeout: opts.timeout})
	defer cache.Close()
	refs := make([]secrets.Ref, len(bs))
	for i, b := range bs {
		refs[i] = b.ref
	}
	fetchCtx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	_ = cache.Prefetch(fetchCtx, refs...) // the errors come again from Get, per variable
	values := make([]secrets.Secret, len(bs))
	var errs []error
	for i, b := range bs {
		s, err := cache.Get(fetchCtx, b.ref)
		if err == nil && !b.file && strings.IndexByte(s.Reveal(), 0) >= 0 {
			err = &secrets.Error{Ref: b.ref, Kind: secrets.ErrInvalid, Err: errors.New("the value has a NUL byte, which an environment variable cannot hold (use --file)")}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", b.name, err))
			continue
		}
		values[i] = s
	}
	if len(errs) > 0 {
		err := errors.Join(errs...)
		if len(errs) > 1 {
			err = fmt.Errorf("%d secrets could not be fetched:\n  %w", len(errs), joinIndented(errs))
		}
		return execError(fmt.Errorf("%s not started: %w", args[0], err), secretHint(errs[0]))
	}

	path, err := exec.LookPath(args[0])
	if err != nil {
		// A name with a slash is not searched for: LookPath reports the
		// missing file as such, not as exec.ErrNotFound.
		code := exitExecNotFound
		if !errors.Is(err, exec.ErrNotFound) && !errors.Is(err, fs.ErrNotExist) {
			code = exitExecNotExec
		}
		return &cliError{err: err, code: code}
	}

	// From here on, signals go to the child: main's handler, which exits at
	// once, would leave the child and the secret files behind.
	sigs := make(chan os.Signal, 8)
	signal.Reset(forwardedSignals...)
	signal.Notify(sigs, forwardedSignals...)
	defer signal.Stop(sigs)

	var env []string
	if !f.pristine {
		for _, kv := range os.Environ() {
			if k, _, _ := strings.Cut(kv, "="); seen[k] == "" {
				env = append(env, kv)
			}
		}
	}
	var dir string
	for i, b := range bs {
		v := values[i].Reveal()
		if b.file {
			if dir == "" {
				if dir, err = secretDir(); err != nil {
					return execError(fmt.Errorf("creating the directory for secret files: %w", err), "")
				}
				defer os.RemoveAll(dir)
			}
			p := filepath.Join(dir, b.name)
			if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
				return execError(fmt.Errorf("writing the secret file for %s: %w", b.name, err), "")
			}
			v = p
		}
		env = append(env, b.name+"="+v)
	}

	child := exec.Command(path, args[1:]...)
	child.Args[0] = args[0]
	child.Env = env
	child.Stdin, child.Stdout, child.Stderr = stdFile(a.stdin, os.Stdin), stdWriter(a.stdout, os.Stdout), stdWriter(a.stderr, os.Stderr)
	if err := child.Start(); err != nil {
		return &cliError{err: err, code: exitExecNotExec}
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-sigs:
				_ = child.Process.Signal(sig)
			case <-done:
				return
			}
		}
	}()
	werr := child.Wait()
	close(done)
	code := exitStatus(child.ProcessState)
	if werr != nil && child.ProcessState == nil {
		return execError(werr, "")
	}
	if code != 0 {
		if dir != "" {
			os.RemoveAll(dir)
		}
		cache.Close()
		// The child's status is the result, with no message of mlseal's.
		execExit(code)
	}
	return nil
}

// joinIndented joins errs, one per line, indented after the first.
type indented []error

func joinIndented(errs []error) error { return indented(errs) }

func (e indented) Error() string {
	var b strings.Builder
	for i, err := range e {
		if i > 0 {
			b.WriteString("\n  ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e indented) Unwrap() []error { return e }

// execExit ends mlseal with the child's exit status.
var execExit = os.Exit

// stdFile returns r unless it is the process's own stream, in which case
// the *os.File is passed on so that the child shares it (a terminal stays a
// terminal).
func stdFile(r io.Reader, std *os.File) io.Reader {
	if f, ok := r.(*os.File); ok && f == std {
		return std
	}
	return r
}

func stdWriter(w io.Writer, std *os.File) io.Writer {
	if f, ok := w.(*os.File); ok && f == std {
		return std
	}
	return w
}

// secretDir creates a private directory for secret files, in memory when
// the system offers it.
func secretDir() (string, error) {
	var bases []string
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		bases = append(bases, d)
	}
	bases = append(bases, "/dev/shm", os.TempDir())
	var err error
	for _, base := range slices.Compact(bases) {
		var dir string
		if dir, err = os.MkdirTemp(base, "mlseal-secrets-"); err == nil {
			return dir, os.Chmod(dir, 0o700)
		}
	}
	return "", err
}
