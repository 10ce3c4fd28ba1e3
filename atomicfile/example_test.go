package atomicfile_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/mlseal/mlseal/atomicfile"
)

// A key file is written with mode 0600 and appears whole or not at all;
// an existing file of that name is never replaced.
func ExampleCreate() {
	dir, err := os.MkdirTemp("", "atomicfile-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "team.key")

	f, err := atomicfile.Create(name, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := f.WriteString("secret\n"); err != nil {
		f.Abort() // nothing remains of the output
		log.Fatal(err)
	}
	if err := f.Commit(); err != nil {
		log.Fatal(err)
	}
	b, _ := os.ReadFile(name)
	fmt.Printf("%q\n", b)
	// Output:
	// "secret\n"
}
