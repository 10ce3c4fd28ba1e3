package main

import (
	"bufio"
	"context"
	be "encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/mlseal/mlseal/envelope"
)

const notAuthenticated = "this header is NOT authenticated: anyone can write one; 'mlseal verify' with the key checks it"

func (a *app) inspectCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect [--json] [IN]",
		Short: "Show the header of the message IN (default stdin), without a key",
		Long: `Show the header of the message IN (default stdin), without a key: format
version, algorithm suite, message id, stored encryption context, the wrapped
data keys (which keys can decrypt the message), content type and frame length.

Nothing secret is shown, and nothing is authenticated: without the key, the
header may have been written or changed by anyone. 'mlseal verify' checks it.

` + exitCodeHelp,
		Args: cobra.MaximumNArgs(1),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			in := "-"
			if len(args) == 1 {
				in = args[0]
			}
			return a.inspect(cmd.Context(), in, asJSON)
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the header as JSON")
	return cmd
}

type inspectOutput struct {
	Authenticated     bool              `json:"authenticated"`
	Note              string            `json:"note"`
	Version           int               `json:"version"`
	Suite             string            `json:"suite"`
	SuiteID           string            `json:"suite_id"`
	Committing        bool              `json:"key_committing"`
	Signed            bool              `json:"signed"`
	MessageID         string            `json:"message_id"`
	Context           map[string]string `json:"encryption_context"`
	EncryptedDataKeys []inspectEDK      `json:"encrypted_data_keys"`
	ContentType       string            `json:"content_type"`
	FrameLength       int               `json:"frame_length"`
}

type inspectEDK struct {
	ProviderID string `json:"provider_id"`
	// ProviderInfo is the provider info as text when it is printable, else
	// as hex; ProviderInfoHex is always hex.
	ProviderInfo    string `json:"provider_info"`
	ProviderInfoHex string `json:"provider_info_hex"`
	// KeyName and IV are set for a raw AES wrapped key, whose provider info
	// is the key's name followed by the wrapping's AES-GCM parameters: the
	// name as text when it is printable, else as hex; the IV as hex.
	KeyName       string `json:"key_name,omitempty"`
	IV            string `json:"iv,omitempty"`
	CiphertextLen int    `json:"encrypted_key_length"`
}

func (a *app) inspect(_ context.Context, in string, asJSON bool) error {
	r, closeIn, err := a.openInput(in)
	if err != nil {
		return err
	}
	defer closeIn()
	h, err := envelope.ParseHeader(bufio.NewReader(r))
	if err != nil {
		return withHint(err, "inspect reads the header that mlseal and the AWS Encryption SDKs write at the start of a message: give it an encrypted file")
	}
	out := inspectOutput{
		Note:        notAuthenticated,
		Version:     h.Version,
		Suite:       h.Suite.String(),
		SuiteID:     fmt.Sprintf("0x%04X", uint16(h.Suite)),
		Committing:  h.Suite.Committing(),
		Signed:      h.Suite.Signed(),
		MessageID:   hex.EncodeToString(h.MessageID),
		Context:     h.Context,
		ContentType: "non-framed",
		FrameLength: h.FrameLength,
	}
	if h.Framed {
		out.ContentType = "framed"
	}
	if out.Context == nil {
		out.Context = map[string]string{}
	}
	out.EncryptedDataKeys = []inspectEDK{}
	for _, k := range h.EncryptedDataKeys {
		edk := inspectEDK{
			ProviderID:      k.ProviderID,
			ProviderInfo:    textOrHex(k.ProviderInfo),
			ProviderInfoHex: hex.EncodeToString(k.ProviderInfo),
			CiphertextLen:   len(k.Ciphertext),
		}
		if name, iv, ok := rawAESInfo(k.ProviderInfo); ok {
			edk.KeyName, edk.IV = textOrHex(name), hex.EncodeToString(iv)
		}
		out.EncryptedDataKeys = append(out.EncryptedDataKeys, edk)
	}
	if asJSON {
		e := json.NewEncoder(a.stdout)
		e.SetIndent("", "  ")
		return e.Encode(out)
	}
	return printInspect(a.stdout, &out)
}

func printInspect(w io.Writer, o *inspectOutput) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "version:            %d\n", o.Version)
	fmt.Fprintf(bw, "suite:              %s (%s)", o.Suite, o.SuiteID)
	switch {
	case o.Committing && o.Signed:
		fmt.Fprint(bw, ", key-committing, signed")
	case o.Committing:
		fmt.Fprint(bw, ", key-committing")
	case o.Signed:
		fmt.Fprint(bw, ", legacy: no key commitment, signed")
	default:
		fmt.Fprint(bw, ", legacy: no key commitment")
	}
	fmt.Fprintln(bw)
	fmt.Fprintf(bw, "message id:         %s\n", o.MessageID)
	fmt.Fprintf(bw, "content type:       %s\n", o.ContentType)
	fmt.Fprintf(bw, "frame length:       %d\n", o.FrameLength)
	fmt.Fprintf(bw, "encryption context: %d pairs stored\n", len(o.Context))
	for _, k := range slices.Sorted(maps.Keys(o.Context)) {
		fmt.Fprintf(bw, "  %s = %s\n", quoteIfNeeded(k), quoteIfNeeded(o.Context[k]))
	}
	fmt.Fprintf(bw, "wrapped data keys:  %d\n", len(o.EncryptedDataKeys))
	for i, k := range o.EncryptedDataKeys {
		fmt.Fprintf(bw, "  [%d] provider id:   %s\n", i, quoteIfNeeded(k.ProviderID))
		if k.KeyName != "" {
			fmt.Fprintf(bw, "      key name:      %s (raw AES, IV %s)\n", k.KeyName, k.IV)
		} else {
			fmt.Fprintf(bw, "      provider info: %s\n", k.ProviderInfo)
		}
		fmt.Fprintf(bw, "      wrapped key:   %d bytes\n", k.CiphertextLen)
	}
	fmt.Fprintf(bw, "note: %s\n", o.Note)
	return bw.Flush()
}

// printable reports whether s is valid UTF-8 made of printable characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// textOrHex shows b as text when it is printable, else as "hex:...".
func textOrHex(b []byte) string {
	if len(b) > 0 && printable(string(b)) {
		return string(b)
	}
	return "hex:" + hex.EncodeToString(b)
}

// rawAESInfo splits the provider info of a data key wrapped by a raw AES
// keyring (framework/raw-aes-keyring.md): the key name, then the
// authentication tag length in bits (128) and the IV length in bytes (12),
// each as 4 bytes, then the IV.
func rawAESInfo(info []byte) (name, iv []byte, ok bool) {
	const trailer = 4 + 4 + 12
	if len(info) <= trailer {
		return nil, nil, false
	}
	t := info[len(info)-trailer:]
	if be.BigEndian.Uint32(t) != 128 || be.BigEndian.Uint32(t[4:]) != 12 {
		return nil, nil, false
	}
	return info[:len(info)-trailer], t[8:], true
}

// quoteIfNeeded quotes s when it is empty, not printable, or has spaces at
// its ends, so that the text output cannot be confused.
func quoteIfNeeded(s string) string {
	if s == "" || !printable(s) || s[0] == ' ' || s[len(s)-1] == ' ' || strings.ContainsAny(s, "=\"") {
		return strconv.Quote(s)
	}
	return s
}
