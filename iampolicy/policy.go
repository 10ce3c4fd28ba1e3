// Package iampolicy writes least-privilege AWS IAM policy documents for
// mlseal jobs.
//
// A [Job] lists what a job touches: the AWS KMS keys it generates, wraps or
// unwraps data keys with, the encryption context it uses them under, the S3
// prefixes and objects it reads and writes, its manifest and audit trail, and
// the secrets it fetches. [New] turns that into a [Policy] that allows the
// calls mlseal makes for such a job, on those resources only, and nothing
// else: no wildcard actions, no resource "*" except for
// secretsmanager:BatchGetSecretValue, which IAM accepts on no other resource.
//
// The policy is an identity policy, to attach to the role the job runs as.
// Key policies and bucket policies must also allow that role; this package
// does not write them.
//
// A Policy marshals with [encoding/json] into the document IAM takes:
//
//	p, err := iampolicy.New(iampolicy.Job{
//		Role:              iampolicy.RoleDecrypt,
//		Keys:              []string{"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
//		EncryptionContext: map[string]string{"dataset": "train"},
//		S3Read:            []string{"s3://ml-data/enc/train/"},
//	})
//	doc, err := json.MarshalIndent(p, "", "  ")
//
// `mlseal policy` prints exactly that document for the same job given as
// flags.
package iampolicy

import (
	"slices"
	"strings"
)

// Version is the IAM policy language version of every Policy.
const Version = "2012-10-17"

// A Role says what a job does with its KMS keys, and so which KMS actions
// it needs.
type Role string

const (
	// RoleEncrypt generates each data key with the first of Job.Keys
	// (kms:GenerateDataKey) and wraps it with the others (kms:Encrypt).
	// It is the role of the zero Job.
	RoleEncrypt Role = "encrypt"
	// RoleDecrypt unwraps data keys with any of Job.Keys (kms:Decrypt).
	// Verifying, tokenizing and detokenizing need it too: their keysets
	// are wrapped.
	RoleDecrypt Role = "decrypt"
	// RoleRewrap unwraps each data key with Job.OldKeys (kms:Decrypt) and
	// wraps it again with Job.Keys (kms:Encrypt); it never generates one.
	RoleRewrap Role = "rewrap"
	// RoleReencrypt unwraps with Job.OldKeys (kms:Decrypt) and encrypts
	// anew under Job.Keys, as RoleEncrypt does.
	RoleReencrypt Role = "reencrypt"
)

// A Job lists what an mlseal job touches. Each field that is empty adds
// nothing to the policy; a Job must name at least one key, S3 location or
// secret.
//
// The statements come in a fixed order (KMS, S3, secrets) and the
// resources, deduplicated, in the order in which the Job names them, so the
// same Job always gives the same document.
type Job struct {
	// Role is what the job does with Keys and OldKeys. The empty Role is
	// RoleEncrypt. Roles are matched without regard to case, and "verify"
	// is taken as RoleDecrypt.
	Role Role

	// Keys are the KMS keys the job uses, by key ARN
	// (arn:aws:kms:REGION:ACCOUNT:key/ID), with or without mlseal's "kms:"
	// prefix. A policy cannot name a key by alias or key id: look up an
	// alias's key ARN with 'aws kms describe-key --key-id alias/NAME'.
	// With RoleEncrypt and RoleReencrypt, the first key generates the
	// data keys, as it does in mlseal's keyrings.
	Keys []string

	// OldKeys are the KMS key ARNs that RoleRewrap and RoleReencrypt unwrap
	// data keys with. Other roles refuse them.
	OldKeys []string

	// EncryptionContext is the context the job encrypts or decrypts
	// under. When set, every KMS statement on Keys and OldKeys requires
	// each pair (kms:EncryptionContext:KEY) and allows no other context
	// key (kms:EncryptionContextKeys), so that the keys serve this context
	// only.
	EncryptionContext map[string]string

	// UnsignedOnly says that the job writes and reads unsigned messages
	// only. Signed suites add aws-crypto-public-key, the signature
	// verification key, to the context that KMS sees, so it is allowed
	// unless UnsignedOnly is set.
	UnsignedOnly bool

	// S3Read are the s3://BUCKET/PREFIX/ prefixes and s3://BUCKET/KEY
	// objects the job reads. A prefix gets s3:ListBucket on its bucket,
	// for listings under the prefix only (an s3:prefix condition), and
	// s3:GetObject on the objects under it; an object gets s3:GetObject
	// only. s3://BUCKET and s3://BUCKET/ are the whole bucket. The
	// server-side copies of a rewrap read their source with s3:GetObject
	// too.
	S3Read []string

	// S3Write are the prefixes and objects the job writes: s3:PutObject
	// (which also covers the multipart upload calls and UploadPartCopy),
	// s3:AbortMultipartUpload (failed uploads are aborted) and
	// s3:GetObject (HeadObject: an existing output is not replaced
	// unless asked, and a rerun checks what is done). Rewrapping in
	// place reads and writes one prefix: list it in both.
	S3Write []string

	// Manifests and AuditTrails are the s3://BUCKET/KEY objects of the
	// job's manifest and audit trail, which it reads back and writes.
	Manifests   []string
	AuditTrails []string

	// Secrets are the secret references the job fetches, as
	// secrets.ParseRef takes them: secretsmanager://NAME-OR-ARN gets
	// secretsmanager:GetSecretValue, and, when two or more are read at
	// AWSCURRENT, secretsmanager:BatchGetSecretValue; ssm:///NAME gets
	// ssm:GetParameter, and ssm:GetParameters when two or more are read
	// decrypted. env:// and file:// references need nothing.
	Secrets []string

	// SecretKeys are the ARNs of the customer managed KMS keys that
	// encrypt those secrets or SecureString parameters: they get
	// kms:Decrypt through Secrets Manager or SSM only (kms:ViaService).
	// AWS managed keys need nothing.
	SecretKeys []string

	// Region and Account name the secrets and parameters that Secrets
	// gives by name rather than by ARN. A secret's ARN ends in a hyphen
	// and six random characters, so a name becomes
	// arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME-??????.
	Region  string
	Account string

	// Partition is the AWS partition of the S3 ARNs and of the ARNs made
	// from names: "aws" when empty, "aws-cn", "aws-us-gov", ...
	Partition string
}

// A Policy is an IAM policy document. It marshals with encoding/json into
// the JSON that IAM takes.
type Policy struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// A Statement allows Action on Resource when every Condition holds.
// Condition maps an operator, such as "StringEquals", to condition keys and
// their value: a string, or a []string of which any may match.
type Statement struct {
	Sid       string                    `json:"Sid"`
	Effect    string                    `json:"Effect"`
	Action    []string                  `json:"Action"`
	Resource  []string                  `json:"Resource"`
	Condition map[string]map[string]any `json:"Condition,omitempty"`
}

// New returns the least-privilege policy for job. It fails, without a
// policy, when job names nothing to allow ([ErrNothingToAllow]) or when a
// value cannot be named in a policy (a [*FieldError] that says which and
// why).
func New(job Job) (*Policy, error) {
	if len(job.Keys)+len(job.OldKeys)+len(job.S3Read)+len(job.S3Write)+len(job.Manifests)+len(job.AuditTrails)+len(job.Secrets) == 0 {
		return nil, ErrNothingToAllow
	}
	if job.Partition == "" {
		job.Partition = "aws"
	}
	p := &Policy{Version: Version}
	for _, add := range []func(*Policy, *Job) error{kmsStatements, s3Statements, secretStatements} {
		if err := add(p, &job); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// allow appends a statement, unless it has no resource to allow.
func (p *Policy) allow(sid string, actions, res []string, cond map[string]map[string]any) {
	if len(res) > 0 {
		p.Statement = append(p.Statement, Statement{Sid: sid, Effect: "Allow", Action: actions, Resource: res, Condition: cond})
	}
}

// appendNew appends s to list unless it is there already.
func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// normalRole is r as New understands it, or "" if it is no role.
func normalRole(r Role) Role {
	switch r := Role(strings.ToLower(string(r))); r {
	case "":
		return RoleEncrypt
	case "verify":
		return RoleDecrypt
	case RoleEncrypt, RoleDecrypt, RoleRewrap, RoleReencrypt:
		return r
	}
	return ""
}
