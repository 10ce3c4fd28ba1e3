package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The policy logic and its tests live in package iampolicy; these tests
// check that the flags reach it and that its answers and errors are
// rendered.

const (
	arn1 = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	arn2 = "arn:aws:kms:eu-west-1:111122223333:key/mrk-4321abcd12ab34cd56ef1234567890ab"
)

// TestPolicyFlags: each set of flags prints, byte for byte, the document of
// the same job in iampolicy/testdata.
func TestPolicyFlags(t *testing.T) {
	e := newEnv(t)
	const secretKey = "arn:aws:kms:eu-west-1:111122223333:key/1111abcd-12ab-34cd-56ef-1234567890ab"
	for golden, args := range map[string][]string{
		"encrypt-two-keys":   {"--key", "kms:" + arn1, "--key", arn2, "--context", "dataset=reviews", "-c", "stage=train"},
		"decrypt-unsigned":   {"--role", "decrypt", "--key", arn1, "--key", arn2, "--key", arn1, "-c", "k=v", "--unsigned-only"},
		"decrypt-no-context": {"--role", "decrypt", "--key", arn1},
		"encrypt-one-key":    {"--key", arn1},
		"rewrap-whole-job": {"--role", "rewrap", "--old-key", arn1, "--key", arn2, "-c", "dataset=train",
			"--s3-read", "s3://raw/train/", "--s3-write", "s3://enc/train/", "--manifest", "s3://enc/state/job.jsonl", "--audit", "s3://audit/job.jsonl",
			"--secret", "secretsmanager://prod/db#password", "--secret", "secretsmanager://prod/api?stage=AWSPREVIOUS", "--secret", "secretsmanager://prod/cfg",
			"--secret", "ssm:///prod/token", "--secret", "env://HOME",
			"--region", "eu-west-1", "--account", "111122223333", "--secret-kms-key", secretKey},
		"reencrypt": {"--role", "reencrypt", "--old-key", arn1, "--key", arn2, "--key", arn1, "--unsigned-only"},
		"s3-bucket-and-parameters": {"--s3-read", "s3://raw", "--s3-read", "s3://raw2/one.csv",
			"--secret", "ssm://arn:aws:ssm:us-east-1:111122223333:parameter/a", "--secret", "ssm://arn:aws:ssm:us-east-1:111122223333:parameter/b"},
		"verify-role":             {"--role", "VERIFY", "--key", arn1, "-c", "a=1", "-c", "b=2", "-c", "a=1"},
		"reencrypt-old-keys-only": {"--role", "reencrypt", "--old-key", arn1},
		"s3-prefixes-objects-cn": {"--s3-read", "s3://a/x/", "--s3-read", "s3://a/y/", "--s3-read", "s3://b/", "--s3-read", "s3://a/x/", "--s3-read", "s3://a/",
			"--s3-write", "s3://a/out/", "--s3-write", "s3://a/one.txt", "--s3-write", "s3://a/out/", "--manifest", "s3://m/m.json", "--audit", "s3://m/m.json",
			"--partition", "aws-cn"},
		"secrets-by-arn": {"--secret", "secretsmanager://arn:aws:secretsmanager:eu-west-1:111122223333:secret:x-AbCdEf",
			"--secret", "secretsmanager://arn:aws:secretsmanager:eu-west-1:111122223333:secret:y-AbCdEf",
			"--secret-kms-key", "kms:" + secretKey, "--secret-kms-key", "arn:aws:kms:us-east-1:111122223333:key/1111abcd-12ab-34cd-56ef-1234567890ab"},
		"parameters-gov": {"--secret", "ssm:///a", "--secret", "ssm:///b", "--secret", "ssm:///a", "--secret", "ssm:///c?decrypt=false",
			"--region", "eu-west-1", "--account", "111122223333", "--partition", "aws-us-gov", "--secret-kms-key", secretKey},
	} {
		want, err := os.ReadFile(filepath.Join("..", "..", "iampolicy", "testdata", golden+".policy.json"))
		if err != nil {
			t.Fatal(err)
		}
		r := e.ok(nil, append([]string{"policy"}, args...)...)
		if !bytes.Equal(r.stdout, want) {
			t.Errorf("mlseal policy %s printed\n%s\nwant iampolicy/testdata/%s.policy.json", strings.Join(args, " "), r.stdout, golden)
		}
		if r.stderr != "" {
			t.Errorf("mlseal policy %s: stderr %q", strings.Join(args, " "), r.stderr)
		}
	}
}

// TestPolicyRefusals: a job that cannot be written as a policy is a usage
// error that names the flag and the value, and prints no policy.
func TestPolicyRefusals(t *testing.T) {
	e := newEnv(t)
	const keyHint = "mlseal: hint: a policy names keys by key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID); 'aws kms describe-key --key-id alias/NAME' shows an alias's key ARN\n"
	const nameHint = "mlseal: hint: pass --region and --account, so that the policy names it by ARN, or give the reference as an ARN\n"
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{nil, "mlseal: error: policy needs something to allow: --key, --s3-read, --s3-write or --secret\n" +
			"mlseal: hint: pass --key arn:aws:kms:REGION:ACCOUNT:key/ID ('mlseal inspect' shows the key ARNs of a message)\n"},
		{[]string{"--context", "a=1"}, "mlseal: error: policy needs something to allow"},
		{[]string{"--key", "alias/training"}, "mlseal: error: --key \"alias/training\" is not a KMS key ARN\n" + keyHint},
		{[]string{"--key", "arn:aws:kms:us-east-1:111122223333:alias/training"}, "mlseal: error: --key \"arn:aws:kms:us-east-1:111122223333:alias/training\" is not a KMS key ARN\n" + keyHint},
		{[]string{"--key", "1234abcd-12ab-34cd-56ef-1234567890ab"}, "mlseal: error: --key \"1234abcd-12ab-34cd-56ef-1234567890ab\" is not a KMS key ARN\n" + keyHint},
		{[]string{"--role", "rewrap", "--old-key", "alias/old", "--key", arn2}, "mlseal: error: --old-key \"alias/old\" is not a KMS key ARN\n" + keyHint},
		{[]string{"--secret-kms-key", "alias/x", "--secret", "ssm:///a", "--region", "r", "--account", "1"}, "mlseal: error: --secret-kms-key \"alias/x\" is not a KMS key ARN\n" + keyHint},
		{[]string{"--key", arn1, "--role", "admin"}, "mlseal: error: --role \"admin\" is not one of encrypt, decrypt, rewrap and reencrypt\n"},
		{[]string{"--key", arn1, "--context", "novalue"}, "mlseal: error: --context \"novalue\" is not KEY=VALUE\n"},
		{[]string{"--key", arn1, "--context", "aws-crypto-public-key=x"}, "mlseal: error: --context \"aws-crypto-public-key=x\": keys starting with aws-crypto- are reserved\n"},
		{[]string{"--role", "decrypt", "--key", arn1, "--old-key", arn2}, "mlseal: error: --old-key goes with --role rewrap or reencrypt\n"},
		{[]string{"--s3-read", "raw/train/"}, "mlseal: error: --s3-read \"raw/train/\" is not an s3://BUCKET/PREFIX/ or s3://BUCKET/KEY URL\n"},
		{[]string{"--s3-read", "s3://raw/train/*"}, "mlseal: error: --s3-read \"s3://raw/train/*\" is not an s3://BUCKET/PREFIX/ or s3://BUCKET/KEY URL\n"},
		{[]string{"--s3-write", "s3:///x"}, "mlseal: error: --s3-write \"s3:///x\" is not an s3://BUCKET/PREFIX/ or s3://BUCKET/KEY URL\n"},
		{[]string{"--manifest", "s3://b/state/"}, "mlseal: error: --manifest/--audit \"s3://b/state/\" names a prefix, not an object\n"},
		{[]string{"--audit", "s3://b/"}, "mlseal: error: --manifest/--audit \"s3://b/\" names a prefix, not an object\n"},
		{[]string{"--secret", "secretsmanager://prod/db"}, "mlseal: error: --secret secretsmanager://prod/db is named without an ARN\n" + nameHint},
		{[]string{"--secret", "ssm:///prod/db", "--region", "eu-west-1"}, "mlseal: error: --secret ssm:///prod/db is named without an ARN\n" + nameHint},
		{[]string{"--secret", "nope://x"}, "mlseal: error: --secret: secret reference \"nope://x\": scheme: unknown scheme \"nope\""},
		{[]string{"--s3-read", "s3://b/", "--secret-kms-key", arn1}, "mlseal: error: --secret-kms-key goes with the --secret references it decrypts\n"},
	} {
		r := e.fail(exitUsage, nil, append([]string{"policy"}, tc.args...)...)
		if len(r.stdout) != 0 {
			t.Errorf("%v printed a policy", tc.args)
		}
		if !strings.HasPrefix(r.stderr, tc.stderr) {
			t.Errorf("mlseal policy %s: stderr\n%s\nwant\n%s", strings.Join(tc.args, " "), r.stderr, tc.stderr)
		}
	}
}
