package envelope_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/rawaes"
)

// fuzzKey is the fixed wrapping key of the messages in the FuzzDecrypt seed
// corpus, so that the fuzzer starts from messages that decrypt.
var fuzzKey = bytes.Repeat([]byte{0x42}, 32)

func fuzzKeyring(t testing.TB) envelope.Keyring {
	kr, err := rawaes.New("mlseal-fuzz", "fuzz", fuzzKey)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// FuzzDecrypt feeds arbitrary messages to the decrypting reader: it must
// never panic, and every failure must be one of the documented errors.
func FuzzDecrypt(f *testing.F) {
	seeds, _ := os.ReadDir("testdata/fuzz/FuzzDecrypt")
	if len(seeds) == 0 {
		f.Fatal("the seed corpus testdata/fuzz/FuzzDecrypt is empty")
	}
	kr := fuzzKeyring(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, workers := range []int{1, 2} {
			opts := envelope.DecryptOptions{
				Keyring:          kr,
				CommitmentPolicy: envelope.RequireEncryptAllowDecrypt,
				Workers:          workers,
				MaxFrameLength:   1 << 16,
				MaxNonFramedSize: 1 << 16,
			}
			r, err := envelope.Decrypt(ctx, bytes.NewReader(data), opts)
			if err == nil {
				_, err = io.Copy(io.Discard, r)
			}
			if err != nil && !envelope.IsIntegrityError(err) && !errors.Is(err, envelope.ErrLimit) && !errors.Is(err, envelope.ErrPolicy) {
				t.Fatalf("unexpected kind of error: %v", err)
			}
		}
	})
}

// TestWriteFuzzSeeds regenerates the FuzzDecrypt seed corpus when run with
// MLSEAL_WRITE_FUZZ_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("MLSEAL_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set MLSEAL_WRITE_FUZZ_SEEDS=1 to regenerate the fuzz seed corpora")
	}
	kr := fuzzKeyring(t)
	var msgs [][]byte
	for _, suite := range suites {
		for _, size := range []int{0, 1, 100, 700} {
			ct, err := envelope.EncryptBytes(ctx, bytes.Repeat([]byte("p"), size), envelope.EncryptOptions{Keyring: kr, Suite: suite, FrameLength: 256, Context: map[string]string{"a": "b"}})
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, ct)
		}
	}
	writeSeeds(t, "testdata/fuzz/FuzzDecrypt", msgs)
	writeSeeds(t, "internal/header/testdata/fuzz/FuzzParse", msgs)
	vs := loadVectors(t, "v4-Net-4.0.1.zip")
	var vectors [][]byte
	for i, name := range sortedNames(vs.tests) {
		if i%11 == 0 {
			vectors = append(vectors, vs.read(t, vs.tests[name].Ciphertext))
		}
	}
	writeSeeds(t, "internal/header/testdata/fuzz/FuzzParse", vectors)
	writeSeeds(t, "internal/header/testdata/fuzz/FuzzParseContext", [][]byte{{}, {0, 1, 0, 1, 'a', 0, 1, 'b'}, {0, 2, 0, 1, 'b', 0, 0, 0, 1, 'a', 0, 2, 'x', 'y'}})
}
