package awssecrets

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// SecretsManager is a Secrets Manager test server. Its methods other than
// those of the protocol change its state directly, as an administrator
// would: Put stores a new version and moves the staging labels as a
// rotation does.
type SecretsManager struct {
	*server
	secrets map[string]*smSecret // by name; guarded by server.mu
	denied  map[string]bool
	broken  map[string]bool
}

type smSecret struct {
	name, arn string
	versions  []*smVersion // oldest first
	deleted   bool
}

type smVersion struct {
	id      string
	str     *string
	bin     []byte
	stages  []string
	created time.Time
}

// NewSecretsManager starts a Secrets Manager server; it stops at the end of
// the test.
func NewSecretsManager(t testing.TB) *SecretsManager {
	sm := &SecretsManager{secrets: map[string]*smSecret{}, denied: map[string]bool{}, broken: map[string]bool{}}
	sm.server = start(t, "secretsmanager", "secretsmanager", "Message", sm.handle)
	return sm
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ARN returns the ARN of the named secret, which must exist.
func (sm *SecretsManager) ARN(name string) string {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	return sm.secrets[name].arn
}

// Put stores value as a new version of the secret (creating it), staged
// AWSCURRENT; the version that was current becomes AWSPREVIOUS. It returns
// the new version id.
func (sm *SecretsManager) Put(name, value string) string {
	return sm.put(name, &value, nil, StageCurrentLabel)
}

// PutBinary is Put for a SecretBinary secret.
func (sm *SecretsManager) PutBinary(name string, value []byte) string {
	return sm.put(name, nil, slices.Clone(value), StageCurrentLabel)
}

// PutPending stores value as a new version staged AWSPENDING only, as the
// first step of a rotation.
func (sm *SecretsManager) PutPending(name, value string) string {
	return sm.put(name, &value, nil, "AWSPENDING")
}

// StageCurrentLabel is the staging label of the current version.
const StageCurrentLabel = "AWSCURRENT"

func (sm *SecretsManager) put(name string, str *string, bin []byte, stage string) string {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	s := sm.secrets[name]
	if s == nil {
		suffix := strings.ToUpper(newID()[:6])
		s = &smSecret{name: name, arn: fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", Region, Account, name, suffix)}
		sm.secrets[name] = s
	}
	v := &smVersion{id: newID(), str: str, bin: bin, created: time.Now()}
	if stage == StageCurrentLabel {
		for _, o := range s.versions {
			o.stages = slices.DeleteFunc(o.stages, func(l string) bool { return l == "AWSPREVIOUS" })
		}
		for _, o := range s.versions {
			if slices.Contains(o.stages, StageCurrentLabel) {
				o.stages = slices.DeleteFunc(o.stages, func(l string) bool { return l == StageCurrentLabel })
				o.stages = append(o.stages, "AWSPREVIOUS")
			}
		}
	} else {
		for _, o := range s.versions {
			o.stages = slices.DeleteFunc(o.stages, func(l string) bool { return l == stage })
		}
	}
	v.stages = []string{stage}
	s.versions = append(s.versions, v)
	return v.id
}

// Promote moves AWSCURRENT to the version (finishing a rotation): the old
// current version becomes AWSPREVIOUS, and AWSPENDING is removed.
func (sm *SecretsManager) Promote(name, versionID string) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	s := sm.secrets[name]
	for _, o := range s.versions {
		o.stages = slices.DeleteFunc(o.stages, func(l string) bool { return l == "AWSPREVIOUS" })
	}
	for _, o := range s.versions {
		if slices.Contains(o.stages, StageCurrentLabel) {
			o.stages = slices.DeleteFunc(o.stages, func(l string) bool { return l == StageCurrentLabel })
			o.stages = append(o.stages, "AWSPREVIOUS")
		}
	}
	for _, o := range s.versions {
		if o.id == versionID {
			o.stages = slices.DeleteFunc(o.stages, func(l string) bool { return l == "AWSPENDING" })
			o.stages = append(o.stages, StageCurrentLabel)
		}
	}
}

// Delete marks the secret for deletion: reads then fail with
// InvalidRequestException, as they do in the service.
func (sm *SecretsManager) Delete(name string) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sm.secrets[name].deleted = true
}

// Deny makes reads of the secret fail with AccessDeniedException, as when
// the caller may not call GetSecretValue on it: BatchGetSecretValue then
// reports it among its errors.
func (sm *SecretsManager) Deny(name string) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sm.denied[name] = true
}

// FailDecryption makes reads of the secret fail with DecryptionFailure, as
// when its KMS key is disabled or not usable by the caller.
func (sm *SecretsManager) FailDecryption(name string, fail bool) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sm.broken[name] = fail
}

// lookup finds a secret by name, full ARN or partial ARN (without the
// random suffix).
func (sm *SecretsManager) lookup(id string) *smSecret {
	if s, ok := sm.secrets[id]; ok {
		return s
	}
	for _, s := range sm.secrets {
		if id == s.arn || id == s.arn[:len(s.arn)-7] {
			return s
		}
	}
	return nil
}

type getSecretValueInput struct {
	SecretId     string
	VersionId    string
	VersionStage string
}

type secretValue struct {
	ARN           string
	Name          string
	VersionId     string
	SecretString  *string `json:",omitempty"`
	SecretBinary  []byte  `json:",omitempty"`
	VersionStages []string
	CreatedDate   float64
}

type batchInput struct {
	SecretIdList []string
	Filters      []any
	MaxResults   *int
	NextToken    *string
}

type batchError struct {
	SecretId  string
	ErrorCode string
	Message   string
}

func (sm *SecretsManager) handle(op string, body []byte) (any, *apiError) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	switch op {
	case "GetSecretValue":
		var in getSecretValueInput
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		return sm.get(in)
	case "BatchGetSecretValue":
		var in batchInput
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		if len(in.Filters) > 0 {
			return nil, errorf("InvalidParameterException", "this test server supports SecretIdList only")
		}
		if len(in.SecretIdList) == 0 || len(in.SecretIdList) > 20 {
			return nil, errorf("InvalidParameterException", "SecretIdList must have 1 to 20 ids")
		}
		if in.MaxResults != nil {
			return nil, errorf("InvalidParameterException", "MaxResults is allowed only with Filters")
		}
		out := struct {
			SecretValues []secretValue
			Errors       []batchError
		}{SecretValues: []secretValue{}, Errors: []batchError{}}
		for _, id := range in.SecretIdList {
			v, err := sm.get(getSecretValueInput{SecretId: id})
			if err != nil {
				out.Errors = append(out.Errors, batchError{SecretId: id, ErrorCode: err.Code, Message: err.Message})
				continue
			}
			out.SecretValues = append(out.SecretValues, *v)
		}
		return out, nil
	}
	return nil, &apiError{Code: "UnknownOperationException", Message: op, Status: 400}
}

func (sm *SecretsManager) get(in getSecretValueInput) (*secretValue, *apiError) {
	if in.SecretId == "" {
		return nil, errorf("InvalidParameterException", "SecretId is required")
	}
	s := sm.lookup(in.SecretId)
	if s == nil {
		return nil, errorf("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
	}
	if sm.denied[s.name] {
		return nil, errorf("AccessDeniedException", "User: %s is not authorized to perform: secretsmanager:GetSecretValue on resource: %s because no identity-based policy allows the secretsmanager:GetSecretValue action", Caller, in.SecretId)
	}
	if s.deleted {
		return nil, errorf("InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion.")
	}
	if sm.broken[s.name] {
		return nil, errorf("DecryptionFailure", "Secrets Manager can't decrypt the protected secret text using the provided KMS key.")
	}
	var v *smVersion
	switch {
	case in.VersionId != "":
		for _, o := range s.versions {
			if o.id == in.VersionId {
				v = o
			}
		}
		if v == nil {
			return nil, errorf("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: %s", in.VersionId)
		}
		if in.VersionStage != "" && !slices.Contains(v.stages, in.VersionStage) {
			return nil, errorf("InvalidParameterException", "You provided a VersionStage that is not associated to the provided VersionId.")
		}
	default:
		stage := in.VersionStage
		if stage == "" {
			stage = StageCurrentLabel
		}
		for _, o := range s.versions {
			if slices.Contains(o.stages, stage) {
				v = o
			}
		}
		if v == nil {
			return nil, errorf("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: %s", stage)
		}
	}
	return &secretValue{
		ARN: s.arn, Name: s.name, VersionId: v.id, SecretString: v.str, SecretBinary: v.bin,
		VersionStages: slices.Clone(v.stages), CreatedDate: epoch(v.created),
	}, nil
}
