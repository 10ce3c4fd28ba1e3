package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mlseal/mlseal/tokenize"
)

func init() {
	productCommands = append(productCommands, (*app).scanCmd)
}

type scanFlags struct {
	format      string
	sample      int
	json        bool
	writePolicy string
	force       bool
}

func (a *app) scanCmd() *cobra.Command {
	var f scanFlags
	cmd := &cobra.Command{
		Use:   "scan [flags] [IN]",
		Short: "Report the personal data and credentials found in CSV or JSON Lines records",
		Long: `Read a sample of the records of IN, one file (default stdin), and report, per field, the
PII types found and how sure the scanner is: email addresses, phone numbers,
US SSNs, payment card numbers (Luhn and issuer ranges), IBANs (mod-97),
IPv4/IPv6 addresses, dates of birth and people's names (both only in fields
whose names say so), and credentials that must never be in training data
(AWS access key ids and secret keys, private keys, bearer tokens). Names of
people inside free text are not found. Precision and recall on a labelled
test set are in tokenize/README.md.

--write-policy FILE writes a starter policy for 'mlseal tokenize': free text
and fields holding PII of several kinds get 'scan'; review it before use.

` + exitCodeHelp,
		Args: cobra.MaximumNArgs(1),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			return a.scan(&f, args)
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&f.format, "format", "", "record format: `csv|jsonl|parquet` (default: from IN's extension)")
	fl.IntVar(&f.sample, "sample", tokenize.DefaultSampleRecords, "`N` records to read from the start of IN")
	fl.BoolVar(&f.json, "json", false, "print the report as JSON")
	fl.StringVar(&f.writePolicy, "write-policy", "", "write a starter policy to `FILE`")
	fl.BoolVarP(&f.force, "force", "f", false, "overwrite an existing policy file")
	return cmd
}

func (a *app) scan(f *scanFlags, args []string) error {
	in := "-"
	if len(args) == 1 {
		in = args[0]
	}
	if f.sample <= 0 {
		return usageErrorf("--sample must be positive")
	}
	if isDir(in) {
		return scanDirError(in)
	}
	format, err := formatOf(f.format, in)
	if err != nil {
		return err
	}
	if f.writePolicy == "-" {
		return usageErrorf("--write-policy needs a file name")
	}
	if err := checkOutput(f.writePolicy, f.force); err != nil {
		return err
	}
	r, closeIn, err := a.openInput(in)
	if err != nil {
		return err
	}
	defer closeIn()
	var rep *tokenize.ScanReport
	if format == tokenize.FormatParquet {
		ra, size, cleanup, serr := readerAt(r)
		if serr != nil {
			return serr
		}
		defer cleanup()
		rep, err = tokenize.ScanParquet(ra, size, tokenize.ScanOptions{SampleRecords: f.sample})
	} else {
		rep, err = tokenize.Scan(r, tokenize.ScanOptions{Format: format, SampleRecords: f.sample})
	}
	if err != nil {
		return fmt.Errorf("%s: %w", displayName(in, false), err)
	}
	if f.json {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%s\n", b)
	} else {
		fmt.Fprint(a.stdout, rep.Text())
	}
	if f.writePolicy == "" {
		return nil
	}
	p := rep.Policy()
	if len(p.Fields) == 0 {
		return &cliError{err: errors.New("no field holds PII with enough confidence: no policy written"),
			hint: "write the policy by hand; its schema is in tokenize/FORMAT.md"}
	}
	b, err := p.Marshal()
	if err != nil {
		return err
	}
	o, err := a.createOutput(f.writePolicy, f.force, 0o644)
	if err != nil {
		return err
	}
	if _, err := o.w.Write(b); err != nil {
		o.abort()
		return err
	}
	if err := o.commit(); err != nil {
		return err
	}
	a.logf("wrote a starter policy for %d fields to %s; review it before use", len(p.Fields), f.writePolicy)
	return nil
}

// scanDirError says that scan takes one file, and names a file of dir to
// try: the files of a dataset share their fields, so one is a fair sample.
func scanDirError(dir string) error {
	hint := "name one of its CSV, JSON Lines or Parquet files"
	entries, _ := os.ReadDir(dir) // sorted by name
	for _, e := range entries {
		if _, err := formatOf("", e.Name()); err == nil && e.Type().IsRegular() {
			hint = "try: mlseal scan " + filepath.Join(dir, e.Name())
			break
		}
	}
	return &cliError{err: fmt.Errorf("scan reads one file, and %s is a directory", dir), code: exitUsage, hint: hint}
}
