package keyfile_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyfile"
)

// Generate a key, store it, and load it back as a keyring.
func Example() {
	dir, err := os.MkdirTemp("", "keyfile-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "keys", "backups.key")

	f, err := keyfile.Generate(keyfile.GenerateOptions{Namespace: "example-corp", Name: "backups"})
	if err != nil {
		log.Fatal(err)
	}
	if err := f.WriteNew(path); err != nil { // mode 0600; never overwrites
		log.Fatal(err)
	}
	fmt.Println("wrote", f) // prints no key material

	loaded, err := keyfile.Load(path)
	if err != nil {
		log.Fatal(err)
	}
	kr, err := loaded.Keyring()
	if err != nil {
		log.Fatal(err)
	}

	// envelope.Encrypt and envelope.Decrypt drive the keyring like this.
	ctx := context.Background()
	em := &envelope.EncryptionMaterials{Suite: envelope.DefaultSuite, Context: map[string]string{"dataset": "orders"}}
	if err := kr.OnEncrypt(ctx, em); err != nil {
		log.Fatal(err)
	}
	dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite, Context: em.Context}
	if err := kr.OnDecrypt(ctx, dm, em.EncryptedDataKeys); err != nil {
		log.Fatal(err)
	}
	fmt.Println("same data key:", bytes.Equal(dm.DataKey, em.DataKey))

	// A second WriteNew to the same path is refused.
	err = f.WriteNew(path)
	fmt.Println("overwrite refused:", err != nil)
	// Output:
	// wrote raw-aes key example-corp/backups
	// same data key: true
	// overwrite refused: true
}
