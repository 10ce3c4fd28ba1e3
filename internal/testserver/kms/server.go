// Package kms is a test server that speaks the AWS KMS protocol (JSON 1.1
// over HTTP, X-Amz-Target: TrentService.*) on 127.0.0.1, so that the real
// AWS SDK client can be tested against it through its endpoint setting.
//
// It behaves as KMS does where mlseal relies on it: ciphertext blobs are
// bound to their key and encryption context (another context, or another
// key, fails to decrypt), key ids and ARNs come back as KMS returns them,
// aliases resolve, disabled, pending-deletion and unknown keys are refused
// with KMS's error types, multi-Region keys have replicas in other regions
// that decrypt what the others encrypted, and each request must carry a
// SigV4 Authorization header for the service kms, whose credential scope
// gives the region the request is addressed to. Throttling, other faults,
// latency and hanging responses can be injected, and calls are counted per
// operation.
//
// It is not a KMS: signatures are not verified, key policies are reduced to
// Deny, and the ciphertext blob is this server's own format.
package kms

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mlseal/mlseal/internal/awsconfig"
)

// DefaultAccount is the account of keys created without one, and the
// account of the callers.
const DefaultAccount = "111122223333"

// Operations served, as named in X-Amz-Target after "TrentService.".
const (
	OpGenerateDataKey = "GenerateDataKey"
	OpEncrypt         = "Encrypt"
	OpDecrypt         = "Decrypt"
	OpDescribeKey     = "DescribeKey"
)

// Key states, as KMS names them.
const (
	StateEnabled         = "Enabled"
	StateDisabled        = "Disabled"
	StatePendingDeletion = "PendingDeletion"
)

// A Request is what the server recorded of one call that reached an
// operation.
type Request struct {
	Op          string
	Region      string // from the SigV4 credential scope
	KeyID       string // as the caller named it; "" when not given
	Context     map[string]string
	GrantTokens []string
}

// Server is a KMS test server. Its methods are safe for concurrent use.
type Server struct {
	// URL is the endpoint, such as http://127.0.0.1:41234.
	URL string

	hs     *httptest.Server
	closed chan struct{}
	once   sync.Once

	mu       sync.Mutex
	keys     map[string]*key   // by key ARN
	aliases  map[string]string // alias ARN -> key ARN
	calls    map[string]int
	requests []Request
	faults   []*fault
	latency  time.Duration
	hang     bool
	denied   map[string]bool // key ARN + "\x00" + op
}

type key struct {
	arn, id, region, account string
	material                 []byte // shared by the replicas of a multi-Region key
	state                    string
	mrk                      bool
	primaryARN               string // for multi-Region keys
	created                  time.Time
}

type fault struct {
	op      string // "" for any operation
	n       int    // remaining; < 0 for unlimited
	errType string
	status  int
}

// New starts a server on 127.0.0.1. Close it when done.
func New() *Server {
	s := &Server{
		closed:  make(chan struct{}),
		keys:    map[string]*key{},
		aliases: map[string]string{},
		calls:   map[string]int{},
		denied:  map[string]bool{},
	}
	s.hs = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.hs.URL
	return s
}

// Close releases requests held by latency or Hang and stops the server.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closed) })
	s.hs.CloseClientConnections()
	s.hs.Close()
}

func newKeyID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func keyARN(partition, region, account, id string) string {
	return "arn:" + partition + ":kms:" + region + ":" + account + ":key/" + id
}

// CreateKey creates an enabled symmetric key in region, in DefaultAccount,
// and returns its ARN.
func (s *Server) CreateKey(region string) string { return s.CreateKeyIn(DefaultAccount, region) }

// CreateKeyIn creates an enabled symmetric key in the given account and
// region and returns its ARN.
func (s *Server) CreateKeyIn(account, region string) string {
	material := make([]byte, 32)
	rand.Read(material)
	id := newKeyID()
	k := &key{arn: keyARN(awsconfig.Partition(region), region, account, id), id: id, region: region, account: account,
		material: material, state: StateEnabled, created: time.Now()}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[k.arn] = k
	return k.arn
}

// CreateMultiRegionKey creates a multi-Region key (key id "mrk-...") in
// primaryRegion with replicas in replicaRegions, all in DefaultAccount, and
// returns their ARNs, the primary's first. Any of them decrypts what any
// other encrypted.
func (s *Server) CreateMultiRegionKey(primaryRegion string, replicaRegions ...string) []string {
	material := make([]byte, 32)
	rand.Read(material)
	var b [16]byte
	rand.Read(b[:])
	id := "mrk-" + hex.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	var arns []string
	primary := keyARN(awsconfig.Partition(primaryRegion), primaryRegion, DefaultAccount, id)
	for _, region := range append([]string{primaryRegion}, replicaRegions...) {
		k := &key{arn: keyARN(awsconfig.Partition(region), region, DefaultAccount, id), id: id, region: region,
			account: DefaultAccount, material: material, state: StateEnabled, mrk: true, primaryARN: primary, created: time.Now()}
		s.keys[k.arn] = k
		arns = append(arns, k.arn)
	}
	return arns
}

// CreateAlias creates the alias "alias/<name>" for the key, in the key's
// account and region, and returns the alias ARN.
func (s *Server) CreateAlias(name, keyARN string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[keyARN]
	if !ok {
		panic("kms test server: CreateAlias for unknown key " + keyARN)
	}
	name = strings.TrimPrefix(name, "alias/")
	a := "arn:" + awsconfig.Partition(k.region) + ":kms:" + k.region + ":" + k.account + ":alias/" + name
	s.aliases[a] = keyARN
	return a
}

// SetKeyState sets the state of the key: StateEnabled, StateDisabled or
// StatePendingDeletion.
func (s *Server) SetKeyState(keyARN, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[keyARN]
	if !ok {
		panic("kms test server: SetKeyState for unknown key " + keyARN)
	}
	k.state = state
}

// Deny makes the operations on the key fail with AccessDeniedException, as
// a key policy that does not grant them would.
func (s *Server) Deny(keyARN string, ops ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range ops {
		s.denied[keyARN+"\x00"+op] = true
	}
}

// Throttle makes the next n calls of op ("" for any operation) fail with
// ThrottlingException; n < 0 throttles until ClearFaults.
func (s *Server) Throttle(op string, n int) {
	s.Fail(op, n, "ThrottlingException", http.StatusBadRequest)
}

// Fail makes the next n calls of op ("" for any) fail with the given KMS
// error type and HTTP status, such as KMSInternalException and 500;
// n < 0 fails them until ClearFaults.
func (s *Server) Fail(op string, n int, errType string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{op: op, n: n, errType: errType, status: status})
}

// ClearFaults removes the injected faults, latency and hang.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
	s.latency = 0
	s.hang = false
}

// SetLatency delays every response by d (or until the caller gives up).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetHang makes every request wait until its caller gives up or the
// server is closed, as an unreachable KMS would.
func (s *Server) SetHang(hang bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = hang
}

// Calls returns how many requests reached op ("" for all operations),
// counting those failed by injected faults.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if op == "" {
		n := 0
		for _, c := range s.calls {
			n += c
		}
		return n
	}
	return s.calls[op]
}

// ResetCalls sets the call counters to zero and forgets the recorded
// requests.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.calls)
	s.requests = nil
}

// Requests returns the requests recorded since the last ResetCalls.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// kmsError is an error response in KMS's JSON 1.1 form.
type kmsError struct {
	status  int
	errType string
	msg     string
}

func errorf(errType, format string, args ...any) *kmsError {
	return &kmsError{status: http.StatusBadRequest, errType: errType, msg: fmt.Sprintf(format, args...)}
}

// scopeRE finds the region and service in a SigV4 credential scope.
var scopeRE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=[^/,\s]+/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request\s*,\s*SignedHeaders=[^,\s]+\s*,\s*Signature=[0-9a-f]{64}$`)

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	resp, kerr := s.handle(r)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", newKeyID())
	if kerr != nil {
		w.Header().Set("X-Amzn-ErrorType", kerr.errType)
		w.WriteHeader(kerr.status)
		json.NewEncoder(w).Encode(map[string]string{"__type": kerr.errType, "message": kerr.msg})
		return
	}
	json.NewEncoder(w).Encode(resp)
}

func (s *Server) handle(r *http.Request) (any, *kmsError) {
	if r.Method != http.MethodPost {
		return nil, &kmsError{status: http.StatusMethodNotAllowed, errType: "UnknownOperationException", msg: "KMS takes POST requests"}
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")
	if !ok {
		return nil, errorf("UnknownOperationException", "X-Amz-Target %q does not name a TrentService operation", r.Header.Get("X-Amz-Target"))
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return nil, errorf("MissingAuthenticationTokenException", "Missing Authentication Token")
	}
	m := scopeRE.FindStringSubmatch(auth)
	if m == nil {
		return nil, errorf("IncompleteSignatureException", "Authorization header is not a SigV4 signature")
	}
	region, service := m[1], m[2]
	if service != "kms" {
		return nil, errorf("InvalidSignatureException", "Credential should be scoped to correct service: 'kms'.")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, errorf("SerializationException", "reading the request: %v", err)
	}
	var req struct {
		KeyID             string            `json:"KeyId"`
		EncryptionContext map[string]string `json:"EncryptionContext"`
		GrantTokens       []string          `json:"GrantTokens"`
		NumberOfBytes     *int              `json:"NumberOfBytes"`
		KeySpec           string            `json:"KeySpec"`
		Plaintext         []byte            `json:"Plaintext"`
		CiphertextBlob    []byte            `json:"CiphertextBlob"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, errorf("SerializationException", "%v", err)
	}

	s.mu.Lock()
	s.calls[op]++
	s.requests = append(s.requests, Request{Op: op, Region: region, KeyID: req.KeyID,
		Context: maps.Clone(req.EncryptionContext), GrantTokens: slices.Clone(req.GrantTokens)})
	latency, hang := s.latency, s.hang
	var injected *kmsError
	for _, f := range s.faults {
		if (f.op == "" || f.op == op) && f.n != 0 {
			f.n--
			injected = &kmsError{status: f.status, errType: f.errType, msg: "injected fault: " + f.errType}
			break
		}
	}
	s.mu.Unlock()

	if hang {
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		return nil, &kmsError{status: http.StatusServiceUnavailable, errType: "KMSInternalException", msg: "the server hung"}
	}
	if latency > 0 {
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
		case <-s.closed:
		}
	}
	if injected != nil {
		return nil, injected
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	switch op {
	case OpGenerateDataKey:
		k, kerr := s.usableKey(req.KeyID, region, op)
		if kerr != nil {
			return nil, kerr
		}
		n := 0
		switch {
		case req.NumberOfBytes != nil && req.KeySpec != "":
			return nil, errorf("ValidationException", "Please specify either number of bytes or key spec.")
		case req.NumberOfBytes != nil:
			n = *req.NumberOfBytes
		case req.KeySpec == "AES_256":
			n = 32
		case req.KeySpec == "AES_128":
			n = 16
		default:
			return nil, errorf("ValidationException", "Please specify either number of bytes or key spec.")
		}
		if n < 1 || n > 1024 {
			return nil, errorf("ValidationException", "1 validation error detected: Value '%d' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024", n)
		}
		pt := make([]byte, n)
		rand.Read(pt)
		return map[string]any{"KeyId": k.arn, "Plaintext": pt, "CiphertextBlob": seal(k, pt, req.EncryptionContext)}, nil
	case OpEncrypt:
		k, kerr := s.usableKey(req.KeyID, region, op)
		if kerr != nil {
			return nil, kerr
		}
		if len(req.Plaintext) < 1 || len(req.Plaintext) > 4096 {
			return nil, errorf("ValidationException", "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and 4096")
		}
		return map[string]any{"KeyId": k.arn, "CiphertextBlob": seal(k, req.Plaintext, req.EncryptionContext),
			"EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}, nil
	case OpDecrypt:
		return s.decrypt(region, req.KeyID, req.CiphertextBlob, req.EncryptionContext)
	case OpDescribeKey:
		k, kerr := s.resolve(req.KeyID, region)
		if kerr != nil {
			return nil, kerr
		}
		return map[string]any{"KeyMetadata": s.metadata(k)}, nil
	}
	return nil, errorf("UnknownOperationException", "operation %s is not served by this test server", op)
}

// resolve finds the key that id names for a caller in region: a key ARN,
// an alias ARN, a key id or an alias name (the last two in DefaultAccount).
func (s *Server) resolve(id, region string) (*key, *kmsError) {
	if id == "" {
		return nil, errorf("ValidationException", "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")
	}
	arn := id
	if !strings.HasPrefix(id, "arn:") {
		arn = "arn:" + awsconfig.Partition(region) + ":kms:" + region + ":" + DefaultAccount + ":"
		if strings.HasPrefix(id, "alias/") {
			arn += id
		} else {
			arn += "key/" + id
		}
	}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[2] != "kms" || parts[1] == "" || parts[4] == "" {
		return nil, errorf("NotFoundException", "Invalid keyId '%s'", id)
	}
	if parts[3] != region {
		// KMS refuses an ARN of another region at a regional endpoint.
		return nil, errorf("NotFoundException", "Invalid arn %s", parts[3])
	}
	rtype, _, _ := strings.Cut(parts[5], "/")
	switch rtype {
	case "alias":
		target, ok := s.aliases[arn]
		if !ok {
			return nil, errorf("NotFoundException", "Alias %s is not found.", arn)
		}
		arn = target
	case "key":
	default:
		return nil, errorf("NotFoundException", "Invalid keyId '%s'", id)
	}
	k, ok := s.keys[arn]
	if !ok {
		return nil, errorf("NotFoundException", "Key '%s' does not exist", arn)
	}
	return k, nil
}

// usableKey resolves id and checks that op may use the key now.
func (s *Server) usableKey(id, region, op string) (*key, *kmsError) {
	k, kerr := s.resolve(id, region)
	if kerr != nil {
		return nil, kerr
	}
	return k, s.check(k, op)
}

func (s *Server) check(k *key, op string) *kmsError {
	if s.denied[k.arn+"\x00"+op] {
		return errorf("AccessDeniedException", "User: arn:aws:iam::%s:user/test is not authorized to perform: kms:%s on resource: %s because no resource-based policy allows the kms:%s action", DefaultAccount, op, k.arn, op)
	}
	switch k.state {
	case StateDisabled:
		return errorf("DisabledException", "%s is disabled.", k.arn)
	case StatePendingDeletion:
		return errorf("KMSInvalidStateException", "%s is pending deletion.", k.arn)
	}
	return nil
}

func (s *Server) decrypt(region, keyID string, blob []byte, ec map[string]string) (any, *kmsError) {
	owner, nonce, sealed, ok := parseBlob(blob)
	if !ok {
		return nil, errorf("InvalidCiphertextException", "")
	}
	// The blob names its key by account and key id; a multi-Region key has
	// the same id in every region, so the replica in the caller's region
	// decrypts it.
	account, id, _ := strings.Cut(owner, "/")
	k, found := s.keys[keyARN(awsconfig.Partition(region), region, account, id)]
	if keyID != "" {
		named, kerr := s.resolve(keyID, region)
		if kerr != nil {
			return nil, kerr
		}
		if !found || named != k {
			return nil, errorf("IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation.")
		}
	}
	if !found {
		return nil, errorf("InvalidCiphertextException", "")
	}
	if kerr := s.check(k, OpDecrypt); kerr != nil {
		return nil, kerr
	}
	pt, err := open(k.material, nonce, sealed, aad(owner, ec))
	if err != nil {
		return nil, errorf("InvalidCiphertextException", "")
	}
	return map[string]any{"KeyId": k.arn, "Plaintext": pt, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}, nil
}

func (s *Server) metadata(k *key) map[string]any {
	md := map[string]any{
		"AWSAccountId":          k.account,
		"Arn":                   k.arn,
		"KeyId":                 k.id,
		"CreationDate":          float64(k.created.Unix()),
		"Enabled":               k.state == StateEnabled,
		"KeyState":              k.state,
		"KeyUsage":              "ENCRYPT_DECRYPT",
		"KeySpec":               "SYMMETRIC_DEFAULT",
		"CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
		"EncryptionAlgorithms":  []string{"SYMMETRIC_DEFAULT"},
		"KeyManager":            "CUSTOMER",
		"Origin":                "AWS_KMS",
		"MultiRegion":           k.mrk,
	}
	if k.mrk {
		typ := "REPLICA"
		if k.arn == k.primaryARN {
			typ = "PRIMARY"
		}
		var replicas []map[string]string
		for _, o := range s.keys {
			if o.mrk && o.id == k.id && o.account == k.account && o.arn != k.primaryARN {
				replicas = append(replicas, map[string]string{"Arn": o.arn, "Region": o.region})
			}
		}
		slices.SortFunc(replicas, func(a, b map[string]string) int { return strings.Compare(a["Arn"], b["Arn"]) })
		primaryRegion := strings.SplitN(k.primaryARN, ":", 5)[3]
		md["MultiRegionConfiguration"] = map[string]any{
			"MultiRegionKeyType": typ,
			"PrimaryKey":         map[string]string{"Arn": k.primaryARN, "Region": primaryRegion},
			"ReplicaKeys":        replicas,
		}
	}
	return md
}

// The ciphertext blob: version 1, the owner ("account/key id") with its
// length, a 12-byte nonce, and AES-256-GCM of the plaintext under the key's
// material, authenticating the owner and the encryption context.
const blobVersion = 1

func seal(k *key, pt []byte, ec map[string]string) []byte {
	owner := k.account + "/" + k.id
	blob := []byte{blobVersion}
	blob = binary.BigEndian.AppendUint16(blob, uint16(len(owner)))
	blob = append(blob, owner...)
	nonce := make([]byte, 12)
	rand.Read(nonce)
	blob = append(blob, nonce...)
	return gcm(k.material).Seal(blob, nonce, pt, aad(owner, ec))
}

func parseBlob(b []byte) (owner string, nonce, sealed []byte, ok bool) {
	if len(b) < 3 || b[0] != blobVersion {
		return "", nil, nil, false
	}
	n := int(binary.BigEndian.Uint16(b[1:]))
	b = b[3:]
	if len(b) < n+12+16 {
		return "", nil, nil, false
	}
	return string(b[:n]), b[n : n+12], b[n+12:], true
}

func open(material, nonce, sealed, aad []byte) ([]byte, error) {
	return gcm(material).Open(nil, nonce, sealed, aad)
}

func gcm(material []byte) cipher.AEAD {
	block, err := aes.NewCipher(material)
	if err != nil {
		panic(err)
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return a
}

// aad serializes the owner and the encryption context, sorted by key, each
// string with its length, so that no two contexts serialize alike.
func aad(owner string, ec map[string]string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(owner)))
	b = append(b, owner...)
	for _, k := range slices.Sorted(maps.Keys(ec)) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(k)))
		b = append(b, k...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(ec[k])))
		b = append(b, ec[k]...)
	}
	return b
}
