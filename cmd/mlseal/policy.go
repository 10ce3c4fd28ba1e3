package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mlseal/mlseal/iampolicy"
)

func init() { productCommands = append(productCommands, (*app).policyCmd) }

type policyFlags struct {
	keys         []string
	oldKeys      []string
	context      []string
	role         string
	unsignedOnly bool
	s3Read       []string
	s3Write      []string
	manifests    []string
	audits       []string
	secrets      []string
	secretKeys   []string
	region       string
	account      string
	partition    string
}

const policyHelp = `Print the IAM policy JSON that a job needs, and nothing more: its AWS KMS
keys, the S3 data it reads and writes, and the secrets it fetches.

KMS (--key, --old-key, --role):
  encrypt    kms:GenerateDataKey on the first --key (which generates each data
             key) and kms:Encrypt on the others (which wrap it too);
  decrypt    kms:Decrypt on every --key (also for verify, tokenize and
             detokenize, whose keysets are wrapped);
  rewrap     kms:Decrypt on every --old-key, kms:Encrypt on every --key (rewrap
             wraps the data key it unwrapped and never generates one);
  reencrypt  kms:Decrypt on every --old-key, and the encrypt role's actions on
             the --key keys.
Keys are named by key ARN (with or without the kms: prefix; aliases cannot be
used in a policy's resources). With --context, each pair becomes a
kms:EncryptionContext:KEY condition, and kms:EncryptionContextKeys is limited to
those keys, so that the keys can be used with this context only. Signed suites
add aws-crypto-public-key (the message's signature verification key) to the
context that KMS sees, so it is allowed too unless --unsigned-only says the job
writes and reads unsigned messages only.

S3 (--s3-read, --s3-write, --manifest, --audit):
  --s3-read s3://BUCKET/PREFIX/   s3:ListBucket on the bucket, only for
                                  prefixes under PREFIX (an s3:prefix
                                  condition), and s3:GetObject on the objects
                                  under it; an object URL without a final
                                  slash allows that object only. The
                                  server-side copies of rewrap (UploadPartCopy)
                                  read their source with s3:GetObject too.
  --s3-write s3://BUCKET/PREFIX/  s3:PutObject (which also allows the
                                  multipart upload calls and UploadPartCopy
                                  into the prefix), s3:AbortMultipartUpload
                                  (failed uploads are aborted) and s3:GetObject
                                  (HeadObject: an existing output is never
                                  replaced without --force, and a rerun with a
                                  manifest checks what is done).
  --manifest, --audit s3://BUCKET/KEY   s3:GetObject and s3:PutObject on that
                                  object (and s3:AbortMultipartUpload).
Rewrapping in place reads and writes the same prefix: give it to both.

Secrets (--secret REF, as secrets get and secrets exec take them):
  secretsmanager://NAME-OR-ARN   secretsmanager:GetSecretValue on the secret
                                 (a name becomes arn:...:secret:NAME-??????,
                                 which needs --region and --account); with two
                                 or more AWSCURRENT secrets also
                                 secretsmanager:BatchGetSecretValue, which IAM
                                 takes only on resource "*" (it still needs
                                 GetSecretValue on each secret it returns).
  ssm:///NAME                    ssm:GetParameter on the parameter; with two or
                                 more decrypted parameters also
                                 ssm:GetParameters on the same parameters.
  env://, file://                nothing.
A secret or SecureString parameter encrypted under a customer managed KMS key
also needs kms:Decrypt on that key through the service: pass its ARN with
--secret-kms-key (AWS managed keys need nothing).

Attach the policy to the job's role; key policies and bucket policies must
also allow the role.

` + exitCodeHelp

func (a *app) policyCmd() *cobra.Command {
	var f policyFlags
	cmd := &cobra.Command{
		Use:   "policy [--key ARN]... [--context KEY=VALUE]... [--role ROLE] [--s3-read URL]... [--s3-write URL]... [--secret REF]...",
		Short: "Print the least-privilege IAM policy for a job: KMS keys, S3 data and secrets",
		Long:  policyHelp,
		Args:  cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			ec, err := parseContext(f.context)
			if err != nil {
				return err
			}
			p, err := iampolicy.New(iampolicy.Job{
				Role: iampolicy.Role(f.role), Keys: f.keys, OldKeys: f.oldKeys,
				EncryptionContext: ec, UnsignedOnly: f.unsignedOnly,
				S3Read: f.s3Read, S3Write: f.s3Write, Manifests: f.manifests, AuditTrails: f.audits,
				Secrets: f.secrets, SecretKeys: f.secretKeys,
				Region: f.region, Account: f.account, Partition: f.partition,
			})
			if err != nil {
				return policyError(err)
			}
			out, err := json.MarshalIndent(p, "", "  ")
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "%s\n", out)
			return err
		}),
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.keys, "key", "k", nil, "AWS KMS key `ARN` (repeatable; for encrypt the first generates the data key)")
	fl.StringArrayVar(&f.oldKeys, "old-key", nil, "AWS KMS key `ARN` that rewrap or reencrypt unwraps with (repeatable)")
	fl.StringArrayVarP(&f.context, "context", "c", nil, "encryption context pair `KEY=VALUE` the job uses (repeatable)")
	fl.StringVar(&f.role, "role", "encrypt", "what the job does with its KMS keys: `encrypt|decrypt|rewrap|reencrypt`")
	fl.BoolVar(&f.unsignedOnly, "unsigned-only", false, "the job uses unsigned suites only: do not allow aws-crypto-public-key")
	fl.StringArrayVar(&f.s3Read, "s3-read", nil, "s3://BUCKET/PREFIX/ or object `URL` the job reads (repeatable)")
	fl.StringArrayVar(&f.s3Write, "s3-write", nil, "s3://BUCKET/PREFIX/ or object `URL` the job writes (repeatable)")
	fl.StringArrayVar(&f.manifests, "manifest", nil, "the job's s3:// manifest `OBJECT` (repeatable)")
	fl.StringArrayVar(&f.audits, "audit", nil, "the job's s3:// audit trail `OBJECT` (repeatable)")
	fl.StringArrayVar(&f.secrets, "secret", nil, "secret reference `REF` the job fetches, as secrets get takes it (repeatable)")
	fl.StringArrayVar(&f.secretKeys, "secret-kms-key", nil, "customer managed KMS key `ARN` that encrypts a secret or parameter (repeatable)")
	fl.StringVar(&f.region, "region", "", "AWS `REGION` of secrets and parameters named without an ARN")
	fl.StringVar(&f.account, "account", "", "AWS account `ID` of secrets and parameters named without an ARN")
	fl.StringVar(&f.partition, "partition", "aws", "AWS `PARTITION` of the S3 ARNs and of secrets named without an ARN")
	return cmd
}

// policyFlag names the flag of each iampolicy.Job field.
var policyFlag = map[string]string{
	"Role": "--role", "Keys": "--key", "OldKeys": "--old-key", "EncryptionContext": "--context",
	"S3Read": "--s3-read", "S3Write": "--s3-write", "Manifests": "--manifest/--audit", "AuditTrails": "--manifest/--audit",
	"Secrets": "--secret", "SecretKeys": "--secret-kms-key",
}

// policyError words the errors of iampolicy in terms of the flags, as
// mlseal policy printed them before its logic moved there.
func policyError(err error) error {
	if errors.Is(err, iampolicy.ErrNothingToAllow) {
		return &cliError{err: errors.New("policy needs something to allow: --key, --s3-read, --s3-write or --secret"), code: exitUsage,
			hint: "pass --key arn:aws:kms:REGION:ACCOUNT:key/ID ('mlseal inspect' shows the key ARNs of a message)"}
	}
	var fe *iampolicy.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	flag := policyFlag[fe.Field]
	ce := &cliError{code: exitUsage}
	switch {
	case errors.Is(fe, iampolicy.ErrNotKeyARN):
		ce.err = fmt.Errorf("%s %q is not a KMS key ARN", flag, fe.Value)
		ce.hint = "a policy names keys by key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID); 'aws kms describe-key --key-id alias/NAME' shows an alias's key ARN"
	case errors.Is(fe, iampolicy.ErrRole):
		ce.err = fmt.Errorf("--role %q is not one of encrypt, decrypt, rewrap and reencrypt", fe.Value)
	case errors.Is(fe, iampolicy.ErrOldKeysRole):
		ce.err = errors.New("--old-key goes with --role rewrap or reencrypt")
	case errors.Is(fe, iampolicy.ErrNotS3URL):
		ce.err = fmt.Errorf("%s %q is not an s3://BUCKET/PREFIX/ or s3://BUCKET/KEY URL", flag, fe.Value)
	case errors.Is(fe, iampolicy.ErrNotObject):
		ce.err = fmt.Errorf("%s %q names a prefix, not an object", flag, fe.Value)
	case errors.Is(fe, iampolicy.ErrNoARN):
		ce.err = fmt.Errorf("--secret %s is named without an ARN", fe.Value)
		ce.hint = "pass --region and --account, so that the policy names it by ARN, or give the reference as an ARN"
	case errors.Is(fe, iampolicy.ErrKeyWithoutSecret):
		ce.err = errors.New("--secret-kms-key goes with the --secret references it decrypts")
	case fe.Value != "":
		ce.err = fmt.Errorf("%s %q: %w", flag, fe.Value, fe.Err)
	default:
		ce.err = fmt.Errorf("%s: %w", flag, fe.Err)
	}
	return ce
}
