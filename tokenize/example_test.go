package tokenize_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"regexp"
	"strings"

	"github.com/mlseal/mlseal/envelope/keyfile"
	"github.com/mlseal/mlseal/tokenize"
)

// Tokenize a CSV table and reverse it. Tokens depend on the keyset, which is
// random, so the example prints their shape and the round trip.
func Example() {
	ctx := context.Background()

	// The keyset is saved encrypted with an envelope keyring: here a new
	// raw AES key; in production a key file or AWS KMS.
	kf, _ := keyfile.Generate(keyfile.GenerateOptions{Name: "example"})
	kr, _ := kf.Keyring()
	ks, _ := tokenize.NewKeyset()
	var saved bytes.Buffer
	if err := ks.Write(ctx, &saved, kr); err != nil {
		panic(err)
	}
	ks, err := tokenize.ReadKeyset(ctx, &saved, kr)
	if err != nil {
		panic(err)
	}

	policy, err := tokenize.ParsePolicy([]byte(`{
	  "version": 1,
	  "fields": [
	    {"name": "email", "op": "deterministic"},
	    {"name": "ssn", "op": "fpe", "alphabet": "digits", "separators": "-"},
	    {"name": "card", "op": "mask", "keep_last": 4}
	  ]
	}`))
	if err != nil {
		panic(err)
	}
	tk, err := tokenize.New(ks, policy)
	if err != nil {
		panic(err)
	}

	in := "id,email,ssn,card\n1,ada@example.com,123-45-6789,4111 1111 1111 1111\n"
	var out bytes.Buffer
	if _, err := tk.Tokenize(&out, strings.NewReader(in), tokenize.Options{Format: tokenize.FormatCSV}); err != nil {
		panic(err)
	}
	recs, _ := csv.NewReader(bytes.NewReader(out.Bytes())).ReadAll()
	fmt.Println(recs[0])
	fmt.Println("email is base64url:", regexp.MustCompile(`^[A-Za-z0-9_-]{48}$`).MatchString(recs[1][1]))
	fmt.Println("ssn keeps its format:", regexp.MustCompile(`^\d{3}-\d{2}-\d{4}$`).MatchString(recs[1][2]) && recs[1][2] != "123-45-6789")
	fmt.Println("card:", recs[1][3])

	var back bytes.Buffer
	if _, err := tk.Detokenize(&back, &out, tokenize.Options{Format: tokenize.FormatCSV}); err != nil {
		panic(err)
	}
	fmt.Print(back.String())
	// Output:
	// [id email ssn card]
	// email is base64url: true
	// ssn keeps its format: true
	// card: **** **** **** 1111
	// id,email,ssn,card
	// 1,ada@example.com,123-45-6789,**** **** **** 1111
}

// A value that FF1 cannot encrypt safely is an error naming the field,
// never passed through silently.
func ExampleTokenizer_TokenizeValue() {
	ks, _ := tokenize.NewKeyset()
	policy, _ := tokenize.ParsePolicy([]byte(`{"version":1,"fields":[
	  {"name":"zip","op":"fpe","alphabet":"digits"}]}`))
	tk, _ := tokenize.New(ks, policy)
	_, err := tk.TokenizeValue("zip", "94107", "")
	fmt.Println(err)
	// Output:
	// field "zip": value cannot be transformed: 5 characters of alphabet digits to encrypt (after keep_last 0); FF1 needs at least 6 for a domain of 1000000 values
}
