package main

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// The end-to-end file cases: 1 GiB read from a file in the page cache, the
// way users run the command, each case in its own process and all of them
// interleaved run by run, so that their ratios compare like with like.
const cliFileSize = 1 << 30

const (
	cliSealer     = "CLI/1GiB/sealer-1-goroutine/file-to-devnull"
	cliEncrypt    = "CLI/1GiB/mlseal-encrypt/file-to-devnull"
	cliEncryptOut = "CLI/1GiB/mlseal-encrypt/file-to-file"
	cliDecrypt    = "CLI/1GiB/mlseal-decrypt/file-to-devnull"
	cliDecryptOut = "CLI/1GiB/mlseal-decrypt/file-to-file"
)

// sealerEnv makes benchtable the one-goroutine sealer that `mlseal encrypt`
// is compared with: it reads 1 MiB from stdin, seals it with AES-256-GCM in
// place, writes it to stdout, and reads the next, all in turn.
const sealerEnv = "BENCHTABLE_SEALER"

func seal(src io.Reader, dst io.Writer) error {
	block, err := aes.NewCipher(make([]byte, 32))
	if err != nil {
		return err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20+aead.Overhead())
	var nonce [12]byte
	for i := uint64(0); ; i++ {
		n, err := io.ReadFull(src, buf[:1<<20])
		if n > 0 {
			binary.BigEndian.PutUint64(nonce[4:], i)
			if _, werr := dst.Write(aead.Seal(buf[:0], nonce[:], buf[:n], nil)); werr != nil {
				return werr
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// runCLIFiles writes 1 GiB of plaintext and its encryption to files, then
// runs, streamCount times in turn: the sealer, `mlseal encrypt -k KEY -o - <
// plain > /dev/null`, `mlseal decrypt -k KEY < plain.enc > /dev/null`,
// `mlseal encrypt -k KEY -o FILE < plain` and `mlseal decrypt -k KEY -o FILE
// < plain.enc`. An output file is synced to disk before it is renamed into
// place, so the -o cases are compared with each other. Each reports MB/s (plaintext
// bytes over wall time), MB per CPU-second of the child, and its peak RSS
// (ru_maxrss).
func runCLIFiles(c *config, res *results, tmp, bin, key string, env []string) error {
	plain := filepath.Join(tmp, "plain")
	f, err := os.Create(plain)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, io.LimitReader(newPatternReader(), cliFileSize))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	enc := plain + ".enc"
	mk := exec.Command(bin, "encrypt", "-k", key, "-o", enc, plain)
	mk.Env, mk.Stderr = env, os.Stderr
	if err := mk.Run(); err != nil {
		return fmt.Errorf("mlseal encrypt -o %s: %w", enc, err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	out := filepath.Join(tmp, "decrypted")
	cases := []struct {
		name string
		in   string
		argv []string
	}{
		{cliSealer, plain, []string{self}},
		// -o -: the command takes /dev/null, a character device, for a
		// terminal and refuses to write ciphertext to it otherwise.
		{cliEncrypt, plain, []string{bin, "encrypt", "-k", key, "-o", "-"}},
		{cliDecrypt, enc, []string{bin, "decrypt", "-k", key}},
		{cliEncryptOut, plain, []string{bin, "encrypt", "-k", key, "-o", out}},
		{cliDecryptOut, enc, []string{bin, "decrypt", "-k", key, "-o", out}},
	}
	for i := range c.streamCount {
		for _, cs := range cases {
			logf("the mlseal command: %s, run %d/%d", cs.name, i+1, c.streamCount)
			os.Remove(out)
			cenv := env
			if cs.name == cliSealer {
				cenv = append(slices.Clip(env), sealerEnv+"=1")
			}
			m, err := runFileCase(cs.argv, cs.in, cenv)
			if err != nil {
				return fmt.Errorf("%s: %w", cs.name, err)
			}
			res.add(cs.name, m)
			// The removal of a 1 GiB output and the kernel's writeback
			// would otherwise spill into the next case's time.
			os.Remove(out)
			syscall.Sync()
		}
	}
	os.Remove(out)
	return nil
}

// runFileCase runs argv with stdin from the file in and stdout to
// /dev/null, and returns its metrics.
func runFileCase(argv []string, in string, env []string) (map[string]float64, error) {
	stdin, err := os.Open(in)
	if err != nil {
		return nil, err
	}
	defer stdin.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, stdin, devnull, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, err
	}
	elapsed := time.Since(start)
	m := map[string]float64{
		"ns/op": float64(elapsed.Nanoseconds()),
		"MB/s":  cliFileSize / 1e6 / elapsed.Seconds(),
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m["peak-RSS-MiB"] = float64(ru.Maxrss) / 1024 // KiB on Linux
		if cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()); cpu > 0 {
			m["MB/cpu-s"] = cliFileSize / 1e6 / cpu.Seconds()
		}
	}
	return m, nil
}

// cliTargets judge the end-to-end file cases on the ratios of the runs
// made in turn.
func cliTargets(r *results) []target {
	var ts []target
	ratio := func(what string, want float64, name, base string) {
		var rs []float64
		a, b := r.runs[name], r.runs[base]
		for i := range min(len(a), len(b)) {
			if y := b[i]["MB/s"]; y > 0 {
				rs = append(rs, a[i]["MB/s"]/y)
			}
		}
		if len(rs) == 0 {
			ts = append(ts, target{what, "", "not measured"})
			return
		}
		x, _ := r.get(name, "MB/s")
		y, _ := r.get(base, "MB/s")
		measured := fmt.Sprintf("%sx (%s / %s MB/s", fmtRatio(median(rs)), fmtMBs(x), fmtMBs(y))
		if cx, ok := r.get(name, "MB/cpu-s"); ok {
			cy, _ := r.get(base, "MB/cpu-s")
			measured += fmt.Sprintf("; %s / %s MB per CPU-second", fmtMBs(cx), fmtMBs(cy))
		}
		measured += fmt.Sprintf("; median of %d runs in turn)", len(rs))
		ts = append(ts, target{what, measured, verdict(true, median(rs), want)})
	}
	ratio("`mlseal decrypt -k KEY < 1 GiB file > /dev/null` >= 0.9x `mlseal encrypt` of the same data", 0.9, cliDecrypt, cliEncrypt)
	ratio("`mlseal decrypt -k KEY -o FILE < 1 GiB file` >= 0.9x `mlseal encrypt -o FILE` of the same data (both sync the file)", 0.9, cliDecryptOut, cliEncryptOut)
	ratio("`mlseal encrypt` of a 1 GiB file to /dev/null >= 2.0x a one-goroutine read-1-MiB-and-seal program", 2.0, cliEncrypt, cliSealer)
	for _, c := range [][2]string{{cliDecrypt, "`mlseal decrypt` of a 1 GiB file to /dev/null"}, {cliDecryptOut, "`mlseal decrypt -o FILE` of a 1 GiB file"}} {
		name, what := c[0], c[1]
		v, ok := r.get(name, "peak-RSS-MiB")
		ts = append(ts, target{what + ": peak RSS <= 64 MiB", fmt.Sprintf("%.0f MiB", v), verdictAtMost(ok, v, 64, "MiB")})
	}
	return ts
}
