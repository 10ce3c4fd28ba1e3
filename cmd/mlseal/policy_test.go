package main

import (
	"encoding/json"
	"slices"
	"testing"
)

type parsedPolicy struct {
	Version   string
	Statement []struct {
		Sid       string
		Effect    string
		Action    []string
		Resource  []string
		Condition map[string]map[string]any
	}
}

func policyOf(t *testing.T, r result) parsedPolicy {
	t.Helper()
	var p parsedPolicy
	if err := json.Unmarshal(r.stdout, &p); err != nil {
		t.Fatalf("policy is not JSON: %v\n%s", err, r.stdout)
	}
	if p.Version != "2012-10-17" {
		t.Fatalf("Version %q", p.Version)
	}
	// Only the calls mlseal makes; never a wildcard action.
	known := []string{"kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt",
		"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload",
		"secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue", "ssm:GetParameter", "ssm:GetParameters"}
	for _, s := range p.Statement {
		if s.Effect != "Allow" || len(s.Action) == 0 || len(s.Resource) == 0 || s.Sid == "" {
			t.Fatalf("statement %+v", s)
		}
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
	return p
}

// request is one API call a job makes, as IAM evaluates it.
type request struct {
	action, resource string
	context          map[string][]string // condition keys
}

// allows evaluates the request against the policy, as IAM does for the
// subset of the policy language mlseal writes: Allow statements, actions by
// name, resources with * and ? wildcards, and the StringEquals, StringLike
// and ForAllValues:StringEquals operators. A key a condition names that the
// request lacks fails it, except under ForAllValues.
func (p parsedPolicy) allows(r request) bool {
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

const (
	arn1 = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	arn2 = "arn:aws:kms:eu-west-1:111122223333:key/mrk-4321abcd12ab34cd56ef1234567890ab"
)

func TestPolicyEncrypt(t *testing.T) {
	e := newEnv(t)
	p := policyOf(t, e.ok(nil, "policy", "--key", "kms:"+arn1, "--key", arn2, "--context", "dataset=reviews", "-c", "stage=train"))
	if len(p.Statement) != 2 {
		t.Fatalf("%d statements", len(p.Statement))
	}
	gen, wrap := p.Statement[0], p.Statement[1]
	if gen.Action[0] != "kms:GenerateDataKey" || !slices.Equal(gen.Resource, []string{arn1}) {
		t.Fatalf("generator statement %+v", gen)
	}
	if wrap.Action[0] != "kms:Encrypt" || !slices.Equal(wrap.Resource, []string{arn2}) {
		t.Fatalf("wrapping statement %+v", wrap)
	}
	for _, s := range p.Statement {
		eq := s.Condition["StringEquals"]
		if len(eq) != 2 || eq["kms:EncryptionContext:dataset"] != "reviews" || eq["kms:EncryptionContext:stage"] != "train" {
			t.Fatalf("StringEquals %v", eq)
		}
		keys, _ := s.Condition["ForAllValues:StringEquals"]["kms:EncryptionContextKeys"].([]any)
		want := []any{"aws-crypto-public-key", "dataset", "stage"}
		if !slices.Equal(keys, want) {
			t.Fatalf("kms:EncryptionContextKeys %v, want %v", keys, want)
		}
		if len(s.Condition) != 2 {
			t.Fatalf("conditions %v", s.Condition)
		}
	}
}

func TestPolicyDecrypt(t *testing.T) {
	e := newEnv(t)
	p := policyOf(t, e.ok(nil, "policy", "--role", "decrypt", "--key", arn1, "--key", arn2, "--key", arn1, "-c", "k=v", "--unsigned-only"))
	if len(p.Statement) != 1 {
		t.Fatalf("%d statements", len(p.Statement))
	}
	s := p.Statement[0]
	if s.Action[0] != "kms:Decrypt" || !slices.Equal(s.Resource, []string{arn1, arn2}) {
		t.Fatalf("statement %+v", s)
	}
	keys, _ := s.Condition["ForAllValues:StringEquals"]["kms:EncryptionContextKeys"].([]any)
	if !slices.Equal(keys, []any{"k"}) || s.Condition["StringEquals"]["kms:EncryptionContext:k"] != "v" {
		t.Fatalf("conditions %v", s.Condition)
	}
	// Without a context: no condition, one key, one action.
	p = policyOf(t, e.ok(nil, "policy", "--role", "decrypt", "--key", arn1))
	if len(p.Statement) != 1 || p.Statement[0].Condition != nil || !slices.Equal(p.Statement[0].Resource, []string{arn1}) {
		t.Fatalf("policy %+v", p)
	}
	p = policyOf(t, e.ok(nil, "policy", "--key", arn1))
	if len(p.Statement) != 1 || p.Statement[0].Action[0] != "kms:GenerateDataKey" {
		t.Fatalf("single-key encrypt policy %+v", p)
	}
}

func TestPolicyRefusals(t *testing.T) {
	e := newEnv(t)
	for _, args := range [][]string{
		{"policy"},
		{"policy", "--key", "alias/training"},
		{"policy", "--key", "arn:aws:kms:us-east-1:111122223333:alias/training"},
		{"policy", "--key", "1234abcd-12ab-34cd-56ef-1234567890ab"},
		{"policy", "--key", arn1, "--role", "admin"},
		{"policy", "--key", arn1, "--context", "novalue"},
		{"policy", "--key", arn1, "--context", "aws-crypto-public-key=x"},
	} {
		r := e.fail(exitUsage, nil, args...)
		if len(r.stdout) != 0 {
			t.Fatalf("%v printed a policy", args)
		}
	}
}

func kmsRequest(action, key string, ec map[string]string) request {
	ctx := map[string][]string{}
	for k, v := range ec {
		ctx["kms:EncryptionContext:"+k] = []string{v}
		ctx["kms:EncryptionContextKeys"] = append(ctx["kms:EncryptionContextKeys"], k)
	}
	return request{action: action, resource: key, context: ctx}
}

// TestPolicyWholeJob: a rewrap job from one S3 prefix into another, with
// a manifest in S3 and secrets: each call the job makes is allowed, and
// each call next to it that it does not make is not.
func TestPolicyWholeJob(t *testing.T) {
	e := newEnv(t)
	const secretKey = "arn:aws:kms:eu-west-1:111122223333:key/1111abcd-12ab-34cd-56ef-1234567890ab"
	p := policyOf(t, e.ok(nil, "policy", "--role", "rewrap", "--old-key", arn1, "--key", arn2, "-c", "dataset=train",
		"--s3-read", "s3://raw/train/", "--s3-write", "s3://enc/train/", "--manifest", "s3://enc/state/job.jsonl", "--audit", "s3://audit/job.jsonl",
		"--secret", "secretsmanager://prod/db#password", "--secret", "secretsmanager://prod/api?stage=AWSPREVIOUS", "--secret", "secretsmanager://prod/cfg",
		"--secret", "ssm:///prod/token", "--secret", "env://HOME",
		"--region", "eu-west-1", "--account", "111122223333", "--secret-kms-key", secretKey))
	train := map[string]string{"dataset": "train"}
	list := func(bucket, prefix string) request {
		ctx := map[string][]string{}
		if prefix != "" {
			ctx["s3:prefix"] = []string{prefix}
		}
		return request{action: "s3:ListBucket", resource: "arn:aws:s3:::" + bucket, context: ctx}
	}
	obj := func(action, bucketKey string) request {
		return request{action: action, resource: "arn:aws:s3:::" + bucketKey}
	}
	via := func(r request, service string) request {
		r.context["kms:ViaService"] = []string{service}
		return r
	}
	allowed := []request{
		kmsRequest("kms:Decrypt", arn1, train),
		kmsRequest("kms:Encrypt", arn2, train),
		list("raw", "train/"), list("raw", "train/2026/"),
		obj("s3:GetObject", "raw/train/part-0.csv.enc"),
		// Rewrap: UploadPartCopy needs PutObject on the destination and
		// GetObject on the source; outputs are checked with HeadObject.
		obj("s3:PutObject", "enc/train/part-0.csv.enc"), obj("s3:AbortMultipartUpload", "enc/train/part-0.csv.enc"),
		obj("s3:GetObject", "enc/train/part-0.csv.enc"),
		obj("s3:GetObject", "enc/state/job.jsonl"), obj("s3:PutObject", "enc/state/job.jsonl"), obj("s3:PutObject", "audit/job.jsonl"),
		{action: "secretsmanager:GetSecretValue", resource: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/db-AbCdEf"},
		{action: "secretsmanager:GetSecretValue", resource: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/api-AbCdEf"},
		{action: "secretsmanager:BatchGetSecretValue", resource: "*"},
		{action: "ssm:GetParameter", resource: "arn:aws:ssm:eu-west-1:111122223333:parameter/prod/token"},
		via(kmsRequest("kms:Decrypt", secretKey, nil), "secretsmanager.eu-west-1.amazonaws.com"),
	}
	denied := []request{
		kmsRequest("kms:Decrypt", arn1, map[string]string{"dataset": "test"}),
		kmsRequest("kms:Decrypt", arn1, map[string]string{"dataset": "train", "extra": "x"}),
		kmsRequest("kms:Decrypt", arn2, train),
		kmsRequest("kms:GenerateDataKey", arn2, train), // rewrap never generates
		kmsRequest("kms:Encrypt", arn1, train),
		kmsRequest("kms:Decrypt", secretKey, nil), // not through the services
		list("raw", ""), list("raw", "test/"), list("enc", "train/"),
		obj("s3:GetObject", "raw/test/part-0.csv"),
		obj("s3:PutObject", "raw/train/part-0.csv.enc"), // the source is read only
		obj("s3:PutObject", "enc/other/x"),
		obj("s3:GetObject", "audit/other.jsonl"),
		{action: "secretsmanager:GetSecretValue", resource: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/dbx-AbCdEf"},
		{action: "secretsmanager:GetSecretValue", resource: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/db-extra-AbCdEf"},
		{action: "ssm:GetParameter", resource: "arn:aws:ssm:eu-west-1:111122223333:parameter/prod/token2"},
		{action: "ssm:GetParameters", resource: "arn:aws:ssm:eu-west-1:111122223333:parameter/prod/token"}, // one parameter: no batch
	}
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

func TestPolicyRoles(t *testing.T) {
	e := newEnv(t)
	p := policyOf(t, e.ok(nil, "policy", "--role", "reencrypt", "--old-key", arn1, "--key", arn2, "--key", arn1, "--unsigned-only"))
	for _, r := range []request{kmsRequest("kms:Decrypt", arn1, nil), kmsRequest("kms:GenerateDataKey", arn2, nil), kmsRequest("kms:Encrypt", arn1, nil)} {
		if !p.allows(r) {
			t.Errorf("reencrypt: %s on %s is not allowed", r.action, r.resource)
		}
	}
	if p.allows(kmsRequest("kms:Decrypt", arn2, nil)) {
		t.Error("reencrypt: kms:Decrypt is allowed on a new key")
	}
	// S3 only: a whole bucket lists without a prefix condition; an object
	// source is read, never listed; two decrypted parameters are batched.
	p = policyOf(t, e.ok(nil, "policy", "--s3-read", "s3://raw", "--s3-read", "s3://raw2/one.csv",
		"--secret", "ssm://arn:aws:ssm:us-east-1:111122223333:parameter/a", "--secret", "ssm://arn:aws:ssm:us-east-1:111122223333:parameter/b"))
	for _, r := range []request{
		{action: "s3:ListBucket", resource: "arn:aws:s3:::raw", context: map[string][]string{}},
		{action: "s3:GetObject", resource: "arn:aws:s3:::raw/any/thing"},
		{action: "s3:GetObject", resource: "arn:aws:s3:::raw2/one.csv"},
		{action: "ssm:GetParameters", resource: "arn:aws:ssm:us-east-1:111122223333:parameter/b"},
	} {
		if !p.allows(r) {
			t.Errorf("%s on %s is not allowed", r.action, r.resource)
		}
	}
	for _, r := range []request{
		{action: "s3:ListBucket", resource: "arn:aws:s3:::raw2", context: map[string][]string{}},
		{action: "s3:GetObject", resource: "arn:aws:s3:::raw2/two.csv"},
		kmsRequest("kms:Decrypt", arn1, nil),
	} {
		if p.allows(r) {
			t.Errorf("%s on %s is allowed", r.action, r.resource)
		}
	}
}

func TestPolicyJobRefusals(t *testing.T) {
	e := newEnv(t)
	for _, args := range [][]string{
		{"policy", "--role", "decrypt", "--key", arn1, "--old-key", arn2},
		{"policy", "--role", "rewrap", "--old-key", "alias/old", "--key", arn2},
		{"policy", "--s3-read", "raw/train/"},
		{"policy", "--s3-read", "s3://raw/train/*"},
		{"policy", "--s3-write", "s3:///x"},
		{"policy", "--manifest", "s3://b/state/"},
		{"policy", "--secret", "secretsmanager://prod/db"}, // a name needs --region and --account
		{"policy", "--secret", "ssm:///prod/db", "--region", "eu-west-1"},
		{"policy", "--secret", "nope://x"},
		{"policy", "--s3-read", "s3://b/", "--secret-kms-key", arn1}, // no secret to decrypt
	} {
		r := e.fail(exitUsage, nil, args...)
		if len(r.stdout) != 0 {
			t.Fatalf("%v printed a policy", args)
		}
	}
}
