package rawaes_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/rawaes"
)

// A raw AES keyring is named by a namespace and a key name; any ESDK given
// the same wrapping key under the same namespace and name opens what it
// wrapped.
func Example() {
	key := make([]byte, 32) // in practice, loaded from a key file
	if _, err := rand.Read(key); err != nil {
		log.Fatal(err)
	}
	kr, err := rawaes.New("example-corp", "training-data-2024", key)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(kr)

	ctx := context.Background()
	ec := map[string]string{"dataset": "train"}
	ct, err := envelope.EncryptBytes(ctx, []byte("feature vectors"), envelope.EncryptOptions{Keyring: kr, Context: ec})
	if err != nil {
		log.Fatal(err)
	}
	pt, err := envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Keyring: kr, Context: ec})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", pt)
	// Output:
	// raw AES key example-corp/training-data-2024
	// feature vectors
}

// Envelope drives a keyring like this: OnEncrypt makes and wraps a data key
// bound to the encryption context, OnDecrypt unwraps it given the same
// context.
func ExampleKeyring_OnEncrypt() {
	key := make([]byte, 16)
	rand.Read(key)
	kr, err := rawaes.New("example-corp", "k1", key)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	ec := map[string]string{"tenant": "acme"}

	em := &envelope.EncryptionMaterials{Suite: envelope.DefaultSuite, Context: ec}
	if err := kr.OnEncrypt(ctx, em); err != nil {
		log.Fatal(err)
	}
	edk := em.EncryptedDataKeys[0]
	// The provider info is the key name, the tag and IV lengths, and the IV.
	fmt.Printf("provider %s, info %q + %x + 12-byte IV, %d-byte ciphertext\n",
		edk.ProviderID, edk.ProviderInfo[:2], edk.ProviderInfo[2:10], len(edk.Ciphertext))

	dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite, Context: ec}
	if err := kr.OnDecrypt(ctx, dm, em.EncryptedDataKeys); err != nil {
		log.Fatal(err)
	}
	fmt.Println("same data key:", bytes.Equal(dm.DataKey, em.DataKey))

	other := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite, Context: map[string]string{"tenant": "globex"}}
	err = kr.OnDecrypt(ctx, other, em.EncryptedDataKeys)
	fmt.Println("other tenant:", errors.Is(err, envelope.ErrNoDataKey))
	// Output:
	// provider example-corp, info "k1" + 000000800000000c + 12-byte IV, 48-byte ciphertext
	// same data key: true
	// other tenant: true
}
