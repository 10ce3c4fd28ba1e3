package awssecrets

import (
	"encoding/base64"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SSM is an SSM Parameter Store test server.
type SSM struct {
	*server
	params map[string]*parameter // guarded by server.mu
	denied map[string]bool
	broken map[string]bool
}

type parameter struct {
	name, typ string
	versions  []*paramVersion // versions[i].version == i+1
}

type paramVersion struct {
	version  int64
	value    string
	labels   []string
	modified time.Time
}

// NewSSM starts an SSM Parameter Store server; it stops at the end of the
// test.
func NewSSM(t testing.TB) *SSM {
	s := &SSM{params: map[string]*parameter{}, denied: map[string]bool{}, broken: map[string]bool{}}
	s.server = start(t, "ssm", "AmazonSSM", "message", s.handle)
	return s
}

// Put stores a new version of the parameter (creating it) with type String,
// StringList or SecureString, and returns its version number.
func (s *SSM) Put(name, typ, value string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.params[name]
	if p == nil {
		p = &parameter{name: name}
		s.params[name] = p
	}
	p.typ = typ
	v := &paramVersion{version: int64(len(p.versions) + 1), value: value, modified: time.Now()}
	p.versions = append(p.versions, v)
	return v.version
}

// Label attaches labels to a version of the parameter, moving them from
// any other version, as LabelParameterVersion does.
func (s *SSM) Label(name string, version int64, labels ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.params[name]
	for _, v := range p.versions {
		v.labels = slices.DeleteFunc(v.labels, func(l string) bool { return slices.Contains(labels, l) })
	}
	v := p.versions[version-1]
	v.labels = append(v.labels, labels...)
}

// Deny makes reads of the parameter fail with AccessDeniedException, as
// when the caller may not read it: a GetParameters call that names it
// fails as a whole, as in the service.
func (s *SSM) Deny(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[name] = true
}

// FailDecryption makes decrypting reads of the SecureString parameter fail
// with InvalidKeyId, as when its KMS key is disabled or not usable.
func (s *SSM) FailDecryption(name string, fail bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.broken[name] = fail
}

type paramOut struct {
	ARN              string
	DataType         string
	LastModifiedDate float64
	Name             string
	Selector         string `json:",omitempty"`
	Type             string
	Value            string
	Version          int64
}

func (s *SSM) handle(op string, body []byte) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch op {
	case "GetParameter":
		var in struct {
			Name           string
			WithDecryption bool
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		p, err := s.get(in.Name, in.WithDecryption)
		if err != nil {
			return nil, err
		}
		return map[string]any{"Parameter": p}, nil
	case "GetParameters":
		var in struct {
			Names          []string
			WithDecryption bool
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		if len(in.Names) == 0 || len(in.Names) > 10 {
			return nil, errorf("ValidationException", "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10")
		}
		out := struct {
			Parameters        []paramOut
			InvalidParameters []string
		}{Parameters: []paramOut{}, InvalidParameters: []string{}}
		for _, n := range in.Names {
			if s.denied[s.base(n)] {
				return nil, errorf("AccessDeniedException", "User: %s is not authorized to perform: ssm:GetParameters on resource: %s because no identity-based policy allows the ssm:GetParameters action", Caller, s.arn(s.base(n)))
			}
		}
		for _, n := range in.Names {
			p, err := s.get(n, in.WithDecryption)
			switch {
			case err == nil:
				out.Parameters = append(out.Parameters, *p)
			case err.Code == "ParameterNotFound" || err.Code == "ParameterVersionNotFound":
				out.InvalidParameters = append(out.InvalidParameters, n)
			default:
				return nil, err
			}
		}
		return out, nil
	case "GetParametersByPath":
		var in struct {
			Path           string
			Recursive      bool
			WithDecryption bool
			MaxResults     int
			NextToken      string
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(in.Path, "/") {
			return nil, errorf("ValidationException", "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\".")
		}
		if in.MaxResults == 0 {
			in.MaxResults = 10
		}
		if in.MaxResults > 10 {
			return nil, errorf("ValidationException", "MaxResults must be at most 10")
		}
		prefix := strings.TrimSuffix(in.Path, "/") + "/"
		var names []string
		for n := range s.params {
			if rest, ok := strings.CutPrefix(n, prefix); ok && (in.Recursive || !strings.Contains(rest, "/")) {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		start := 0
		if in.NextToken != "" {
			n, err := strconv.Atoi(in.NextToken)
			if err != nil || n < 0 || n > len(names) {
				return nil, errorf("ValidationException", "bad NextToken")
			}
			start = n
		}
		out := struct {
			Parameters []paramOut
			NextToken  string `json:",omitempty"`
		}{Parameters: []paramOut{}}
		for i := start; i < len(names); i++ {
			if len(out.Parameters) == in.MaxResults {
				out.NextToken = strconv.Itoa(i)
				break
			}
			if s.denied[names[i]] {
				continue // the service leaves out what the caller may not read
			}
			p, err := s.get(names[i], in.WithDecryption)
			if err != nil {
				return nil, err
			}
			out.Parameters = append(out.Parameters, *p)
		}
		return out, nil
	}
	return nil, &apiError{Code: "UnknownOperationException", Message: op, Status: 400}
}

func (s *SSM) arn(name string) string {
	return fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/%s", Region, Account, strings.TrimPrefix(name, "/"))
}

// base returns the parameter name without its selector, from a name or an
// ARN.
func (s *SSM) base(n string) string {
	if rest, ok := strings.CutPrefix(n, fmt.Sprintf("arn:aws:ssm:%s:%s:parameter", Region, Account)); ok {
		n = rest
		if _, ok := s.params[n]; !ok {
			n = strings.TrimPrefix(n, "/")
		}
	}
	if i := strings.LastIndexByte(n, ':'); i >= 0 {
		n = n[:i]
	}
	return n
}

func (s *SSM) get(n string, decrypt bool) (*paramOut, *apiError) {
	if n == "" {
		return nil, errorf("ValidationException", "Name is required")
	}
	name := s.base(n)
	selector := ""
	if !strings.HasPrefix(n, "arn:") || strings.Count(n, ":") > 5 {
		if i := strings.LastIndexByte(n, ':'); i >= 0 {
			selector = n[i:]
		}
	}
	if s.denied[name] {
		return nil, errorf("AccessDeniedException", "User: %s is not authorized to perform: ssm:GetParameter on resource: %s because no identity-based policy allows the ssm:GetParameter action", Caller, s.arn(name))
	}
	p := s.params[name]
	if p == nil {
		return nil, errorf("ParameterNotFound", "")
	}
	v := p.versions[len(p.versions)-1]
	if sel := strings.TrimPrefix(selector, ":"); sel != "" {
		v = nil
		if n, err := strconv.ParseInt(sel, 10, 64); err == nil {
			if n >= 1 && n <= int64(len(p.versions)) {
				v = p.versions[n-1]
			}
		} else {
			for _, o := range p.versions {
				if slices.Contains(o.labels, sel) {
					v = o
				}
			}
		}
		if v == nil {
			return nil, errorf("ParameterVersionNotFound", "Systems Manager could not find version %s of %s. Verify the version and try again.", sel, name)
		}
	}
	value := v.value
	if p.typ == "SecureString" {
		if !decrypt {
			value = base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("ciphertext of %s version %d", name, v.version)))
		} else if s.broken[name] {
			return nil, errorf("InvalidKeyId", "The query key ID isn't valid.")
		}
	}
	return &paramOut{
		ARN: s.arn(name), DataType: "text", LastModifiedDate: epoch(v.modified), Name: name,
		Selector: selector, Type: p.typ, Value: value, Version: v.version,
	}, nil
}
