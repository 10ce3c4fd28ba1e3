//go:build !unix

package dataset_test

import "errors"

func mkfifo(string) error { return errors.New("not supported") }
