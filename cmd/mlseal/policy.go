package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlseal/mlseal/envelope/keyring/awskms"
	"github.com/mlseal/mlseal/s3io"
	"github.com/mlseal/mlseal/secrets"
)

func init() { productCommands = append(productCommands, (*app).policyCmd) }

// publicKeyContextKey is the encryption context key in which signed suites
// store the signature verification key; KMS sees it with the rest.
const publicKeyContextKey = "aws-crypto-public-key"

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
			p, err := jobPolicy(&f)
			if err != nil {
				return err
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
	fl.BoolVar(&f.unsignedOnly, "unsigned-only", false, "the job uses unsigned suites only: do not allow "+publicKeyContextKey)
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

// iamPolicy is an IAM policy document.
type iamPolicy struct {
	Version   string         `json:"Version"`
	Statement []iamStatement `json:"Statement"`
}

type iamStatement struct {
	Sid       string                    `json:"Sid"`
	Effect    string                    `json:"Effect"`
	Action    []string                  `json:"Action"`
	Resource  []string                  `json:"Resource"`
	Condition map[string]map[string]any `json:"Condition,omitempty"`
}

func (p *iamPolicy) allow(sid string, actions, res []string, cond map[string]map[string]any) {
	if len(res) > 0 {
		p.Statement = append(p.Statement, iamStatement{Sid: sid, Effect: "Allow", Action: actions, Resource: res, Condition: cond})
	}
}

// jobPolicy is the whole policy of a job.
func jobPolicy(f *policyFlags) (*iamPolicy, error) {
	if len(f.keys)+len(f.oldKeys)+len(f.s3Read)+len(f.s3Write)+len(f.manifests)+len(f.audits)+len(f.secrets) == 0 {
		return nil, &cliError{err: fmt.Errorf("policy needs something to allow: --key, --s3-read, --s3-write or --secret"), code: exitUsage,
			hint: "pass --key arn:aws:kms:REGION:ACCOUNT:key/ID ('mlseal inspect' shows the key ARNs of a message)"}
	}
	p := &iamPolicy{Version: "2012-10-17"}
	if err := kmsStatements(p, f); err != nil {
		return nil, err
	}
	if err := s3Statements(p, f); err != nil {
		return nil, err
	}
	if err := secretStatements(p, f); err != nil {
		return nil, err
	}
	return p, nil
}

// kmsARNs checks that keys are KMS key ARNs and removes duplicates.
func kmsARNs(flag string, keys []string) ([]string, error) {
	var arns []string
	for _, k := range keys {
		id := k
		if s, ok := kmsRef(k); ok {
			id = s
		}
		a, err := awskms.ParseARN(id)
		if err != nil || a.ResourceType != "key" {
			return nil, &cliError{err: fmt.Errorf("%s %q is not a KMS key ARN", flag, k), code: exitUsage,
				hint: "a policy names keys by key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID); 'aws kms describe-key --key-id alias/NAME' shows an alias's key ARN"}
		}
		if !slices.Contains(arns, id) {
			arns = append(arns, id)
		}
	}
	return arns, nil
}

func kmsStatements(p *iamPolicy, f *policyFlags) error {
	arns, err := kmsARNs("--key", f.keys)
	if err != nil {
		return err
	}
	old, err := kmsARNs("--old-key", f.oldKeys)
	if err != nil {
		return err
	}
	ec, err := parseContext(f.context)
	if err != nil {
		return err
	}
	var cond map[string]map[string]any
	if len(ec) > 0 {
		eq := map[string]any{}
		keys := []string{}
		for k, v := range ec {
			eq["kms:EncryptionContext:"+k] = v
			keys = append(keys, k)
		}
		if !f.unsignedOnly {
			keys = append(keys, publicKeyContextKey)
		}
		slices.Sort(keys)
		cond = map[string]map[string]any{
			"StringEquals": eq,
			// Only these keys: no other context can be used with the keys.
			"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": keys},
		}
	}
	role := strings.ToLower(f.role)
	if len(old) > 0 && role != "rewrap" && role != "reencrypt" {
		return &cliError{err: fmt.Errorf("--old-key goes with --role rewrap or reencrypt"), code: exitUsage}
	}
	switch role {
	case "encrypt", "reencrypt":
		p.allow("MlsealDecryptOld", []string{"kms:Decrypt"}, old, cond)
		if len(arns) > 0 {
			p.allow("MlsealGenerateDataKey", []string{"kms:GenerateDataKey"}, arns[:1], cond)
			p.allow("MlsealWrapDataKey", []string{"kms:Encrypt"}, arns[1:], cond)
		}
	case "decrypt", "verify":
		p.allow("MlsealDecrypt", []string{"kms:Decrypt"}, arns, cond)
	case "rewrap":
		p.allow("MlsealDecryptOld", []string{"kms:Decrypt"}, old, cond)
		p.allow("MlsealWrapDataKey", []string{"kms:Encrypt"}, arns, cond)
	default:
		return &cliError{err: fmt.Errorf("--role %q is not one of encrypt, decrypt, rewrap and reencrypt", f.role), code: exitUsage}
	}
	return nil
}

// s3Statements allows the S3 calls of the job's reads and writes.
func s3Statements(p *iamPolicy, f *policyFlags) error {
	part := f.partition
	arn := func(bucket, key string) string { return "arn:" + part + ":s3:::" + bucket + "/" + key }
	var (
		lists   = map[string][]string{} // bucket: prefixes listed
		buckets []string
		reads   []string
		writes  []string
		state   []string
	)
	parse := func(flag, u string) (bucket, key string, prefix bool, err error) {
		bucket, key, err = s3io.ParseURL(u)
		if err != nil || strings.ContainsAny(key, "*?") {
			return "", "", false, &cliError{err: fmt.Errorf("%s %q is not an s3://BUCKET/PREFIX/ or s3://BUCKET/KEY URL", flag, u), code: exitUsage}
		}
		return bucket, key, key == "" || strings.HasSuffix(key, "/"), nil
	}
	for _, u := range f.s3Read {
		b, k, prefix, err := parse("--s3-read", u)
		if err != nil {
			return err
		}
		if !prefix {
			reads = appendNew(reads, arn(b, k))
			continue
		}
		if _, ok := lists[b]; !ok {
			buckets = append(buckets, b)
		}
		lists[b] = appendNew(lists[b], k+"*")
		reads = appendNew(reads, arn(b, k+"*"))
	}
	for _, u := range f.s3Write {
		b, k, prefix, err := parse("--s3-write", u)
		if err != nil {
			return err
		}
		if prefix {
			k += "*"
		}
		writes = appendNew(writes, arn(b, k))
	}
	for _, u := range slices.Concat(f.manifests, f.audits) {
		b, k, prefix, err := parse("--manifest/--audit", u)
		if err != nil {
			return err
		}
		if prefix {
			return &cliError{err: fmt.Errorf("--manifest/--audit %q names a prefix, not an object", u), code: exitUsage}
		}
		state = appendNew(state, arn(b, k))
	}
	for i, b := range buckets {
		var cond map[string]map[string]any
		if !slices.Contains(lists[b], "*") {
			// Listing only under the prefixes read: ListObjectsV2's prefix
			// is the source's, or longer.
			cond = map[string]map[string]any{"StringLike": {"s3:prefix": lists[b]}}
		}
		p.allow(fmt.Sprintf("MlsealS3List%d", i), []string{"s3:ListBucket"}, []string{"arn:" + part + ":s3:::" + b}, cond)
	}
	p.allow("MlsealS3Read", []string{"s3:GetObject"}, reads, nil)
	p.allow("MlsealS3Write", []string{"s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"}, writes, nil)
	p.allow("MlsealS3JobState", []string{"s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"}, state, nil)
	return nil
}

// secretStatements allows the calls that secrets get and secrets exec make
// for the references.
func secretStatements(p *iamPolicy, f *policyFlags) error {
	var sm, ssmARNs []string
	smBatch, ssmBatch := 0, 0
	for _, s := range f.secrets {
		ref, err := secrets.ParseRef(s)
		if err != nil {
			return &cliError{err: fmt.Errorf("--secret: %w", err), code: exitUsage}
		}
		name := ref.Name()
		switch ref.Scheme() {
		case secrets.SchemeSecretsManager:
			if !strings.HasPrefix(name, "arn:") {
				if err := needRegionAccount(f, s); err != nil {
					return err
				}
				// The ARN ends in a hyphen and six random characters.
				name = fmt.Sprintf("arn:%s:secretsmanager:%s:%s:secret:%s-??????", f.partition, f.region, f.account, name)
			}
			if !slices.Contains(sm, name) {
				sm = append(sm, name)
				if ref.VersionID() == "" && ref.Stage() == secrets.StageCurrent {
					smBatch++
				}
			}
		case secrets.SchemeSSM:
			if !strings.HasPrefix(name, "arn:") {
				if err := needRegionAccount(f, s); err != nil {
					return err
				}
				name = fmt.Sprintf("arn:%s:ssm:%s:%s:parameter/%s", f.partition, f.region, f.account, strings.TrimPrefix(name, "/"))
			}
			if !slices.Contains(ssmARNs, name) {
				ssmARNs = append(ssmARNs, name)
				if ref.Decrypt() {
					ssmBatch++
				}
			}
		}
	}
	p.allow("MlsealGetSecretValue", []string{"secretsmanager:GetSecretValue"}, sm, nil)
	if smBatch > 1 {
		p.allow("MlsealBatchGetSecretValue", []string{"secretsmanager:BatchGetSecretValue"}, []string{"*"}, nil)
	}
	p.allow("MlsealGetParameter", []string{"ssm:GetParameter"}, ssmARNs, nil)
	if ssmBatch > 1 {
		p.allow("MlsealGetParameters", []string{"ssm:GetParameters"}, ssmARNs, nil)
	}
	keys, err := kmsARNs("--secret-kms-key", f.secretKeys)
	if err != nil {
		return err
	}
	var via []string
	for _, k := range keys {
		a, _ := awskms.ParseARN(k)
		if len(sm) > 0 {
			via = appendNew(via, "secretsmanager."+a.Region+".amazonaws.com")
		}
		if len(ssmARNs) > 0 {
			via = appendNew(via, "ssm."+a.Region+".amazonaws.com")
		}
	}
	if len(keys) > 0 && len(via) == 0 {
		return &cliError{err: fmt.Errorf("--secret-kms-key goes with the --secret references it decrypts"), code: exitUsage}
	}
	p.allow("MlsealSecretsKMSDecrypt", []string{"kms:Decrypt"}, keys, map[string]map[string]any{"StringEquals": {"kms:ViaService": via}})
	return nil
}

func needRegionAccount(f *policyFlags, ref string) error {
	if f.region == "" || f.account == "" {
		return &cliError{err: fmt.Errorf("--secret %s is named without an ARN", ref), code: exitUsage,
			hint: "pass --region and --account, so that the policy names it by ARN, or give the reference as an ARN"}
	}
	return nil
}

// appendNew appends s to list unless it is there already.
func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
