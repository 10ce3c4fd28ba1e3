package iampolicy

import (
	"errors"
	"fmt"
)

// ErrNothingToAllow is the error of New for a Job that names no key, S3
// location or secret: such a job needs no policy, and an empty one is
// likely a mistake.
var ErrNothingToAllow = errors.New("iampolicy: the job names nothing to allow: set Keys, OldKeys, S3Read, S3Write, Manifests, AuditTrails or Secrets")

// The errors a FieldError wraps, for errors.Is. Each says what is wrong
// with the value and what to do.
var (
	// ErrNotKeyARN: a key is named by alias, alias ARN or key id. IAM
	// matches a KMS statement's resource against the key ARN only.
	ErrNotKeyARN = errors.New("not a KMS key ARN: a policy names keys by key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID); 'aws kms describe-key --key-id alias/NAME' shows an alias's key ARN")
	// ErrRole: Job.Role is none of the roles.
	ErrRole = errors.New("not a role: use RoleEncrypt, RoleDecrypt, RoleRewrap or RoleReencrypt")
	// ErrOldKeysRole: Job.OldKeys is set for a role that never unwraps
	// with old keys, so the job is not what the Job says.
	ErrOldKeysRole = errors.New("only RoleRewrap and RoleReencrypt unwrap with old keys: set Role, or give the keys as Keys")
	// ErrContextKey: an encryption context key is empty or reserved.
	ErrContextKey = errors.New("not an encryption context key: keys are not empty, and those starting with aws-crypto- are reserved for the AWS Encryption SDK")
	// ErrNotS3URL: an S3 location is not an s3:// URL with a bucket, or
	// holds a character that IAM would read as a wildcard.
	ErrNotS3URL = errors.New("not an s3://BUCKET/PREFIX/ or s3://BUCKET/KEY URL: a policy names S3 locations by URL, without the wildcards * and ?")
	// ErrNotObject: a manifest or audit trail is given as a prefix.
	ErrNotObject = errors.New("names a prefix, not an object: give the object's s3://BUCKET/KEY")
	// ErrNoARN: a secret or parameter is named without an ARN, and the
	// Job lacks the Region or Account to make one.
	ErrNoARN = errors.New("named without an ARN: set Region and Account, so that the policy names it by ARN, or give the reference as an ARN")
	// ErrKeyWithoutSecret: Job.SecretKeys is set, but no secret in
	// Secrets Manager or parameter in SSM is there for it to decrypt.
	ErrKeyWithoutSecret = errors.New("decrypts none of the Secrets: it is for a secret in Secrets Manager or a parameter in SSM; add the references it decrypts, or leave it out")
)

// A FieldError reports a value of a Job field that cannot go into a
// policy.
type FieldError struct {
	Field string // the Job field, such as "Keys" or "S3Read"
	Value string // the value at fault, or "" when Err names it or the field is at fault as a whole
	Err   error  // one of the Err values above, or why a secret reference does not parse
}

func (e *FieldError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("iampolicy: Job.%s: %v", e.Field, e.Err)
	}
	return fmt.Sprintf("iampolicy: Job.%s %q: %v", e.Field, e.Value, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }
