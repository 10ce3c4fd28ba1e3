// Package serve is a local HTTP endpoint for secrets, compatible with the
// protocol of the AWS Parameters and Secrets Lambda Extension, so that jobs
// in any language can share one process's cache:
//
//	GET /secretsmanager/get?secretId=NAME-OR-ARN[&versionStage=STAGE | &versionId=ID]
//	GET /systemsmanager/parameters/get?name=NAME[&version=N | &label=LABEL]&withDecryption=true
//
// Every request must carry the token in the X-Aws-Parameters-Secrets-Token
// header (the extension's clients send AWS_SESSION_TOKEN). Responses are
// the JSON of GetSecretValue and GetParameter, as the extension returns
// them. The values are served from a [secrets.Cache]. As with the
// extension, a parameter requested without withDecryption=true is read
// with WithDecryption false: a SecureString comes back as SSM stores it,
// encrypted.
//
// Error responses are plain text that never repeats the request: a status
// and a fixed reason (with the AWS error code when AWS refused).
//
// The endpoint speaks plain HTTP: serve it on a loopback address only,
// with a [Server], which bounds connections and times out idle ones.
package serve

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/smithy-go"

	"github.com/mlseal/mlseal/secrets"
)

// TokenHeader is the header that carries the token.
const TokenHeader = "X-Aws-Parameters-Secrets-Token"

// DefaultAddr is the extension's address.
const DefaultAddr = "127.0.0.1:2773"

// Handler returns the endpoint's handler, serving from c. Requests whose
// TokenHeader is not token are refused with 401; token must not be empty.
func Handler(c *secrets.Cache, token string) (http.Handler, error) {
	if token == "" {
		return nil, errors.New("serve: an empty token would let any local process read secrets")
	}
	h := &handler{c: c, token: []byte(token)}
	sm, ssm := h.memoized(&h.smMemo, h.secretsManager), h.memoized(&h.ssmMemo, h.parameter)
	// Two fixed paths: a switch, which allocates nothing, rather than a
	// ServeMux.
	return h.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var next http.HandlerFunc
		switch r.URL.Path {
		case "/secretsmanager/get":
			next = sm
		case "/systemsmanager/parameters/get":
			next = ssm
		default:
			reply(w, http.StatusNotFound, "not found: the paths are /secretsmanager/get and /systemsmanager/parameters/get")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			reply(w, http.StatusMethodNotAllowed, "method not allowed: use GET")
			return
		}
		next(w, r)
	})), nil
}

type handler struct {
	c     *secrets.Cache
	token []byte
	// smMemo and ssmMemo hold the last response to each query string, by
	// endpoint. Rendering a response costs more than the rest of the
	// handler, and its garbage lengthens the latency tail under load.
	smMemo, ssmMemo memo
}

// memoLimit bounds the responses memoized per endpoint; beyond it the memo
// starts over, so that clients cannot grow it without bound.
const memoLimit = 4096

type memo struct {
	m sync.Map // raw query string -> *rendered
	n atomic.Int64
}

// rendered is a response body and the secret it shows.
type rendered struct {
	ref  secrets.Ref
	s    secrets.Secret
	body []byte
}

// renderFunc answers a request: the reference it read and the body to
// send, or false when it has written an error itself.
type renderFunc func(w http.ResponseWriter, r *http.Request) (secrets.Ref, secrets.Secret, []byte, bool)

// memoized serves a query from its memo while the cache holds the same
// secret; otherwise it renders the response and memoizes it.
func (h *handler) memoized(m *memo, render renderFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if v, ok := m.m.Load(r.URL.RawQuery); ok {
			rd := v.(*rendered)
			if s, err := h.c.Get(r.Context(), rd.ref); err == nil && s.Same(rd.s) {
				writeBody(w, rd.body)
				return
			}
		}
		ref, s, body, ok := render(w, r)
		if !ok {
			return
		}
		if m.n.Add(1) > memoLimit {
			m.m.Clear()
			m.n.Store(1)
		}
		m.m.Store(r.URL.RawQuery, &rendered{ref: ref, s: s, body: body})
		writeBody(w, body)
	}
}

func (h *handler) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get(TokenHeader)
		if got == "" || subtle.ConstantTimeCompare([]byte(got), h.token) != 1 {
			reply(w, http.StatusUnauthorized, "missing or wrong "+TokenHeader)
			return
		}
		w.Header()["Cache-Control"] = noStore
		next.ServeHTTP(w, r)
	})
}

// reply writes a plain-text error. msg is fixed text of this package's,
// never from the request.
func reply(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write([]byte(msg + "\n"))
}

// fail writes the error of getting a secret: a status and a fixed reason,
// with the AWS error code if there is one, but neither the reference nor
// the service's message, which may repeat the request.
func fail(w http.ResponseWriter, err error) {
	var re *secrets.RefError
	if errors.As(err, &re) {
		reply(w, http.StatusBadRequest, "the "+re.Part+" is not valid; see the extension's query syntax")
		return
	}
	code, msg := http.StatusInternalServerError, "the secret could not be fetched"
	switch {
	case errors.Is(err, secrets.ErrNotFound):
		code, msg = http.StatusNotFound, "not found: no such secret, parameter, version, stage or label"
	case errors.Is(err, secrets.ErrAccessDenied):
		code, msg = http.StatusForbidden, "access denied: this endpoint's AWS identity may not read it"
	case errors.Is(err, secrets.ErrDecryption):
		code, msg = http.StatusForbidden, "cannot be decrypted: this endpoint's AWS identity may not use its KMS key, or the key is disabled"
	case errors.Is(err, secrets.ErrThrottled):
		code, msg = http.StatusTooManyRequests, "AWS throttled the calls; try again later"
	case errors.Is(err, secrets.ErrInvalid):
		code, msg = http.StatusBadRequest, "the secret cannot be served (marked for deletion, or not usable)"
	case errors.Is(err, context.DeadlineExceeded):
		code, msg = http.StatusGatewayTimeout, "AWS did not answer in time"
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		msg += " (" + api.ErrorCode() + ")"
	}
	reply(w, code, msg)
}

// query parses the request's query strictly: Go's lenient parse drops
// what it cannot read, which would turn a bad escape into a missing
// parameter.
func query(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		reply(w, http.StatusBadRequest, "the query string cannot be parsed: a bad %-escape or a ';'")
		return nil, false
	}
	return q, true
}

func epoch(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return float64(t.UnixMilli()) / 1000
}

type secretValue struct {
	ARN            string
	Name           string
	VersionId      string
	SecretString   *string `json:",omitempty"`
	SecretBinary   string  `json:",omitempty"`
	VersionStages  []string
	CreatedDate    any
	ResultMetadata struct{}
}

func (h *handler) secretsManager(w http.ResponseWriter, r *http.Request) (secrets.Ref, secrets.Secret, []byte, bool) {
	q, ok := query(w, r)
	if !ok {
		return secrets.Ref{}, secrets.Secret{}, nil, false
	}
	id, stage, version := q.Get("secretId"), q.Get("versionStage"), q.Get("versionId")
	if id == "" {
		reply(w, http.StatusBadRequest, "secretId is required")
		return secrets.Ref{}, secrets.Secret{}, nil, false
	}
	if strings.ContainsAny(id+stage+version, "?#&") {
		reply(w, http.StatusBadRequest, "secretId, versionStage and versionId cannot contain ?, # or &")
		return secrets.Ref{}, secrets.Secret{}, nil, false
	}
	ref := "secretsmanager://" + id
	switch {
	case stage != "" && version != "":
		reply(w, http.StatusBadRequest, "give versionStage or versionId, not both")
		return secrets.Ref{}, secrets.Secret{}, nil, false
	case stage != "":
		ref += "?stage=" + stage
	case version != "":
		ref += "?version-id=" + version
	}
	rf, s, ok := h.get(w, r, ref)
	if !ok {
		return secrets.Ref{}, secrets.Secret{}, nil, false
	}
	m := s.Metadata()
	out := secretValue{ARN: m.ARN, Name: m.Name, VersionId: m.VersionID, VersionStages: m.VersionStages, CreatedDate: epoch(m.Created)}
	if m.Binary {
		out.SecretBinary = base64.StdEncoding.EncodeToString([]byte(s.Reveal()))
	} else {
		v := s.Reveal()
		out.SecretString = &v
	}
	return rf, s, marshal(&out), true
}

// get parses ref and reads it through the cache, answering the request
// itself when either fails.
func (h *handler) get(w http.ResponseWriter, r *http.Request, ref string) (secrets.Ref, secrets.Secret, bool) {
	rf, err := secrets.ParseRef(ref)
	if err != nil {
		fail(w, err)
		return secrets.Ref{}, secrets.Secret{}, false
	}
	s, err := h.c.Get(r.Context(), rf)
	if err != nil {
		fail(w, err)
		return secrets.Ref{}, secrets.Secret{}, false
	}
	return rf, s, true
}

type parameter struct {
	ARN              string
	Name             string
	Type             string
	Value            string
	Version          int64
	Selector         string `json:",omitempty"`
	DataType         string
	LastModifiedDate any
}

func (h *handler) parameter(w http.ResponseWriter, r *http.Request) (secrets.Ref, secrets.Secret, []byte, bool) {
	q, ok := query(w, r)
	if !ok {
		return secrets.Ref{}, secrets.Secret{}, nil, false
	}
	name, version, label := q.Get("name"), q.Get("version"), q.Get("label")
	if name == "" {
		reply(w, http.StatusBadRequest, "name is required")
		return secrets.Ref{}, secrets.Secret{}, nil, false
	}
	if strings.ContainsAny(name+version+label, "?#&") {
		reply(w, http.StatusBadRequest, "name, version and label cannot contain ?, # or &")
		return secrets.Ref{}, secrets.Secret{}, nil, false
	}
	// A selector in the name, as GetParameter takes it: name:3, name:label.
	if i := strings.LastIndexByte(name, ':'); i >= 0 && !strings.HasPrefix(name, "arn:") {
		sel := name[i+1:]
		name = name[:i]
		if _, err := strconv.ParseInt(sel, 10, 64); err == nil {
			version = sel
		} else {
			label = sel
		}
	}
	ref := "ssm://" + name
	sep := "?"
	switch {
	case version != "" && label != "":
		reply(w, http.StatusBadRequest, "give version or label, not both")
		return secrets.Ref{}, secrets.Secret{}, nil, false
	case version != "":
		ref += "?version=" + version
		sep = "&"
	case label != "":
		ref += "?label=" + label
		sep = "&"
	}
	// As the extension does: without withDecryption=true, GetParameter is
	// called with WithDecryption false, and a SecureString is returned
	// encrypted.
	if q.Get("withDecryption") != "true" {
		ref += sep + "decrypt=false"
	}
	rf, s, ok := h.get(w, r, ref)
	if !ok {
		return secrets.Ref{}, secrets.Secret{}, nil, false
	}
	m := s.Metadata()
	v, _ := strconv.ParseInt(m.VersionID, 10, 64)
	p := parameter{ARN: m.ARN, Name: m.Name, Type: m.Type, Value: s.Reveal(), Version: v, DataType: "text", LastModifiedDate: epoch(m.Created)}
	switch {
	case version != "":
		p.Selector = ":" + version
	case label != "":
		p.Selector = ":" + label
	}
	return rf, s, marshal(&struct {
		Parameter      *parameter
		ResultMetadata struct{}
	}{Parameter: &p}), true
}

// marshal renders a response as the extension does: JSON without HTML
// escaping, and a final newline.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(v) // cannot fail: the types hold strings, numbers and slices
	return b.Bytes()
}

func writeBody(w http.ResponseWriter, body []byte) {
	w.Header()["Content-Type"] = jsonType
	w.Write(body)
}

// Shared header values: net/http only reads them.
var (
	jsonType = []string{"application/json"}
	noStore  = []string{"no-store"}
)
