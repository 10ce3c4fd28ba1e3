package serve_test

import (
	"net/http/httptest"
	"testing"

	"github.com/mlseal/mlseal/internal/testserver/awssecrets"
	"github.com/mlseal/mlseal/secrets"
	"github.com/mlseal/mlseal/secrets/serve"
)

// BenchmarkHandlerCached measures a request for a cached secret through
// the handler alone (the recorder allocates its header and body).
func BenchmarkHandlerCached(b *testing.B) {
	sm := awssecrets.NewSecretsManager(b)
	sm.Put("prod/db", `{"username":"app","password":"Pa55-w0rd-for-the-benchmark","host":"db.internal","port":5432}`)
	c := secrets.NewCache(secrets.NewProviders(secrets.AWSOptions{SecretsManagerEndpoint: sm.URL}), secrets.CacheOptions{})
	defer c.Close()
	h, _ := serve.Handler(c, token)
	req := httptest.NewRequest("GET", "/secretsmanager/get?secretId=prod%2Fdb", nil)
	req.Header.Set(serve.TokenHeader, token)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
