package awskms_test

import (
	"bytes"
	"context"
	"fmt"
	"log"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/awskms"
	kmstest "github.com/mlseal/mlseal/internal/testserver/kms"
)

// testClients reaches a local KMS test server. Real programs leave
// Options.Clients nil: the standard AWS configuration chain is used.
func testClients(srv *kmstest.Server) awskms.ClientProvider {
	clients := map[string]awskms.Client{}
	return awskms.ClientProviderFunc(func(_ context.Context, region string) (awskms.Client, error) {
		if clients[region] == nil {
			clients[region] = kms.New(kms.Options{
				Region:       region,
				BaseEndpoint: aws.String(srv.URL),
				Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "example", ""),
			})
		}
		return clients[region], nil
	})
}

func Example() {
	srv := kmstest.New()
	defer srv.Close()
	keyARN := srv.CreateKey("eu-west-1")
	opts := awskms.Options{Clients: testClients(srv)}

	// Encrypt under a KMS key: one GenerateDataKey call per message.
	kr, err := awskms.New(keyARN, opts)
	if err != nil {
		log.Fatal(err)
	}
	ec := map[string]string{"dataset": "reviews-2026"}
	ct, err := envelope.EncryptBytes(context.Background(), []byte("hello, KMS"), envelope.EncryptOptions{Keyring: kr, Context: ec})
	if err != nil {
		log.Fatal(err)
	}
	h, _ := envelope.ParseHeader(bytes.NewReader(ct))
	fmt.Println(h.EncryptedDataKeys[0].ProviderID, string(h.EncryptedDataKeys[0].ProviderInfo) == keyARN)

	// Decrypt with the same key named by its ARN: one Decrypt call.
	pt, err := envelope.DecryptBytes(context.Background(), ct, envelope.DecryptOptions{Keyring: kr, Context: ec})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", pt)
	fmt.Println("KMS calls:", srv.Calls(kmstest.OpGenerateDataKey), "GenerateDataKey,", srv.Calls(kmstest.OpDecrypt), "Decrypt")
	// Output:
	// aws-kms true
	// hello, KMS
	// KMS calls: 1 GenerateDataKey, 1 Decrypt
}

func ExampleNewDiscoveryMulti() {
	srv := kmstest.New()
	defer srv.Close()
	opts := awskms.Options{Clients: testClients(srv)}
	kr, _ := awskms.New(srv.CreateKey("us-west-2"), opts)
	ct, err := envelope.EncryptBytes(context.Background(), []byte("found by discovery"), envelope.EncryptOptions{Keyring: kr})
	if err != nil {
		log.Fatal(err)
	}

	// A reader who does not know the key: any key of the trusted account
	// that KMS in the regions the reader chose can use. The message's
	// header, not yet authenticated, never picks the region.
	d, err := awskms.NewDiscoveryMulti([]string{"us-east-1", "us-west-2"},
		&awskms.DiscoveryFilter{Partition: "aws", Accounts: []string{kmstest.DefaultAccount}}, opts)
	if err != nil {
		log.Fatal(err)
	}
	pt, err := envelope.DecryptBytes(context.Background(), ct, envelope.DecryptOptions{Keyring: d})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", pt)
	// Output: found by discovery
}

func ExampleNewMRK() {
	srv := kmstest.New()
	defer srv.Close()
	opts := awskms.Options{Clients: testClients(srv)}
	arns := srv.CreateMultiRegionKey("us-east-1", "eu-west-1")
	primary, _ := awskms.New(arns[0], opts)
	ct, err := envelope.EncryptBytes(context.Background(), []byte("written in us-east-1"), envelope.EncryptOptions{Keyring: primary})
	if err != nil {
		log.Fatal(err)
	}

	// The replica in eu-west-1 opens it, calling KMS in eu-west-1 only.
	replica, _ := awskms.NewMRK(arns[1], opts)
	pt, err := envelope.DecryptBytes(context.Background(), ct, envelope.DecryptOptions{Keyring: replica})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s, read in %s\n", pt, srv.Requests()[1].Region)
	// Output: written in us-east-1, read in eu-west-1
}
