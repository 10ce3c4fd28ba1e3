package siv_test

import (
	"crypto/rand"
	"fmt"

	"github.com/mlseal/mlseal/tokenize/siv"
)

func Example() {
	key := make([]byte, 64) // the CMAC key, then the CTR key
	rand.Read(key)
	c, err := siv.New(key)
	if err != nil {
		panic(err)
	}
	// The same plaintext and associated data always give the same
	// ciphertext, which is what makes tokens joinable.
	email := c.Prepare([]byte("domain: email"))
	a := email.Seal(nil, []byte("ada@example.com"))
	b := email.Seal(nil, []byte("ada@example.com"))
	fmt.Println(string(a) == string(b), len(a))

	pt, err := email.Open(nil, a)
	fmt.Println(string(pt), err)
	_, err = c.Prepare([]byte("domain: name")).Open(nil, a)
	fmt.Println(err)
	// Output:
	// true 31
	// ada@example.com <nil>
	// siv: message authentication failed
}
