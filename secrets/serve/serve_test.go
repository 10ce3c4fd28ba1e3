package serve_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/mlseal/mlseal/internal/testserver/awssecrets"
	"github.com/mlseal/mlseal/secrets"
	"github.com/mlseal/mlseal/secrets/serve"
)

func TestMain(m *testing.M) {
	awssecrets.Setenv()
	os.Exit(m.Run())
}

const token = "session-token-for-tests"

type env struct {
	sm  *awssecrets.SecretsManager
	ssm *awssecrets.SSM
	c   *secrets.Cache
	url string
}

func newEnv(t *testing.T) *env {
	e := &env{sm: awssecrets.NewSecretsManager(t), ssm: awssecrets.NewSSM(t)}
	e.c = secrets.NewCache(secrets.NewProviders(secrets.AWSOptions{SecretsManagerEndpoint: e.sm.URL, SSMEndpoint: e.ssm.URL}), secrets.CacheOptions{})
	t.Cleanup(func() { e.c.Close() })
	h, err := serve.Handler(e.c, token)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

func (e *env) get(t *testing.T, path string, tok string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.url+path, nil)
	if tok != "" {
		req.Header.Set(serve.TokenHeader, tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestSecretsManager(t *testing.T) {
	e := newEnv(t)
	v1 := e.sm.Put("prod/db", `{"password":"one"}`)
	v2 := e.sm.Put("prod/db", `{"password":"two"}`)
	path := "/secretsmanager/get?secretId=" + url.QueryEscape("prod/db")
	for range 3 {
		code, body := e.get(t, path, token)
		var out struct {
			ARN, Name, VersionId, SecretString string
			VersionStages                      []string
			CreatedDate                        float64
		}
		if code != 200 || json.Unmarshal(body, &out) != nil {
			t.Fatalf("%d %s", code, body)
		}
		if out.SecretString != `{"password":"two"}` || out.VersionId != v2 || out.Name != "prod/db" || out.ARN != e.sm.ARN("prod/db") || out.VersionStages[0] != "AWSCURRENT" || out.CreatedDate == 0 {
			t.Errorf("response %s", body)
		}
	}
	if n := e.sm.Calls("GetSecretValue"); n != 1 {
		t.Errorf("%d calls for 3 requests, want 1 (cached)", n)
	}
	for q, want := range map[string]string{"&versionStage=AWSPREVIOUS": v1, "&versionId=" + v1: v1} {
		code, body := e.get(t, path+q, token)
		if code != 200 || !strings.Contains(string(body), `"VersionId":"`+want+`"`) || !strings.Contains(string(body), "one") {
			t.Errorf("%s: %d %s", q, code, body)
		}
	}
	e.sm.Deny("prod/db")
	e.sm.Put("denied", "x")
	e.sm.Deny("denied")
	for p, want := range map[string]int{
		"/secretsmanager/get?secretId=missing":                          404,
		"/secretsmanager/get?secretId=denied":                           403,
		"/secretsmanager/get":                                           400,
		"/secretsmanager/get?secretId=a%23b":                            400,
		"/secretsmanager/get?secretId=bad%20name":                       400,
		"/secretsmanager/get?secretId=x&versionStage=A&versionId=" + v1: 400,
	} {
		if code, body := e.get(t, p, token); code != want {
			t.Errorf("%s: %d %s, want %d", p, code, body, want)
		}
	}
}

func TestParameters(t *testing.T) {
	e := newEnv(t)
	e.ssm.Put("/app/key", "SecureString", "k1")
	e.ssm.Put("/app/key", "SecureString", "k2")
	e.ssm.Label("/app/key", 1, "stable")
	e.ssm.Put("plain", "String", "p")
	for p, want := range map[string]string{
		"/systemsmanager/parameters/get?name=%2Fapp%2Fkey&withDecryption=true":              `"Value":"k2"`,
		"/systemsmanager/parameters/get?name=%2Fapp%2Fkey&version=1&withDecryption=true":    `"Value":"k1"`,
		"/systemsmanager/parameters/get?name=%2Fapp%2Fkey:1&withDecryption=true":            `"Selector":":1"`,
		"/systemsmanager/parameters/get?name=%2Fapp%2Fkey&label=stable&withDecryption=true": `"Value":"k1"`,
		"/systemsmanager/parameters/get?name=plain":                                         `"Value":"p"`,
	} {
		code, body := e.get(t, p, token)
		if code != 200 || !strings.Contains(string(body), want) || !strings.Contains(string(body), `"Parameter":`) {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	// Without withDecryption=true, as the extension does: the parameter as
	// SSM stores it, a SecureString encrypted.
	if code, body := e.get(t, "/systemsmanager/parameters/get?name=%2Fapp%2Fkey", token); code != 200 || strings.Contains(string(body), "k2") || !strings.Contains(string(body), `"Type":"SecureString"`) {
		t.Errorf("SecureString without withDecryption: %d %s", code, body)
	}
	if e.ssm.Calls("GetParameters") != 0 {
		t.Error("a single parameter was read with GetParameters")
	}
	if code, _ := e.get(t, "/systemsmanager/parameters/get?name=%2Fnope", token); code != 404 {
		t.Errorf("missing: %d", code)
	}
}

func TestToken(t *testing.T) {
	e := newEnv(t)
	e.sm.Put("db", "value")
	for _, tok := range []string{"", "wrong", token + "x"} {
		code, body := e.get(t, "/secretsmanager/get?secretId=db", tok)
		if code != http.StatusUnauthorized || strings.Contains(string(body), "value") {
			t.Errorf("token %q: %d %s", tok, code, body)
		}
	}
	if e.sm.TotalCalls() != 0 {
		t.Error("an unauthorized request reached Secrets Manager")
	}
	if _, err := serve.Handler(nil, ""); err == nil {
		t.Error("empty token accepted")
	}
	// Other methods and paths.
	req, _ := http.NewRequest("POST", e.url+"/secretsmanager/get?secretId=db", nil)
	req.Header.Set(serve.TokenHeader, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
	if code, _ := e.get(t, "/other", token); code != 404 {
		t.Errorf("other path: %d", code)
	}
}

// TestErrorBodies: an error never repeats the request, however long, and
// a query Go cannot parse is reported as such.
func TestErrorBodies(t *testing.T) {
	e := newEnv(t)
	e.sm.Put("db", "value")
	long := strings.Repeat("x", 20000)
	for path, want := range map[string]int{
		"/secretsmanager/get?secretId=" + long + "%21":                 400, // not a secret name
		"/secretsmanager/get?secretId=" + long[:500]:                   404,
		"/systemsmanager/parameters/get?name=%2F" + long + "%21":       400,
		"/secretsmanager/get?secretId=db&versionStage=" + long + "%21": 400,
	} {
		code, body := e.get(t, path, token)
		if code != want || len(body) > 200 || strings.Contains(string(body), "xxxx") {
			t.Errorf("%.60s...: %d %q, want %d without the request", path, code, body, want)
		}
	}
	for _, path := range []string{"/secretsmanager/get?secretId=db%zz", "/secretsmanager/get?secretId=db;x=1", "/systemsmanager/parameters/get?name=%"} {
		code, body := e.get(t, path, token)
		if code != 400 || !strings.Contains(string(body), "query string cannot be parsed") {
			t.Errorf("%s: %d %q", path, code, body)
		}
	}
}

// TestMemoFollowsCache: a memoized response is not served once the cache
// holds a new version.
func TestMemoFollowsCache(t *testing.T) {
	e := newEnv(t)
	e.sm.Put("db", "one")
	for _, want := range []string{"one", "one", "two"} {
		if want == "two" {
			e.sm.Put("db", "two")
			e.c.Invalidate(secrets.MustParseRef("secretsmanager://db"))
		}
		if code, body := e.get(t, "/secretsmanager/get?secretId=db", token); code != 200 || !strings.Contains(string(body), `"SecretString":"`+want+`"`) {
			t.Errorf("%d %s, want %s", code, body, want)
		}
	}
}

// TestMemoConcurrent: concurrent requests while the secret rotates always
// get a whole, current-or-previous response (run with -race).
func TestMemoConcurrent(t *testing.T) {
	e := newEnv(t)
	e.sm.Put("db", "v0")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				code, body := e.get(t, "/secretsmanager/get?secretId=db", token)
				if code != 200 || !strings.Contains(string(body), `"SecretString":"v`) || !strings.HasSuffix(string(body), "}\n") {
					t.Errorf("%d %q", code, body)
					return
				}
			}
		})
	}
	for i := range 5 {
		e.sm.Put("db", fmt.Sprintf("v%d", i+1))
		e.c.Invalidate(secrets.MustParseRef("secretsmanager://db"))
	}
	wg.Wait()
}
