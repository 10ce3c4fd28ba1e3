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
	for _, s := range p.Statement {
		if s.Effect != "Allow" || len(s.Action) != 1 || len(s.Resource) == 0 {
			t.Fatalf("statement %+v", s)
		}
		for _, a := range s.Action {
			if !slices.Contains([]string{"kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"}, a) {
				t.Fatalf("action %s is broader than the job needs", a)
			}
		}
	}
	return p
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
