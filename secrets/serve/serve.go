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
// them. The values are served from a [secrets.Cache].
//
// The endpoint speaks plain HTTP: serve it on a loopback address only.
package serve

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

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
	mux := http.NewServeMux()
	mux.HandleFunc("GET /secretsmanager/get", h.secretsManager)
	mux.HandleFunc("GET /systemsmanager/parameters/get", h.parameter)
	return h.auth(mux), nil
}

type handler struct {
	c     *secrets.Cache
	token []byte
}

func (h *handler) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get(TokenHeader)
		if got == "" || subtle.ConstantTimeCompare([]byte(got), h.token) != 1 {
			http.Error(w, "missing or wrong "+TokenHeader, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// fail writes an error: its message names the reference, never a value.
func fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, secrets.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, secrets.ErrAccessDenied), errors.Is(err, secrets.ErrDecryption):
		code = http.StatusForbidden
	case errors.Is(err, secrets.ErrThrottled):
		code = http.StatusTooManyRequests
	}
	var re *secrets.RefError
	if errors.As(err, &re) {
		code = http.StatusBadRequest
	}
	http.Error(w, err.Error(), code)
}

func badRequest(w http.ResponseWriter, format string, args ...any) {
	http.Error(w, fmt.Sprintf(format, args...), http.StatusBadRequest)
}

func epoch(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return float64(t.UnixMilli()) / 1000
}

func (h *handler) secretsManager(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id, stage, version := q.Get("secretId"), q.Get("versionStage"), q.Get("versionId")
	if id == "" {
		badRequest(w, "secretId is required")
		return
	}
	if strings.ContainsAny(id+stage+version, "?#&") {
		badRequest(w, "secretId, versionStage and versionId cannot contain ?, # or &")
		return
	}
	ref := "secretsmanager://" + id
	switch {
	case stage != "" && version != "":
		badRequest(w, "give versionStage or versionId, not both")
		return
	case stage != "":
		ref += "?stage=" + stage
	case version != "":
		ref += "?version-id=" + version
	}
	s, err := h.c.GetString(r.Context(), ref)
	if err != nil {
		fail(w, err)
		return
	}
	m := s.Metadata()
	out := map[string]any{
		"ARN": m.ARN, "Name": m.Name, "VersionId": m.VersionID, "VersionStages": m.VersionStages,
		"CreatedDate": epoch(m.Created), "ResultMetadata": map[string]any{},
	}
	if m.Binary {
		out["SecretBinary"] = base64.StdEncoding.EncodeToString([]byte(s.Reveal()))
	} else {
		out["SecretString"] = s.Reveal()
	}
	writeJSON(w, out)
}

func (h *handler) parameter(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name, version, label := q.Get("name"), q.Get("version"), q.Get("label")
	if name == "" {
		badRequest(w, "name is required")
		return
	}
	if strings.ContainsAny(name+version+label, "?#&") {
		badRequest(w, "name, version and label cannot contain ?, # or &")
		return
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
	switch {
	case version != "" && label != "":
		badRequest(w, "give version or label, not both")
		return
	case version != "":
		ref += "?version=" + version
	case label != "":
		ref += "?label=" + label
	}
	s, err := h.c.GetString(r.Context(), ref)
	if err != nil {
		fail(w, err)
		return
	}
	m := s.Metadata()
	if m.Type == "SecureString" && q.Get("withDecryption") != "true" {
		badRequest(w, "parameter %s is a SecureString: add withDecryption=true", name)
		return
	}
	v, _ := strconv.ParseInt(m.VersionID, 10, 64)
	p := map[string]any{
		"ARN": m.ARN, "Name": m.Name, "Type": m.Type, "Value": s.Reveal(), "Version": v,
		"DataType": "text", "LastModifiedDate": epoch(m.Created),
	}
	switch {
	case version != "":
		p["Selector"] = ":" + version
	case label != "":
		p["Selector"] = ":" + label
	}
	writeJSON(w, map[string]any{"Parameter": p, "ResultMetadata": map[string]any{}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
