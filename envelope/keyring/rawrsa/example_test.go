package rawrsa_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"log"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/rawrsa"
)

// A producer holds only the public key, so it can encrypt but never read back
// what it wrote; the consumer holds the private key. Both name the key the
// same way and use the same padding.
func Example() {
	priv, err := rsa.GenerateKey(rand.Reader, 2048) // in practice, loaded from a key file
	if err != nil {
		log.Fatal(err)
	}

	producer, err := rawrsa.New("example-corp", "nightly-export", &priv.PublicKey, nil, rawrsa.OAEPSHA256)
	if err != nil {
		log.Fatal(err)
	}
	consumer, err := rawrsa.New("example-corp", "nightly-export", nil, priv, rawrsa.OAEPSHA256)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(producer)
	fmt.Println(consumer)

	// envelope.Encrypt and envelope.Decrypt drive the keyrings like this.
	ctx := context.Background()
	em := &envelope.EncryptionMaterials{Suite: envelope.DefaultSuite}
	if err := producer.OnEncrypt(ctx, em); err != nil {
		log.Fatal(err)
	}
	edk := em.EncryptedDataKeys[0]
	fmt.Printf("wrapped a %d-byte data key for %s/%s\n", len(em.DataKey), edk.ProviderID, edk.ProviderInfo)

	dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite}
	if err := consumer.OnDecrypt(ctx, dm, em.EncryptedDataKeys); err != nil {
		log.Fatal(err)
	}
	fmt.Println("unwrapped the same key:", bytes.Equal(dm.DataKey, em.DataKey))

	// The producer cannot unwrap it.
	err = producer.OnDecrypt(ctx, &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite}, em.EncryptedDataKeys)
	fmt.Println(err)
	// Output:
	// rawrsa example-corp/nightly-export oaep-sha256 encrypt only
	// rawrsa example-corp/nightly-export oaep-sha256 decrypt only
	// wrapped a 32-byte data key for example-corp/nightly-export
	// unwrapped the same key: true
	// rawrsa: key example-corp/nightly-export has no private key, so it cannot decrypt: load its private key: no keyring could unwrap a data key
}
