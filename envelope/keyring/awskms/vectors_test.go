package awskms

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/mlseal/mlseal/envelope"
)

// recordingClient records Decrypt calls and refuses them, as KMS would
// without access to the vectors' key.
type recordingClient struct {
	Client
	region string
	calls  *[]string
	inputs *[]*kms.DecryptInput
}

func (c recordingClient) Decrypt(_ context.Context, in *kms.DecryptInput, _ ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	*c.calls = append(*c.calls, c.region)
	*c.inputs = append(*c.inputs, in)
	return nil, &responseError{"no AWS here"}
}

// TestESDKVectorHeaders checks the keyrings' matching against the wrapped
// keys of the 33 AWS KMS messages among the AWS Encryption SDK's vectors
// (written by the .NET ESDK): they cannot be decrypted without AWS, but
// which keyring tries which wrapped key, and what it would ask KMS, can be.
func TestESDKVectorHeaders(t *testing.T) {
	zr, err := zip.OpenReader("../../testdata/esdk/v4-Net-4.0.1.zip")
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	read := func(name string) []byte {
		f, err := zr.Open(strings.TrimPrefix(name, "file://"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var keys struct {
		Keys map[string]struct {
			Type  string `json:"type"`
			KeyID string `json:"key-id"`
		} `json:"keys"`
	}
	var manifest struct {
		Tests map[string]struct {
			Ciphertext string `json:"ciphertext"`
			MasterKeys []struct {
				Type string `json:"type"`
				Key  string `json:"key"`
			} `json:"master-keys"`
			Context map[string]string `json:"encryption-context"`
		} `json:"tests"`
	}
	if err := json.Unmarshal(read("keys.json"), &keys); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(read("manifest.json"), &manifest); err != nil {
		t.Fatal(err)
	}

	var calls []string
	var inputs []*kms.DecryptInput
	clients := ClientProviderFunc(func(_ context.Context, region string) (Client, error) {
		return recordingClient{region: region, calls: &calls, inputs: &inputs}, nil
	})
	opts := Options{Clients: clients, GrantTokens: []string{"gt"}}
	n := 0
	for name, tc := range manifest.Tests {
		if len(tc.MasterKeys) != 1 || tc.MasterKeys[0].Type != "aws-kms" {
			continue
		}
		n++
		arn := keys.Keys[tc.MasterKeys[0].Key].KeyID
		a, err := ParseARN(arn)
		if err != nil {
			t.Fatal(err)
		}
		h, err := envelope.ParseHeader(bytes.NewReader(read(tc.Ciphertext)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(h.EncryptedDataKeys) != 1 || h.EncryptedDataKeys[0].ProviderID != ProviderID || string(h.EncryptedDataKeys[0].ProviderInfo) != arn {
			t.Fatalf("%s: wrapped keys %+v, want one aws-kms key with provider info %s", name, h.EncryptedDataKeys, arn)
		}
		if got := Keys(h); len(got) != 1 || got[0] != arn {
			t.Fatalf("%s: Keys = %v", name, got)
		}
		full := maps.Clone(h.Context)
		maps.Copy(full, tc.Context)
		edk := h.EncryptedDataKeys[0]

		strict, _ := New(arn, opts)
		mrk, _ := NewMRK(arn, opts)
		disc, _ := NewDiscoveryMulti([]string{a.Region}, &DiscoveryFilter{Partition: "aws", Accounts: []string{a.Account}}, opts)
		discAll, _ := NewDiscoveryMulti([]string{a.Region}, nil, opts)
		mrkDisc, _ := NewMRKDiscovery(a.Region, nil, opts)
		otherKey, _ := New(strings.Replace(arn, a.ResourceID, "00000000-0000-0000-0000-000000000000", 1), opts)
		otherRegion := a
		otherRegion.Region = "eu-west-1"
		wrongRegion, _ := NewMRK(otherRegion.String(), opts) // not a multi-Region key
		otherAccount, _ := NewDiscovery(&DiscoveryFilter{Partition: "aws", Accounts: []string{"111122223333"}}, opts)
		otherPartition, _ := NewDiscovery(&DiscoveryFilter{Partition: "aws-cn", Accounts: []string{a.Account}}, opts)
		mrkDiscElsewhere, _ := NewMRKDiscovery("eu-west-1", nil, opts)

		for _, c := range []struct {
			kr    envelope.Keyring
			tries bool
		}{
			{strict, true}, {mrk, true}, {disc, true}, {discAll, true}, {mrkDisc, true},
			{otherKey, false}, {wrongRegion, false}, {otherAccount, false}, {otherPartition, false}, {mrkDiscElsewhere, false},
		} {
			calls, inputs = nil, nil
			m := &envelope.DecryptionMaterials{Suite: h.Suite, Context: full}
			err := c.kr.OnDecrypt(context.Background(), m, h.EncryptedDataKeys)
			if !errors.Is(err, envelope.ErrNoDataKey) {
				t.Fatalf("%s: %v: %v", name, c.kr, err)
			}
			if !c.tries {
				if len(calls) != 0 {
					t.Fatalf("%s: %v called KMS for a key that is not its own", name, c.kr)
				}
				continue
			}
			if len(calls) != 1 || calls[0] != a.Region {
				t.Fatalf("%s: %v called KMS in %v, want once in %s", name, c.kr, calls, a.Region)
			}
			in := inputs[0]
			if aws.ToString(in.KeyId) != arn || !bytes.Equal(in.CiphertextBlob, edk.Ciphertext) || !maps.Equal(in.EncryptionContext, full) ||
				len(in.GrantTokens) != 1 {
				t.Fatalf("%s: %v sent %+v", name, c.kr, in)
			}
		}
	}
	if n != 33 {
		t.Fatalf("%d AWS KMS vectors, want 33", n)
	}
}
