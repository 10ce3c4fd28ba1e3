package ff1_test

import (
	"encoding/hex"
	"fmt"

	"github.com/mlseal/mlseal/tokenize/ff1"
)

// Encrypt ten decimal digits with NIST's first FF1 sample: the numerals are
// the digits' values, and the result is ten digits again.
func Example() {
	key, _ := hex.DecodeString("2B7E151628AED2A6ABF7158809CF4F3C")
	c, err := ff1.NewCipher(key, 10)
	if err != nil {
		panic(err)
	}
	digits := []uint16{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	ct := make([]uint16, len(digits))
	if err := c.Encrypt(ct, digits, nil); err != nil {
		panic(err)
	}
	fmt.Println(ct)

	back := make([]uint16, len(ct))
	_ = c.Decrypt(back, ct, nil)
	fmt.Println(back)

	// Five digits are only 100,000 values: too few to encrypt safely.
	fmt.Println(c.Encrypt(ct, digits[:5], nil))
	// Output:
	// [2 4 3 3 4 7 7 4 8 4]
	// [0 1 2 3 4 5 6 7 8 9]
	// ff1: input domain too small: 5 numerals in radix 10 give fewer than 1000000 values; at least 6 are needed
}
