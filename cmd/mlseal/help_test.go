package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// commands lists every command below path (" sub" form) from the help
// of the built binary.
func commands(e *env, path []string) [][]string {
	e.t.Helper()
	help := string(e.ok(nil, append(path, "--help")...).stdout)
	_, list, ok := strings.Cut(help, "\nAvailable Commands:\n")
	if !ok {
		return nil
	}
	list, _, _ = strings.Cut(list, "\n\n")
	var all [][]string
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			sub := append(append([]string(nil), path...), f[0])
			all = append(all, sub)
			all = append(all, commands(e, sub)...)
		}
	}
	return all
}

// typeName is a flag whose placeholder is its Go type, not a value.
var typeName = regexp.MustCompile(`(?m)^\s+(-\w, )?--[\w.-]+ (string|int|int64|uint|float64|duration|strings|stringArray)\s`)

// TestHelp: every command's --help has Examples and reads its flags'
// values as values; the root names every capability.
func TestHelp(t *testing.T) {
	e := newEnv(t)
	cmds := commands(e, nil)
	for _, want := range [][]string{{"encrypt"}, {"tokenize", "keygen"}, {"tokenize", "rotate"}, {"secrets", "serve"}, {"completion", "bash"}, {"help"}} {
		found := false
		for _, c := range cmds {
			found = found || strings.Join(c, " ") == strings.Join(want, " ")
		}
		if !found {
			t.Errorf("mlseal %s is not listed in the help", strings.Join(want, " "))
		}
	}
	for _, c := range append(cmds, nil) {
		help := string(e.ok(nil, append(c, "--help")...).stdout)
		name := strings.Join(append([]string{"mlseal"}, c...), " ")
		_, ex, _ := strings.Cut(help, "\nExamples:\n")
		if ex, _, _ = strings.Cut(ex, "\n\n"); !strings.Contains(ex, "mlseal ") {
			t.Errorf("%s --help has no Examples section", name)
		}
		if m := typeName.FindAllString(help, -1); m != nil {
			t.Errorf("%s --help: flags with a type for a placeholder: %q", name, m)
		}
	}
	root := string(e.ok(nil, "--help").stdout)
	for _, want := range []string{"KMS", "S3", "Parquet", "tokenize keygen", "tokenize rotate", "secrets", "completion", "rewrap", "policy"} {
		if !strings.Contains(root, want) {
			t.Errorf("mlseal --help does not name %q", want)
		}
	}
	for c, want := range map[string]string{"policy": "--role encrypt|decrypt|rewrap|reencrypt", "keygen": "--kind raw-aes|raw-rsa|token-keyset", "tokenize": "--format csv|jsonl|parquet"} {
		if help := string(e.ok(nil, c, "--help").stdout); !strings.Contains(help, want) {
			t.Errorf("mlseal %s --help lacks %q", c, want)
		}
	}
	if r := e.ok(nil, "completion", "bash"); !strings.Contains(string(r.stdout), "complete -o default") {
		t.Errorf("mlseal completion bash wrote no completion script:\n%.300s", r.stdout)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "mlseal completion") {
		t.Error("README.md does not document mlseal completion")
	}
}
