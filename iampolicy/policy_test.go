package iampolicy

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.policy.json from New's output")

const (
	arn1 = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	arn2 = "arn:aws:kms:eu-west-1:111122223333:key/mrk-4321abcd12ab34cd56ef1234567890ab"
)

// render is the document as `mlseal policy` prints it.
func render(t *testing.T, p *Policy) []byte {
	t.Helper()
	out, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func loadJob(t *testing.T, name string) Job {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".job.json"))
	if err != nil {
		t.Fatal(err)
	}
	var job Job
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&job); err != nil {
		t.Fatalf("%s.job.json: %v", name, err)
	}
	return job
}

// policyOf builds the job's policy and reads it back as IAM would, checking
// what every policy of this package must be.
func policyOf(t *testing.T, job Job) *Policy {
	t.Helper()
	p, err := New(job)
	if err != nil {
		t.Fatalf("New(%+v): %v", job, err)
	}
	var back Policy
	if err := json.Unmarshal(render(t, p), &back); err != nil {
		t.Fatal(err)
	}
	if back.Version != "2012-10-17" {
		t.Fatalf("Version %q", back.Version)
	}
	// Only the calls mlseal makes; never a wildcard action.
	known := []string{"kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt",
		"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload",
		"secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue", "ssm:GetParameter", "ssm:GetParameters"}
	sids := map[string]bool{}
	for _, s := range back.Statement {
		if s.Effect != "Allow" || len(s.Action) == 0 || len(s.Resource) == 0 || s.Sid == "" || sids[s.Sid] {
			t.Fatalf("statement %+v", s)
		}
		sids[s.Sid] = true
		for _, a := range s.Action {
			if !slices.Contains(known, a) {
				t.Fatalf("action %s is broader than the job needs", a)
			}
		}
		for _, r := range s.Resource {
			if r == "*" && !slices.Equal(s.Action, []string{"secretsmanager:BatchGetSecretValue"}) {
				t.Fatalf("statement %+v allows every resource", s)
			}
		}
	}
	return &back
}

// TestGolden: each job in testdata gives exactly its document. The
// documents are those `mlseal policy` printed before the policy code moved
// into this package, for the same jobs given as flags.
func TestGolden(t *testing.T) {
	jobs, err := filepath.Glob(filepath.Join("testdata", "*.job.json"))
	if err != nil || len(jobs) == 0 {
		t.Fatalf("no jobs in testdata: %v", err)
	}
	for _, path := range jobs {
		name := strings.TrimSuffix(filepath.Base(path), ".job.json")
		t.Run(name, func(t *testing.T) {
			job := loadJob(t, name)
			policyOf(t, job)
			p, _ := New(job)
			got := render(t, p)
			golden := filepath.Join("testdata", name+".policy.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("policy differs from %s:\n%s", golden, got)
			}
		})
	}
}

// TestKMS checks the KMS statements of each role and context.
func TestKMS(t *testing.T) {
	for _, tc := range []struct {
		name string
		job  Job
		want []Statement // Sid, Action and Resource
		keys []any       // kms:EncryptionContextKeys allowed, nil for no condition
	}{
		{"encrypt", Job{Keys: []string{"kms:" + arn1, arn2}, EncryptionContext: map[string]string{"dataset": "reviews", "stage": "train"}},
			[]Statement{{Sid: "MlsealGenerateDataKey", Action: []string{"kms:GenerateDataKey"}, Resource: []string{arn1}},
				{Sid: "MlsealWrapDataKey", Action: []string{"kms:Encrypt"}, Resource: []string{arn2}}},
			[]any{"aws-crypto-public-key", "dataset", "stage"}},
		{"encrypt one key", Job{Role: RoleEncrypt, Keys: []string{arn1}},
			[]Statement{{Sid: "MlsealGenerateDataKey", Action: []string{"kms:GenerateDataKey"}, Resource: []string{arn1}}}, nil},
		{"decrypt unsigned", Job{Role: RoleDecrypt, Keys: []string{arn1, arn2, arn1}, EncryptionContext: map[string]string{"k": "v"}, UnsignedOnly: true},
			[]Statement{{Sid: "MlsealDecrypt", Action: []string{"kms:Decrypt"}, Resource: []string{arn1, arn2}}},
			[]any{"k"}},
		{"verify", Job{Role: "Verify", Keys: []string{arn1}},
			[]Statement{{Sid: "MlsealDecrypt", Action: []string{"kms:Decrypt"}, Resource: []string{arn1}}}, nil},
		{"rewrap", Job{Role: RoleRewrap, OldKeys: []string{arn1}, Keys: []string{arn2, arn1}, UnsignedOnly: true, EncryptionContext: map[string]string{"d": ""}},
			[]Statement{{Sid: "MlsealDecryptOld", Action: []string{"kms:Decrypt"}, Resource: []string{arn1}},
				{Sid: "MlsealWrapDataKey", Action: []string{"kms:Encrypt"}, Resource: []string{arn2, arn1}}},
			[]any{"d"}},
		{"reencrypt", Job{Role: RoleReencrypt, OldKeys: []string{arn1}, Keys: []string{arn2}},
			[]Statement{{Sid: "MlsealDecryptOld", Action: []string{"kms:Decrypt"}, Resource: []string{arn1}},
				{Sid: "MlsealGenerateDataKey", Action: []string{"kms:GenerateDataKey"}, Resource: []string{arn2}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := policyOf(t, tc.job)
			if len(p.Statement) != len(tc.want) {
				t.Fatalf("%d statements, want %d: %+v", len(p.Statement), len(tc.want), p.Statement)
			}
			for i, s := range p.Statement {
				w := tc.want[i]
				if s.Sid != w.Sid || !slices.Equal(s.Action, w.Action) || !slices.Equal(s.Resource, w.Resource) {
					t.Errorf("statement %d: %+v, want %+v", i, s, w)
				}
				if tc.keys == nil {
					if s.Condition != nil {
						t.Errorf("statement %d: condition %v without a context", i, s.Condition)
					}
					continue
				}
				eq := s.Condition["StringEquals"]
				if len(eq) != len(tc.job.EncryptionContext) || len(s.Condition) != 2 {
					t.Errorf("statement %d: conditions %v", i, s.Condition)
				}
				for k, v := range tc.job.EncryptionContext {
					if eq["kms:EncryptionContext:"+k] != v {
						t.Errorf("statement %d: StringEquals %v, want %s=%q", i, eq, k, v)
					}
				}
				keys, _ := s.Condition["ForAllValues:StringEquals"]["kms:EncryptionContextKeys"].([]any)
				if !slices.Equal(keys, tc.keys) {
					t.Errorf("statement %d: kms:EncryptionContextKeys %v, want %v", i, keys, tc.keys)
				}
			}
		})
	}
}

// TestErrors: a job that cannot be written as a policy gets no policy, and
// an error that names the field and the value.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name         string
		job          Job
		field, value string
		err          error // nil: a secrets.ParseRef error
	}{
		{"alias", Job{Keys: []string{"alias/training"}}, "Keys", "alias/training", ErrNotKeyARN},
		{"alias ARN", Job{Keys: []string{"arn:aws:kms:us-east-1:111122223333:alias/training"}}, "Keys", "arn:aws:kms:us-east-1:111122223333:alias/training", ErrNotKeyARN},
		{"key id", Job{Keys: []string{"kms:1234abcd-12ab-34cd-56ef-1234567890ab"}}, "Keys", "kms:1234abcd-12ab-34cd-56ef-1234567890ab", ErrNotKeyARN},
		{"old alias", Job{Role: RoleRewrap, OldKeys: []string{"alias/old"}, Keys: []string{arn2}}, "OldKeys", "alias/old", ErrNotKeyARN},
		{"role", Job{Role: "admin", Keys: []string{arn1}}, "Role", "admin", ErrRole},
		{"old keys to decrypt", Job{Role: RoleDecrypt, Keys: []string{arn1}, OldKeys: []string{arn2}}, "OldKeys", "", ErrOldKeysRole},
		{"old keys to encrypt", Job{OldKeys: []string{arn2}}, "OldKeys", "", ErrOldKeysRole},
		{"reserved context", Job{Keys: []string{arn1}, EncryptionContext: map[string]string{"aws-crypto-public-key": "x"}}, "EncryptionContext", "aws-crypto-public-key", ErrContextKey},
		{"empty context key", Job{Keys: []string{arn1}, EncryptionContext: map[string]string{"": "x"}}, "EncryptionContext", "", ErrContextKey},
		{"no scheme", Job{S3Read: []string{"raw/train/"}}, "S3Read", "raw/train/", ErrNotS3URL},
		{"wildcard", Job{S3Read: []string{"s3://raw/train/*"}}, "S3Read", "s3://raw/train/*", ErrNotS3URL},
		{"no bucket", Job{S3Write: []string{"s3:///x"}}, "S3Write", "s3:///x", ErrNotS3URL},
		{"manifest prefix", Job{Manifests: []string{"s3://b/state/"}}, "Manifests", "s3://b/state/", ErrNotObject},
		{"audit bucket", Job{AuditTrails: []string{"s3://b"}}, "AuditTrails", "s3://b", ErrNotObject},
		{"secret name", Job{Secrets: []string{"secretsmanager://prod/db"}}, "Secrets", "secretsmanager://prod/db", ErrNoARN},
		{"parameter name", Job{Secrets: []string{"ssm:///prod/db"}, Region: "eu-west-1"}, "Secrets", "ssm:///prod/db", ErrNoARN},
		{"secret scheme", Job{Secrets: []string{"nope://x"}}, "Secrets", "", nil},
		{"secret key alias", Job{Secrets: []string{"ssm:///a"}, Region: "r", Account: "1", SecretKeys: []string{"alias/x"}}, "SecretKeys", "alias/x", ErrNotKeyARN},
		// Not a key id: KMS names keys with a UUID or mrk- and 32 hex digits.
		{"secret key not an id", Job{Secrets: []string{"ssm:///a"}, Region: "r", Account: "1", SecretKeys: []string{"arn:aws:kms:eu-west-1:111122223333:key/secretkey"}},
			"SecretKeys", "arn:aws:kms:eu-west-1:111122223333:key/secretkey", ErrNotKeyARN},
		{"key id upper case", Job{Keys: []string{"arn:aws:kms:us-east-1:111122223333:key/1234ABCD-12ab-34cd-56ef-1234567890ab"}},
			"Keys", "arn:aws:kms:us-east-1:111122223333:key/1234ABCD-12ab-34cd-56ef-1234567890ab", ErrNotKeyARN},
		{"secret key without secret", Job{S3Read: []string{"s3://b/"}, Secrets: []string{"env://HOME"}, SecretKeys: []string{arn1}}, "SecretKeys", "", ErrKeyWithoutSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.job)
			var fe *FieldError
			if p != nil || !errors.As(err, &fe) {
				t.Fatalf("New: %v, %v; want a *FieldError", p, err)
			}
			if fe.Field != tc.field || fe.Value != tc.value {
				t.Errorf("FieldError{%q, %q}, want {%q, %q}", fe.Field, fe.Value, tc.field, tc.value)
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("error %v, want %v", err, tc.err)
			}
			if !strings.HasPrefix(err.Error(), "iampolicy: Job."+tc.field) {
				t.Errorf("error %q does not name Job.%s", err, tc.field)
			}
		})
	}
	for _, job := range []Job{{}, {Role: RoleDecrypt, EncryptionContext: map[string]string{"k": "v"}, SecretKeys: []string{arn1}}} {
		if p, err := New(job); p != nil || !errors.Is(err, ErrNothingToAllow) {
			t.Errorf("New(%+v): %v, %v; want ErrNothingToAllow", job, p, err)
		}
	}
}

// request is one API call a job makes, as IAM evaluates it.
type request struct {
	action, resource string
	context          map[string][]string // condition keys
}

// allows evaluates the request against the policy, as IAM does for the
// subset of the policy language this package writes: Allow statements,
// actions by name, resources with * and ? wildcards, and the StringEquals,
// StringLike and ForAllValues:StringEquals operators. A key a condition
// names that the request lacks fails it, except under ForAllValues.
func (p *Policy) allows(r request) bool {
	for _, s := range p.Statement {
		if !slices.Contains(s.Action, r.action) || !slices.ContainsFunc(s.Resource, func(pat string) bool { return globMatch(pat, r.resource) }) {
			continue
		}
		if conditionsHold(s.Condition, r.context) {
			return true
		}
	}
	return false
}

func conditionsHold(cond map[string]map[string]any, ctx map[string][]string) bool {
	for op, kv := range cond {
		for key, want := range kv {
			var wants []string
			switch w := want.(type) {
			case string:
				wants = []string{w}
			case []any:
				for _, x := range w {
					wants = append(wants, x.(string))
				}
			}
			got, present := ctx[key]
			match := func(g string) bool {
				return slices.ContainsFunc(wants, func(w string) bool {
					if op == "StringLike" {
						return globMatch(w, g)
					}
					return w == g
				})
			}
			switch op {
			case "ForAllValues:StringEquals":
				for _, g := range got {
					if !match(g) {
						return false
					}
				}
			case "StringEquals", "StringLike":
				if !present || !slices.ContainsFunc(got, match) {
					return false
				}
			default:
				return false
			}
		}
	}
	return true
}

// globMatch matches IAM's wildcards: * any run of characters, ? one.
func globMatch(pat, s string) bool {
	if pat == "" {
		return s == ""
	}
	switch pat[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if globMatch(pat[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && globMatch(pat[1:], s[1:])
	}
	return s != "" && s[0] == pat[0] && globMatch(pat[1:], s[1:])
}

func kmsRequest(action, key string, ec map[string]string) request {
	ctx := map[string][]string{}
	for k, v := range ec {
		ctx["kms:EncryptionContext:"+k] = []string{v}
		ctx["kms:EncryptionContextKeys"] = append(ctx["kms:EncryptionContextKeys"], k)
	}
	return request{action: action, resource: key, context: ctx}
}

func s3List(bucket, prefix string) request {
	ctx := map[string][]string{}
	if prefix != "" {
		ctx["s3:prefix"] = []string{prefix}
	}
	return request{action: "s3:ListBucket", resource: "arn:aws:s3:::" + bucket, context: ctx}
}

func s3Object(action, bucketKey string) request {
	return request{action: action, resource: "arn:aws:s3:::" + bucketKey}
}

// checkCalls fails unless p allows each call in allowed and none in denied.
func checkCalls(t *testing.T, p *Policy, allowed, denied []request) {
	t.Helper()
	for _, r := range allowed {
		if !p.allows(r) {
			t.Errorf("the job's call %s on %s %v is not allowed", r.action, r.resource, r.context)
		}
	}
	for _, r := range denied {
		if p.allows(r) {
			t.Errorf("%s on %s %v is allowed, but the job does not need it", r.action, r.resource, r.context)
		}
	}
}

// TestWholeJob: a rewrap job from one S3 prefix into another, with a
// manifest in S3 and secrets: each call the job makes is allowed, and each
// call next to it that it does not make is not.
func TestWholeJob(t *testing.T) {
	p := policyOf(t, loadJob(t, "rewrap-whole-job"))
	const secretKey = "arn:aws:kms:eu-west-1:111122223333:key/1111abcd-12ab-34cd-56ef-1234567890ab"
	train := map[string]string{"dataset": "train"}
	via := func(r request, service string) request {
		r.context["kms:ViaService"] = []string{service}
		return r
	}
	checkCalls(t, p, []request{
		kmsRequest("kms:Decrypt", arn1, train),
		kmsRequest("kms:Encrypt", arn2, train),
		s3List("raw", "train/"), s3List("raw", "train/2026/"),
		s3Object("s3:GetObject", "raw/train/part-0.csv.enc"),
		// Rewrap: UploadPartCopy needs PutObject on the destination and
		// GetObject on the source; outputs are checked with HeadObject,
		// which S3 answers 404 for a missing key only to a caller that
		// may list the bucket (403 otherwise), as it does GetObject of a
		// manifest not written yet.
		s3Object("s3:PutObject", "enc/train/part-0.csv.enc"), s3Object("s3:AbortMultipartUpload", "enc/train/part-0.csv.enc"),
		s3Object("s3:GetObject", "enc/train/part-0.csv.enc"), s3List("enc", ""), s3List("audit", ""),
		s3Object("s3:GetObject", "enc/state/job.jsonl"), s3Object("s3:PutObject", "enc/state/job.jsonl"), s3Object("s3:PutObject", "audit/job.jsonl"),
		{action: "secretsmanager:GetSecretValue", resource: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/db-AbCdEf"},
		{action: "secretsmanager:GetSecretValue", resource: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/api-AbCdEf"},
		{action: "secretsmanager:BatchGetSecretValue", resource: "*"},
		{action: "ssm:GetParameter", resource: "arn:aws:ssm:eu-west-1:111122223333:parameter/prod/token"},
		via(kmsRequest("kms:Decrypt", secretKey, nil), "secretsmanager.eu-west-1.amazonaws.com"),
	}, []request{
		kmsRequest("kms:Decrypt", arn1, map[string]string{"dataset": "test"}),
		kmsRequest("kms:Decrypt", arn1, map[string]string{"dataset": "train", "extra": "x"}),
		kmsRequest("kms:Decrypt", arn2, train),
		kmsRequest("kms:GenerateDataKey", arn2, train), // rewrap never generates
		kmsRequest("kms:Encrypt", arn1, train),
		kmsRequest("kms:Decrypt", secretKey, nil), // not through the services
		s3List("raw", ""), s3List("raw", "test/"), s3List("other", ""),
		s3Object("s3:GetObject", "raw/test/part-0.csv"),
		s3Object("s3:PutObject", "raw/train/part-0.csv.enc"), // the source is read only
		s3Object("s3:PutObject", "enc/other/x"),
		s3Object("s3:GetObject", "audit/other.jsonl"),
		{action: "secretsmanager:GetSecretValue", resource: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/dbx-AbCdEf"},
		{action: "secretsmanager:GetSecretValue", resource: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/db-extra-AbCdEf"},
		{action: "ssm:GetParameter", resource: "arn:aws:ssm:eu-west-1:111122223333:parameter/prod/token2"},
		{action: "ssm:GetParameters", resource: "arn:aws:ssm:eu-west-1:111122223333:parameter/prod/token"}, // one parameter: no batch
	})
}

// TestCalls evaluates more jobs against the calls they make and the calls
// next to them that they do not.
func TestCalls(t *testing.T) {
	for _, tc := range []struct {
		name            string
		job             Job
		allowed, denied []request
	}{
		{"reencrypt", Job{Role: RoleReencrypt, OldKeys: []string{arn1}, Keys: []string{arn2, arn1}, UnsignedOnly: true},
			[]request{kmsRequest("kms:Decrypt", arn1, nil), kmsRequest("kms:GenerateDataKey", arn2, nil), kmsRequest("kms:Encrypt", arn1, nil)},
			[]request{kmsRequest("kms:Decrypt", arn2, nil), kmsRequest("kms:GenerateDataKey", arn1, nil)}},
		// A whole bucket lists without a prefix condition; an object source
		// is read, never listed; two decrypted parameters are batched.
		{"bucket, object and parameters", Job{S3Read: []string{"s3://raw", "s3://raw2/one.csv"},
			Secrets: []string{"ssm://arn:aws:ssm:us-east-1:111122223333:parameter/a", "ssm://arn:aws:ssm:us-east-1:111122223333:parameter/b"}},
			[]request{s3List("raw", ""), s3Object("s3:GetObject", "raw/any/thing"), s3Object("s3:GetObject", "raw2/one.csv"),
				{action: "ssm:GetParameters", resource: "arn:aws:ssm:us-east-1:111122223333:parameter/b"}},
			[]request{s3List("raw2", ""), s3Object("s3:GetObject", "raw2/two.csv"), s3Object("s3:PutObject", "raw/x"), kmsRequest("kms:Decrypt", arn1, nil)}},
		// Two prefixes of one bucket: one list statement with both.
		{"two prefixes", Job{S3Read: []string{"s3://raw/a/", "s3://raw/b/"}},
			[]request{s3List("raw", "a/"), s3List("raw", "b/x"), s3Object("s3:GetObject", "raw/b/1")},
			[]request{s3List("raw", "c/"), s3List("raw", ""), s3Object("s3:GetObject", "raw/c/1")}},
		// An encrypted parameter read as is: no batch call, and a
		// secret at a version is not batched either.
		{"no batches", Job{Secrets: []string{"ssm:///a", "ssm:///b?decrypt=false", "secretsmanager://s1", "secretsmanager://s2?version-id=" + strings.Repeat("a", 32)},
			Region: "eu-west-1", Account: "111122223333"},
			[]request{{action: "ssm:GetParameter", resource: "arn:aws:ssm:eu-west-1:111122223333:parameter/b"},
				{action: "secretsmanager:GetSecretValue", resource: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:s2-AbCdEf"}},
			[]request{{action: "ssm:GetParameters", resource: "arn:aws:ssm:eu-west-1:111122223333:parameter/a"},
				{action: "secretsmanager:BatchGetSecretValue", resource: "*"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkCalls(t, policyOf(t, tc.job), tc.allowed, tc.denied)
		})
	}
}
