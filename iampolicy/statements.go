package iampolicy

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/mlseal/mlseal/envelope/keyring/awskms"
	"github.com/mlseal/mlseal/s3io"
	"github.com/mlseal/mlseal/secrets"
)

// publicKeyContextKey is the encryption context key in which signed suites
// store the signature verification key; KMS sees it with the rest.
const publicKeyContextKey = "aws-crypto-public-key"

// keyID is what KMS names a key with: a UUID, or "mrk-" and 32 hex digits
// for a multi-Region key. A policy naming anything else allows nothing.
var keyID = regexp.MustCompile(`^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$`)

// keyARNs checks that keys are KMS key ARNs, drops mlseal's "kms:" prefix
// and removes duplicates.
func keyARNs(field string, keys []string) ([]string, error) {
	var arns []string
	for _, k := range keys {
		id := k
		if len(k) >= 4 && strings.EqualFold(k[:4], "kms:") {
			id = k[4:]
		}
		a, err := awskms.ParseARN(id)
		if err != nil || a.ResourceType != "key" || !keyID.MatchString(a.ResourceID) {
			return nil, &FieldError{Field: field, Value: k, Err: ErrNotKeyARN}
		}
		arns = appendNew(arns, id)
	}
	return arns, nil
}

// contextCondition limits KMS calls to the job's encryption context, or is
// nil when the job gives none.
func contextCondition(job *Job) (map[string]map[string]any, error) {
	if len(job.EncryptionContext) == 0 {
		return nil, nil
	}
	eq := map[string]any{}
	keys := slices.Sorted(maps.Keys(job.EncryptionContext)) // the first bad key is always the same one
	for _, k := range keys {
		if k == "" || strings.HasPrefix(k, "aws-crypto-") {
			return nil, &FieldError{Field: "EncryptionContext", Value: k, Err: ErrContextKey}
		}
		eq["kms:EncryptionContext:"+k] = job.EncryptionContext[k]
	}
	if !job.UnsignedOnly {
		keys = append(keys, publicKeyContextKey)
		slices.Sort(keys)
	}
	return map[string]map[string]any{
		"StringEquals": eq,
		// Only these keys: no other context can be used with the keys.
		"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": keys},
	}, nil
}

// kmsStatements allows the KMS calls of the job's role on its keys.
func kmsStatements(p *Policy, job *Job) error {
	arns, err := keyARNs("Keys", job.Keys)
	if err != nil {
		return err
	}
	old, err := keyARNs("OldKeys", job.OldKeys)
	if err != nil {
		return err
	}
	cond, err := contextCondition(job)
	if err != nil {
		return err
	}
	role := normalRole(job.Role)
	if len(old) > 0 && role != RoleRewrap && role != RoleReencrypt {
		return &FieldError{Field: "OldKeys", Err: ErrOldKeysRole}
	}
	switch role {
	case RoleEncrypt, RoleReencrypt:
		p.allow("MlsealDecryptOld", []string{"kms:Decrypt"}, old, cond)
		if len(arns) > 0 {
			p.allow("MlsealGenerateDataKey", []string{"kms:GenerateDataKey"}, arns[:1], cond)
			p.allow("MlsealWrapDataKey", []string{"kms:Encrypt"}, arns[1:], cond)
		}
	case RoleDecrypt:
		p.allow("MlsealDecrypt", []string{"kms:Decrypt"}, arns, cond)
	case RoleRewrap:
		p.allow("MlsealDecryptOld", []string{"kms:Decrypt"}, old, cond)
		p.allow("MlsealWrapDataKey", []string{"kms:Encrypt"}, arns, cond)
	default:
		return &FieldError{Field: "Role", Value: string(job.Role), Err: ErrRole}
	}
	return nil
}

// s3Location splits an S3 URL; prefix reports a prefix (or a whole
// bucket) rather than an object.
func s3Location(field, u string) (bucket, key string, prefix bool, err error) {
	bucket, key, err = s3io.ParseURL(u)
	if err != nil || strings.ContainsAny(key, "*?") {
		return "", "", false, &FieldError{Field: field, Value: u, Err: ErrNotS3URL}
	}
	return bucket, key, key == "" || strings.HasSuffix(key, "/"), nil
}

// s3Statements allows the S3 calls of the job's reads and writes.
func s3Statements(p *Policy, job *Job) error {
	arn := func(bucket, key string) string { return "arn:" + job.Partition + ":s3:::" + bucket + "/" + key }
	var (
		lists   = map[string][]string{} // bucket: prefixes listed
		buckets []string
		reads   []string
		writes  []string
		state   []string
		written []string // buckets written to
	)
	for _, u := range job.S3Read {
		b, k, prefix, err := s3Location("S3Read", u)
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
	for _, u := range job.S3Write {
		b, k, prefix, err := s3Location("S3Write", u)
		if err != nil {
			return err
		}
		if prefix {
			k += "*"
		}
		writes = appendNew(writes, arn(b, k))
		written = appendNew(written, b)
	}
	for _, f := range []struct {
		field string
		urls  []string
	}{{"Manifests", job.Manifests}, {"AuditTrails", job.AuditTrails}} {
		for _, u := range f.urls {
			b, k, prefix, err := s3Location(f.field, u)
			if err != nil {
				return err
			}
			if prefix {
				return &FieldError{Field: f.field, Value: u, Err: ErrNotObject}
			}
			state = appendNew(state, arn(b, k))
			written = appendNew(written, b)
		}
	}
	for i, b := range buckets {
		var cond map[string]map[string]any
		if !slices.Contains(lists[b], "*") {
			// Listing only under the prefixes read: ListObjectsV2's prefix
			// is the source's, or longer.
			cond = map[string]map[string]any{"StringLike": {"s3:prefix": lists[b]}}
		}
		p.allow(fmt.Sprintf("MlsealS3List%d", i), []string{"s3:ListBucket"}, []string{"arn:" + job.Partition + ":s3:::" + b}, cond)
	}
	// A job checks that each output does not exist yet, and reads a
	// manifest that may not exist yet. S3 answers HeadObject and GetObject
	// of a missing key with 404 only to a caller that may list the bucket,
	// and with 403 otherwise (HeadObject's permissions in the S3 API
	// reference), so the buckets written to are listable: key names, never
	// contents. MinIO answers 404 either way, so the tests cannot show it.
	var listable []string
	for _, b := range written {
		listable = appendNew(listable, "arn:"+job.Partition+":s3:::"+b)
	}
	p.allow("MlsealS3WriteBucketList", []string{"s3:ListBucket"}, listable, nil)
	p.allow("MlsealS3Read", []string{"s3:GetObject"}, reads, nil)
	p.allow("MlsealS3Write", []string{"s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"}, writes, nil)
	p.allow("MlsealS3JobState", []string{"s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"}, state, nil)
	return nil
}

// secretStatements allows the calls that fetch the job's secrets, as
// package secrets makes them.
func secretStatements(p *Policy, job *Job) error {
	var sm, ssm []string
	smBatch, ssmBatch := 0, 0
	for _, s := range job.Secrets {
		ref, err := secrets.ParseRef(s)
		if err != nil {
			return &FieldError{Field: "Secrets", Err: err}
		}
		if ref.Scheme() != secrets.SchemeSecretsManager && ref.Scheme() != secrets.SchemeSSM {
			continue // env:// and file:// call no service
		}
		arn, err := secretARN(job, s, ref)
		if err != nil {
			return err
		}
		switch {
		case ref.Scheme() == secrets.SchemeSSM:
			if !slices.Contains(ssm, arn) {
				ssm = append(ssm, arn)
				if ref.Decrypt() {
					ssmBatch++
				}
			}
		case !slices.Contains(sm, arn):
			sm = append(sm, arn)
			if ref.VersionID() == "" && ref.Stage() == secrets.StageCurrent {
				smBatch++
			}
		}
	}
	p.allow("MlsealGetSecretValue", []string{"secretsmanager:GetSecretValue"}, sm, nil)
	if smBatch > 1 {
		// IAM takes BatchGetSecretValue on resource "*" only; it still
		// needs GetSecretValue on each secret it returns.
		p.allow("MlsealBatchGetSecretValue", []string{"secretsmanager:BatchGetSecretValue"}, []string{"*"}, nil)
	}
	p.allow("MlsealGetParameter", []string{"ssm:GetParameter"}, ssm, nil)
	if ssmBatch > 1 {
		p.allow("MlsealGetParameters", []string{"ssm:GetParameters"}, ssm, nil)
	}
	keys, err := keyARNs("SecretKeys", job.SecretKeys)
	if err != nil {
		return err
	}
	var via []string
	for _, k := range keys {
		a, _ := awskms.ParseARN(k)
		if len(sm) > 0 {
			via = appendNew(via, "secretsmanager."+a.Region+".amazonaws.com")
		}
		if len(ssm) > 0 {
			via = appendNew(via, "ssm."+a.Region+".amazonaws.com")
		}
	}
	if len(keys) > 0 && len(via) == 0 {
		return &FieldError{Field: "SecretKeys", Err: ErrKeyWithoutSecret}
	}
	p.allow("MlsealSecretsKMSDecrypt", []string{"kms:Decrypt"}, keys, map[string]map[string]any{"StringEquals": {"kms:ViaService": via}})
	return nil
}

// secretARN is the ARN of the secret or parameter that ref (s, parsed)
// names.
func secretARN(job *Job, s string, ref secrets.Ref) (string, error) {
	name := ref.Name()
	if strings.HasPrefix(name, "arn:") {
		return name, nil
	}
	if job.Region == "" || job.Account == "" {
		return "", &FieldError{Field: "Secrets", Value: s, Err: ErrNoARN}
	}
	if ref.Scheme() == secrets.SchemeSSM {
		return fmt.Sprintf("arn:%s:ssm:%s:%s:parameter/%s", job.Partition, job.Region, job.Account, strings.TrimPrefix(name, "/")), nil
	}
	// A secret's ARN ends in a hyphen and six random characters.
	return fmt.Sprintf("arn:%s:secretsmanager:%s:%s:secret:%s-??????", job.Partition, job.Region, job.Account, name), nil
}
