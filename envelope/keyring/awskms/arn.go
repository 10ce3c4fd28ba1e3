package awskms

import (
	"errors"
	"fmt"
	"strings"
)

// An ARN is an AWS KMS key or alias ARN, split into its parts as the
// specification reads them (framework/aws-kms/aws-kms-key-arn.md), such as
// arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab.
type ARN struct {
	Partition    string
	Region       string
	Account      string
	ResourceType string // "key" or "alias"
	ResourceID   string // the key id, or the alias name without "alias/"
}

// ParseARN parses an AWS KMS ARN: six parts separated by five colons,
// "arn", a partition, "kms", a region, an account and a resource
// "key/ID" or "alias/NAME".
func ParseARN(s string) (ARN, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 6 || parts[0] != "arn" {
		return ARN{}, fmt.Errorf("%q is not an AWS KMS ARN (arn:PARTITION:kms:REGION:ACCOUNT:key/ID)", s)
	}
	a := ARN{Partition: parts[1], Region: parts[3], Account: parts[4]}
	rtype, id, ok := strings.Cut(parts[5], "/")
	a.ResourceType, a.ResourceID = rtype, id
	switch {
	case a.Partition == "":
		return ARN{}, fmt.Errorf("ARN %q has no partition", s)
	case parts[2] != "kms":
		return ARN{}, fmt.Errorf("ARN %q is not of the service kms", s)
	case a.Region == "":
		return ARN{}, fmt.Errorf("ARN %q has no region", s)
	case a.Account == "":
		return ARN{}, fmt.Errorf("ARN %q has no account", s)
	case !ok || (rtype != "key" && rtype != "alias") || id == "":
		return ARN{}, fmt.Errorf("ARN %q names neither key/ID nor alias/NAME", s)
	}
	return a, nil
}

// String returns the ARN in its usual form.
func (a ARN) String() string {
	return "arn:" + a.Partition + ":kms:" + a.Region + ":" + a.Account + ":" + a.ResourceType + "/" + a.ResourceID
}

// IsMRK reports whether the ARN names a multi-Region key: a key (not an
// alias) whose id starts with "mrk-".
func (a ARN) IsMRK() bool {
	return a.ResourceType == "key" && strings.HasPrefix(a.ResourceID, "mrk-")
}

// IsMRKIdentifier reports whether a key identifier (ARN, key id, alias)
// names a multi-Region key. An alias is never one, whatever its name.
func IsMRKIdentifier(id string) bool {
	switch {
	case strings.HasPrefix(id, "arn:"):
		a, err := ParseARN(id)
		return err == nil && a.IsMRK()
	case strings.HasPrefix(id, "alias/"):
		return false
	}
	return strings.HasPrefix(id, "mrk-")
}

// MRKMatch reports whether two key identifiers name the same key for
// decrypting: they are equal, or both are multi-Region key ARNs that differ
// at most in their region (framework/aws-kms/aws-kms-mrk-match-for-decrypt.md).
func MRKMatch(a, b string) bool {
	if a == b {
		return true
	}
	if !IsMRKIdentifier(a) || !IsMRKIdentifier(b) {
		return false
	}
	x, errA := ParseARN(a)
	y, errB := ParseARN(b)
	if errA != nil || errB != nil {
		return false
	}
	x.Region, y.Region = "", ""
	return x == y
}

// validIdentifier checks a key identifier given to a keyring: an ARN, an
// alias "alias/NAME", or a key id.
func validIdentifier(id string) error {
	switch {
	case id == "":
		return errors.New("empty AWS KMS key identifier")
	case strings.HasPrefix(id, "arn:"):
		_, err := ParseARN(id)
		return err
	case strings.HasPrefix(id, "alias/"):
		if len(id) == len("alias/") {
			return fmt.Errorf("alias %q has no name", id)
		}
	case strings.ContainsAny(id, ":/ \t\n"):
		return fmt.Errorf("%q is not an AWS KMS key ARN, key id or alias/NAME", id)
	}
	return nil
}
