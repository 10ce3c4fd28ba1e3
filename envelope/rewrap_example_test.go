package envelope_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/multi"
)

// Rewrap moves a message from a retired key to new ones: the data key is
// unwrapped with the old key and wrapped with each new key, the header gets
// a new tag, and the body is copied as it is.
func ExampleRewrap() {
	ctx := context.Background()
	oldKey, newKey, recoveryKey := exampleKeyring(), exampleKeyring(), exampleKeyring()
	msg, err := envelope.EncryptBytes(ctx, []byte("label,text\n1,great product\n"), envelope.EncryptOptions{
		Keyring: oldKey,
		Context: map[string]string{"dataset": "reviews"},
	})
	if err != nil {
		log.Fatal(err)
	}

	// The new keyring wraps the data key it is handed: no generator.
	newKeys, err := multi.New(nil, newKey, recoveryKey)
	if err != nil {
		log.Fatal(err)
	}
	var out bytes.Buffer
	rw, err := envelope.Rewrap(ctx, &out, bytes.NewReader(msg), envelope.RewrapOptions{
		Decrypt: envelope.DecryptOptions{Keyring: oldKey, Context: map[string]string{"dataset": "reviews"}},
		Keyring: newKeys,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same message id:", bytes.Equal(rw.Old.MessageID, rw.New.MessageID))
	fmt.Println("wrapped keys:", len(rw.Old.EncryptedDataKeys), "->", len(rw.New.EncryptedDataKeys))
	fmt.Println("same body:", bytes.Equal(msg[rw.OldHeaderLen:], out.Bytes()[len(rw.Header):]))

	pt, err := envelope.DecryptBytes(ctx, out.Bytes(), envelope.DecryptOptions{Keyring: recoveryKey})
	fmt.Printf("recovery key: %q, %v\n", pt, err)
	_, err = envelope.DecryptBytes(ctx, out.Bytes(), envelope.DecryptOptions{Keyring: oldKey})
	fmt.Println("old key refused:", errors.Is(err, envelope.ErrNoDataKey))
	// Output:
	// same message id: true
	// wrapped keys: 1 -> 2
	// same body: true
	// recovery key: "label,text\n1,great product\n", <nil>
	// old key refused: true
}
