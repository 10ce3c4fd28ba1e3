package main

// Examples for every command's --help, kept together so that they read as
// one tour of mlseal and use the same names throughout: team.key, a KMS
// key alias/prep, the bucket s3://data.

import (
	"strings"

	"github.com/spf13/cobra"
)

// rootLong is the root command's description: every capability, each
// with the command that has it.
const rootLong = `mlseal encrypts and decrypts files, streams, directories and S3 datasets in
the AWS Encryption SDK message format, tokenizes personal data in records,
and hands secrets to jobs.

  Keys          keygen: local key files (raw AES, raw RSA); --key kms:ARN
                uses AWS KMS keys, several keys wrap one data key
  Files         encrypt, decrypt, verify, inspect: stdin/stdout, files, and
                several files or a directory into another with -o DIR/
  S3 datasets   the same commands on s3://bucket/prefix/, in parallel, with
                --manifest (resume), --shard, --audit; rewrap changes the
                wrapping keys without re-encrypting
  Records       scan finds personal data; tokenize and detokenize transform
                CSV, JSON Lines and Parquet with a policy; tokenize keygen
                and tokenize rotate manage their keyset
  Secrets       secrets get, exec and serve: Secrets Manager, SSM Parameter
                Store, environment and files, by reference
  IAM           policy prints the least-privilege policy of a job
  Shells        completion writes a completion script for bash, zsh, fish
                or PowerShell

Input is stdin and output is stdout unless named; "-" names them explicitly.
Without --key, encrypt uses (and the first time creates) the default key in
your config directory; decrypt and verify use it but never create it. On a
terminal, long jobs draw a progress bar on stderr (--quiet: none).

`

// examples maps a command's path (without "mlseal ") to its Examples.
var examples = map[string]string{
	"": `  mlseal keygen -o team.key
  mlseal encrypt -k team.key -o report.pdf.enc report.pdf
  mlseal decrypt -k team.key -o report.pdf report.pdf.enc`,
	"keygen": `  mlseal keygen -o team.key
  mlseal keygen --kind raw-rsa -o ops.key --public-out ops.pub
  mlseal keygen --kind token-keyset -k team.key -o tok.keyset`,
	"encrypt": `  mlseal encrypt -k team.key -o data.csv.enc data.csv
  tar c logs/ | mlseal encrypt -k kms:alias/prep > logs.tar.enc
  mlseal encrypt -k team.key -o encrypted/ shards/*.csv
  mlseal encrypt -k kms:alias/prep -c project=prep s3://data/raw/ -o s3://data/sealed/ --manifest run.jsonl`,
	"decrypt": `  mlseal decrypt -k team.key -o data.csv data.csv.enc
  mlseal decrypt -k team.key < logs.tar.enc | tar x
  mlseal decrypt -k kms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab -o plain/ encrypted/
  mlseal decrypt --discovery -c project=prep s3://data/sealed/ -o s3://data/plain/`,
	"verify": `  mlseal verify -k team.key data.csv.enc
  mlseal verify -k kms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab s3://data/sealed/`,
	"inspect": `  mlseal inspect data.csv.enc
  mlseal inspect --json data.csv.enc | jq .encrypted_data_keys`,
	"rewrap": `  mlseal rewrap --old-key old.key -k new.key -o rewrapped/ encrypted/
  mlseal rewrap --old-key kms:alias/old -k kms:alias/prep --in-place s3://data/sealed/
  mlseal rewrap --reencrypt --old-key leaked.key -k new.key -o safe.enc data.csv.enc`,
	"bench": `  mlseal bench
  mlseal bench --size 256 --frame-length 1048576`,
	"version": `  mlseal version
  mlseal version --verbose`,
	"policy": `  mlseal policy --role encrypt -k arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab --s3-read s3://data/raw/ --s3-write s3://data/sealed/
  mlseal policy --role decrypt -k arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab -c project=prep --secret secretsmanager://prod/db`,
	"scan": `  mlseal scan customers.csv
  mlseal scan --write-policy policy.json customers.csv`,
	"tokenize": `  mlseal tokenize --policy policy.json --keyset tok.keyset -k team.key -o tokens.csv customers.csv
  mlseal tokenize --policy policy.json --keyset tok.keyset --rejects bad.csv -o tokens.csv customers.csv
  mlseal tokenize --policy policy.json --keyset tok.keyset -k kms:alias/prep s3://data/raw/ -o s3://data/tokens/`,
	"tokenize keygen": `  mlseal tokenize keygen -k team.key -o tok.keyset
  mlseal tokenize keygen -k kms:alias/prep -o tok.keyset`,
	"tokenize rotate": `  mlseal tokenize rotate --keyset tok.keyset -k team.key -o tok2.keyset`,
	"detokenize":      `  mlseal detokenize --policy policy.json --keyset tok.keyset -k team.key -o customers.csv tokens.csv`,
	"secrets": `  mlseal secrets get ssm:///prod/api/token
  mlseal secrets exec --env DB_PASSWORD=secretsmanager://prod/db#password -- python prep.py
  mlseal secrets serve --listen 127.0.0.1:2773`,
	"completion": `  mlseal completion bash > /etc/bash_completion.d/mlseal
  mlseal completion zsh > "${fpath[1]}/_mlseal"
  mlseal completion fish > ~/.config/fish/completions/mlseal.fish`,
	"completion bash": `  source <(mlseal completion bash)
  mlseal completion bash > /etc/bash_completion.d/mlseal`,
	"completion zsh":        `  mlseal completion zsh > "${fpath[1]}/_mlseal"`,
	"completion fish":       `  mlseal completion fish > ~/.config/fish/completions/mlseal.fish`,
	"completion powershell": `  mlseal completion powershell | Out-String | Invoke-Expression`,
	"help": `  mlseal help encrypt
  mlseal help tokenize keygen`,
}

// addExamples gives every command of root, cobra's help and completion
// commands included, its Examples, unless its own file gave it some.
func addExamples(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		path := strings.TrimPrefix(strings.TrimPrefix(c.CommandPath(), root.Name()), " ")
		if ex, ok := examples[path]; ok && c.Example == "" && !strings.Contains(c.Long, "\nExamples:\n") {
			c.Example = ex
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
