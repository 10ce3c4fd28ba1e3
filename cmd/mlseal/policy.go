package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlseal/mlseal/envelope/keyring/awskms"
)

func init() { productCommands = append(productCommands, (*app).policyCmd) }

// publicKeyContextKey is the encryption context key in which signed suites
// store the signature verification key; KMS sees it with the rest.
const publicKeyContextKey = "aws-crypto-public-key"

type policyFlags struct {
	keys         []string
	context      []string
	role         string
	unsignedOnly bool
}

func (a *app) policyCmd() *cobra.Command {
	var f policyFlags
	cmd := &cobra.Command{
		Use:   "policy --key ARN... [--context KEY=VALUE]... [--role encrypt|decrypt]",
		Short: "Print the least-privilege IAM policy for a job that uses AWS KMS keys",
		Long: `Print the IAM policy JSON that a job needs to encrypt or decrypt with the
given AWS KMS keys, and nothing more.

encrypt: kms:GenerateDataKey on the first key (which generates each data key)
and kms:Encrypt on the others (which wrap it too). decrypt: kms:Decrypt on all
of them. Resources are the key ARNs (with or without the kms: prefix; aliases
cannot be used in a policy's resources).

With --context, each pair becomes a kms:EncryptionContext:KEY condition, and
kms:EncryptionContextKeys is limited to those keys, so that the keys can be
used with this context only. Signed suites add aws-crypto-public-key (the
message's signature verification key) to the context that KMS sees, so it is
allowed too unless --unsigned-only says the job writes and reads unsigned
messages only.

Attach the policy to the job's role; key policies must also allow the role.

` + exitCodeHelp,
		Args: cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			p, err := kmsPolicy(&f)
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
	fl.StringArrayVarP(&f.context, "context", "c", nil, "encryption context pair `KEY=VALUE` the job uses (repeatable)")
	fl.StringVar(&f.role, "role", "encrypt", "what the job does: `encrypt` or decrypt")
	fl.BoolVar(&f.unsignedOnly, "unsigned-only", false, "the job uses unsigned suites only: do not allow "+publicKeyContextKey)
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

func kmsPolicy(f *policyFlags) (*iamPolicy, error) {
	if len(f.keys) == 0 {
		return nil, &cliError{err: fmt.Errorf("policy needs at least one --key ARN"), code: exitUsage,
			hint: "pass --key arn:aws:kms:REGION:ACCOUNT:key/ID ('mlseal inspect' shows the key ARNs of a message)"}
	}
	var arns []string
	for _, k := range f.keys {
		id := k
		if s, ok := kmsRef(k); ok {
			id = s
		}
		a, err := awskms.ParseARN(id)
		if err != nil || a.ResourceType != "key" {
			return nil, &cliError{err: fmt.Errorf("--key %q is not a KMS key ARN", k), code: exitUsage,
				hint: "a policy names keys by key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID); 'aws kms describe-key --key-id alias/NAME' shows an alias's key ARN"}
		}
		if !slices.Contains(arns, id) {
			arns = append(arns, id)
		}
	}
	ec, err := parseContext(f.context)
	if err != nil {
		return nil, err
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
	p := &iamPolicy{Version: "2012-10-17"}
	add := func(sid, action string, res []string) {
		if len(res) > 0 {
			p.Statement = append(p.Statement, iamStatement{Sid: sid, Effect: "Allow", Action: []string{action}, Resource: res, Condition: cond})
		}
	}
	switch strings.ToLower(f.role) {
	case "encrypt":
		add("MlsealGenerateDataKey", "kms:GenerateDataKey", arns[:1])
		add("MlsealWrapDataKey", "kms:Encrypt", arns[1:])
	case "decrypt":
		add("MlsealDecrypt", "kms:Decrypt", arns)
	default:
		return nil, &cliError{err: fmt.Errorf("--role %q is neither encrypt nor decrypt", f.role), code: exitUsage}
	}
	return p, nil
}
