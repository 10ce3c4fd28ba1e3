package cache_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/cache"
	"github.com/mlseal/mlseal/envelope/keyring/awskms"
	kmstest "github.com/mlseal/mlseal/internal/testserver/kms"
)

// Encrypting many small files under one KMS key: with a caching materials
// manager, one data key serves up to 1000 messages or 5 minutes.
func Example() {
	srv := kmstest.New() // a local KMS test server
	defer srv.Close()
	client := kms.New(kms.Options{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "example", "")})
	clients := awskms.ClientProviderFunc(func(context.Context, string) (awskms.Client, error) { return client, nil })
	// Real programs leave Options.Clients nil to use the AWS configuration.
	kr, err := awskms.New(srv.CreateKey("eu-west-1"), awskms.Options{Clients: clients})
	if err != nil {
		log.Fatal(err)
	}
	mm, err := cache.New(envelope.DefaultMaterials(kr), cache.Options{MaxAge: 5 * time.Minute, MaxMessages: 1000})
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	ec := map[string]string{"dataset": "reviews-2026"}
	var messages [][]byte
	for i := range 100 {
		file := fmt.Appendf(nil, "file %d", i)
		// SizeHint: nothing is cached for a message of unknown length.
		ct, err := envelope.EncryptBytes(ctx, file, envelope.EncryptOptions{Materials: mm, SizeHint: int64(len(file)), Context: ec})
		if err != nil {
			log.Fatal(err)
		}
		messages = append(messages, ct)
	}
	for _, ct := range messages {
		if _, err := envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Materials: mm, Context: ec}); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("100 files:", srv.Calls(kmstest.OpGenerateDataKey), "GenerateDataKey,", srv.Calls(kmstest.OpDecrypt), "Decrypt")
	// Output: 100 files: 1 GenerateDataKey, 1 Decrypt
}
