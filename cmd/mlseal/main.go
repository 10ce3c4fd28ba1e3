// Command mlseal encrypts and decrypts files and streams in the AWS
// Encryption SDK message format.
//
//	mlseal keygen  -o FILE                       create a key file
//	mlseal encrypt [--key FILE]... [-o OUT] [IN]  encrypt IN (stdin) to OUT (stdout)
//	mlseal decrypt [--key FILE]... [-o OUT] [IN]  decrypt and authenticate
//	mlseal verify  [--key FILE]... [IN]...        authenticate without writing plaintext
//	mlseal inspect [--json] [IN]                  show a message header (not authenticated)
//	mlseal version
//
// Without --key, encrypt uses the default key in the user's config directory
// and creates it the first time; decrypt and verify use it but never create it.
//
// Exit codes:
//
//	0  success
//	1  error (missing file, existing output, refused by policy, ...)
//	2  usage: bad flags or arguments
//	3  the message is not authentic: tampered, truncated, malformed, or not
//	   openable with the given keys and encryption context
//	4  a batch in which some items failed (each failure is reported), or a
//	   tokenize --rejects run that rejected every record
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mlseal/mlseal/dataset"
	"github.com/mlseal/mlseal/envelope"
)

// Exit codes; see the package documentation.
const (
	exitOK        = 0
	exitError     = 1
	exitUsage     = 2
	exitIntegrity = 3
	exitBatch     = 4
)

const exitCodeHelp = `Exit codes:
  0  success
  1  error
  2  usage: bad flags or arguments
  3  the message is not authentic: tampered, truncated, malformed, or not
     openable with the given keys and encryption context
  4  a batch in which some items failed, or a tokenize --rejects run
     that rejected every record
`

// interruptGrace bounds how long an interrupted job may take to unwind
// (remove its temporary files, abort its multipart uploads) before mlseal
// leaves anyway; a second signal leaves at once.
const interruptGrace = 45 * time.Second

// endingSignals are the signals that end mlseal, each after the same
// cleanup.
var endingSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, endingSignals...)
	// A write to a closed stdout (mlseal ... | head) kills mlseal with
	// SIGPIPE unless it is ignored, as dataset jobs do (ignorePipe); then
	// the write fails with EPIPE, and stdout's writer turns that into the
	// same ending as a signal.
	var ended atomic.Int32 // the exit status of the signal that ended mlseal
	stdout := &stdoutWriter{f: os.Stdout, epipe: func() {
		// Set now: the command may fail and return before the signal is
		// handled.
		ended.CompareAndSwap(0, 128+int32(syscall.SIGPIPE))
		select {
		case sig <- syscall.SIGPIPE:
		default:
		}
	}}
	unwound := make(chan struct{})
	go func() {
		s := <-sig
		ended.CompareAndSwap(0, 128+int32(s.(syscall.Signal)))
		code := int(ended.Load())
		cancel()
		if inFlight.Load() != nil {
			// Wait for the work to unwind (multipart uploads aborted), up
			// to a grace period or another signal.
			fmt.Fprintln(os.Stderr, "mlseal: interrupted: aborting the uploads in flight (interrupt again to leave at once)")
			select {
			case <-unwound:
				return
			case <-sig:
			case <-time.After(interruptGrace):
			}
		}
		// A partial output must never be left behind: the jobs' and the
		// commands' temporary files are all on atomicfile's one list.
		dataset.RemoveTemporaryFiles()
		reportUploads()
		os.Exit(code)
	}()
	code := run(ctx, os.Args[1:], &app{stdin: os.Stdin, stdout: stdout, stderr: os.Stderr})
	close(unwound)
	if c := ended.Load(); c != 0 {
		dataset.RemoveTemporaryFiles()
		code = int(c)
	}
	os.Exit(code)
}

// app holds the standard streams, so that commands never reach for the
// os globals directly.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	// started is set when a command's RunE begins: an error returned before
	// that comes from parsing flags and arguments.
	started bool
	// quiet (--quiet) draws no progress and prints no summaries.
	quiet bool
}

// run executes the command line args and returns the process exit code.
func run(ctx context.Context, args []string, a *app) int {
	root := a.rootCmd()
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	if !a.started {
		err = usageFromCobra(err, cmd)
	}
	return a.report(err)
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "mlseal",
		Short:         "Streaming envelope encryption in the AWS Encryption SDK message format",
		Long:          rootLong + exitCodeHelp, // help.go
		Version:       versionString(),
		SilenceErrors: true,
		SilenceUsage:  true,
		// Args is left nil: cobra then refuses unknown commands, with
		// suggestions, before RunE.
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(a.stderr)
			_ = cmd.Help()
			return usageErrorf("no command given")
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetIn(a.stdin)
	var debug bool
	root.PersistentFlags().BoolVar(&debug, "debug", false, "log the AWS SDK's warnings, debug notes and retries on stderr")
	root.PersistentFlags().BoolVarP(&a.quiet, "quiet", "q", false, "draw no progress bars and print no summaries (errors still)")
	root.PersistentPreRun = func(*cobra.Command, []string) { setAWSDebug(debug, a.stderr) }
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &cliError{err: err, code: exitUsage, hint: fmt.Sprintf("see '%s --help'", c.CommandPath())}
	})
	root.AddCommand(
		a.keygenCmd(),
		a.encryptCmd(),
		a.decryptCmd(),
		a.verifyCmd(),
		a.inspectCmd(),
		a.versionCmd(),
	)
	for _, c := range productCommands {
		root.AddCommand(c(a))
	}
	addExamples(root)
	return root
}

// productCommands are the command groups of mlseal's other packages
// (tokenize, secrets, s3, ...), each registered from its own file so that
// they can grow apart from the envelope commands above.
var productCommands []func(*app) *cobra.Command

// runE wraps a command's body so that run can tell its errors from those
// of flag and argument parsing.
func (a *app) runE(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.started = true
		return f(cmd, args)
	}
}

// cliError carries an exit code and a hint along with an error.
type cliError struct {
	err  error
	code int // 0: decided by exitCode from err
	hint string
}

func (e *cliError) Error() string { return e.err.Error() }
func (e *cliError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &cliError{err: fmt.Errorf(format, args...), code: exitUsage}
}

// withHint attaches a hint to err, keeping its exit code.
func withHint(err error, hint string) error {
	if err == nil || hint == "" {
		return err
	}
	var ce *cliError
	if errors.As(err, &ce) && ce.hint == "" {
		ce.hint = hint
		return err
	}
	return &cliError{err: err, hint: hint}
}

// usageFromCobra turns an error from cobra's own parsing into a usage error.
func usageFromCobra(err error, cmd *cobra.Command) error {
	var ce *cliError
	if errors.As(err, &ce) {
		return err
	}
	msg, suggest, _ := strings.Cut(err.Error(), "\n\nDid you mean this?\n")
	hint := fmt.Sprintf("see '%s --help'", cmd.CommandPath())
	if s := strings.Fields(suggest); len(s) > 0 {
		hint = fmt.Sprintf("did you mean '%s %s'?", cmd.CommandPath(), s[0])
	}
	return &cliError{err: errors.New(strings.TrimSpace(msg)), code: exitUsage, hint: hint}
}

// batchError reports a batch in which some items failed; the items' own
// errors have been printed already.
type batchError struct{ failed, total int }

func (e *batchError) Error() string {
	return fmt.Sprintf("%d of %d inputs failed", e.failed, e.total)
}

// exitCode maps an error to the process exit code.
func exitCode(err error) int {
	var be *batchError
	if errors.As(err, &be) {
		return exitBatch
	}
	var ce *cliError
	if errors.As(err, &ce) && ce.code != 0 {
		return ce.code
	}
	if envelope.IsIntegrityError(err) {
		return exitIntegrity
	}
	return exitError
}

// report prints err and its hint on stderr and returns the exit code. A
// write to a stdout whose reader has gone (mlseal ... | head) is the
// reader's choice, and ends mlseal quietly, as SIGPIPE ends other programs.
func (a *app) report(err error) int {
	if s, ok := a.stdout.(*stdoutWriter); !ok || !s.closed.Load() || !errors.Is(err, syscall.EPIPE) {
		a.printError("", err)
	}
	return exitCode(err)
}

// printError prints "mlseal: error: [item: ]err" and the hint, if any.
func (a *app) printError(item string, err error) {
	if item != "" {
		item += ": "
	}
	fmt.Fprintf(a.stderr, "mlseal: error: %s%v\n", item, err)
	if h := hintOf(err); h != "" {
		fmt.Fprintf(a.stderr, "mlseal: hint: %s\n", h)
	}
}

func hintOf(err error) string {
	var ce *cliError
	if errors.As(err, &ce) {
		return ce.hint
	}
	return ""
}

// logf prints a status line on stderr.
func (a *app) logf(format string, args ...any) {
	fmt.Fprintf(a.stderr, "mlseal: "+format+"\n", args...)
}

// stdoutWriter is stdout, which calls epipe when the reader of a pipe
// has gone.
type stdoutWriter struct {
	f      *os.File
	epipe  func()
	closed atomic.Bool // a write failed with EPIPE
}

func (w *stdoutWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if errors.Is(err, syscall.EPIPE) {
		w.closed.Store(true)
		w.epipe()
	}
	return n, err
}

// isTerminal reports whether w is a terminal. Other character devices,
// such as /dev/null, are not: mlseal writes to them as to files.
func isTerminal(w any) bool {
	if s, ok := w.(*stdoutWriter); ok {
		w = s.f
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
