package awskms

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/multi"
	"github.com/mlseal/mlseal/envelope/keyring/rawaes"
	"github.com/mlseal/mlseal/internal/awsconfig"
	kmstest "github.com/mlseal/mlseal/internal/testserver/kms"
)

// setup starts a KMS test server and returns it with keyring options whose
// clients reach it through the standard configuration chain (credentials
// and region from the environment, AWS_CA_BUNDLE left as it is), retrying
// as mlseal does but without waiting between attempts.
func setup(t *testing.T) (*kmstest.Server, Options) {
	t.Helper()
	srv := kmstest.New()
	t.Cleanup(srv.Close)
	isolateAWSConfig(t)
	t.Setenv("AWS_REGION", "us-east-1")
	return srv, Options{Clients: NewClientProvider(awsconfig.Options{Endpoint: srv.URL}, noBackoff)}
}

func isolateAWSConfig(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_KMS", "")
}

func noBackoff(o *kms.Options) {
	o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = awsconfig.MaxAttempts
		so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
		so.RateLimiter = ratelimit.None
	})
}

var plaintext = []byte("the quick brown fox jumps over the lazy dog")

func seal(t *testing.T, kr envelope.Keyring, ec map[string]string, required ...string) []byte {
	t.Helper()
	ct, err := envelope.EncryptBytes(context.Background(), plaintext, envelope.EncryptOptions{Keyring: kr, Context: ec, RequiredContextKeys: required})
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func open(kr envelope.Keyring, ct []byte, ec map[string]string) error {
	pt, err := envelope.DecryptBytes(context.Background(), ct, envelope.DecryptOptions{Keyring: kr, Context: ec})
	if err == nil && !bytes.Equal(pt, plaintext) {
		return errors.New("wrong plaintext")
	}
	return err
}

func mustOpen(t *testing.T, kr envelope.Keyring, ct []byte, ec map[string]string) {
	t.Helper()
	if err := open(kr, ct, ec); err != nil {
		t.Fatalf("%v: %v", kr, err)
	}
}

func header(t *testing.T, ct []byte) *envelope.Header {
	t.Helper()
	h, err := envelope.ParseHeader(bytes.NewReader(ct))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestStrictRoundTrip(t *testing.T) {
	srv, opts := setup(t)
	opts.GrantTokens = []string{"grant-1"}
	arn := srv.CreateKey("eu-west-1")
	kr, err := New(arn, opts)
	if err != nil {
		t.Fatal(err)
	}
	ec := map[string]string{"dataset": "imagenet", "shard": "7"}
	for _, suite := range []envelope.SuiteID{envelope.AES256GCMHKDFSHA512CommitKey, envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384} {
		srv.ResetCalls()
		ct, err := envelope.EncryptBytes(context.Background(), plaintext, envelope.EncryptOptions{Keyring: kr, Context: ec, Suite: suite})
		if err != nil {
			t.Fatal(err)
		}
		h := header(t, ct)
		if len(h.EncryptedDataKeys) != 1 || h.EncryptedDataKeys[0].ProviderID != "aws-kms" || string(h.EncryptedDataKeys[0].ProviderInfo) != arn {
			t.Fatalf("wrapped keys %+v", h.EncryptedDataKeys)
		}
		mustOpen(t, kr, ct, nil)
		reqs := srv.Requests()
		if len(reqs) != 2 || reqs[0].Op != "GenerateDataKey" || reqs[1].Op != "Decrypt" {
			t.Fatalf("requests %+v", reqs)
		}
		for _, r := range reqs {
			// The whole context goes to KMS, with the grant tokens, to the
			// key's region, naming the key.
			if r.KeyID != arn || r.Region != "eu-west-1" || r.Context["dataset"] != "imagenet" || r.Context["shard"] != "7" ||
				len(r.GrantTokens) != 1 || r.GrantTokens[0] != "grant-1" {
				t.Fatalf("request %+v", r)
			}
			_, signed := r.Context["aws-crypto-public-key"]
			if signed != suite.Signed() {
				t.Fatalf("suite %s: aws-crypto-public-key in the context sent to KMS: %v", suite, signed)
			}
		}
	}
}

func TestAliasAndKeyIDForEncryptOnly(t *testing.T) {
	srv, opts := setup(t)
	arn := srv.CreateKey("us-east-1")
	aliasARN := srv.CreateAlias("alias/training", arn)
	id := arn[strings.LastIndex(arn, "/")+1:]
	strict, _ := New(arn, opts)
	for _, name := range []string{"alias/training", aliasARN, id} {
		kr, err := New(name, opts)
		if err != nil {
			t.Fatal(err)
		}
		ct := seal(t, kr, nil)
		if got := string(header(t, ct).EncryptedDataKeys[0].ProviderInfo); got != arn {
			t.Fatalf("%s: provider info %s, want the key ARN", name, got)
		}
		mustOpen(t, strict, ct, nil)
		err = open(kr, ct, nil)
		if !errors.Is(err, ErrNeedARN) || !strings.Contains(err.Error(), "needs a key ARN") || !strings.Contains(err.Error(), name) {
			t.Fatalf("decrypt with %s: %v", name, err)
		}
	}
	for _, bad := range []string{"", "alias/", "arn:aws:kms:us-east-1:111122223333:key", "arn:aws:s3:us-east-1:111122223333:key/x", "has space", "arn:aws:kms::111122223333:key/x"} {
		if _, err := New(bad, opts); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
}

func TestMultiKeyring(t *testing.T) {
	srv, opts := setup(t)
	a := srv.CreateKey("us-east-1")
	b := srv.CreateKey("us-west-2")
	krA, _ := New(a, opts)
	krB, _ := New(b, opts)
	aesKey := make([]byte, 32)
	rand.Read(aesKey)
	local, err := rawaes.New("mlseal", "local", aesKey)
	if err != nil {
		t.Fatal(err)
	}
	all, err := multi.New(krA, krB, local)
	if err != nil {
		t.Fatal(err)
	}
	ct := seal(t, all, map[string]string{"k": "v"})
	if srv.Calls("GenerateDataKey") != 1 || srv.Calls("Encrypt") != 1 {
		t.Fatalf("GenerateDataKey %d, Encrypt %d calls; want 1 and 1", srv.Calls("GenerateDataKey"), srv.Calls("Encrypt"))
	}
	h := header(t, ct)
	if len(h.EncryptedDataKeys) != 3 || string(h.EncryptedDataKeys[1].ProviderInfo) != b {
		t.Fatalf("wrapped keys %+v", h.EncryptedDataKeys)
	}
	for _, kr := range []envelope.Keyring{krA, krB, local} {
		srv.ResetCalls()
		mustOpen(t, kr, ct, nil)
		if kr == local && srv.Calls("") != 0 {
			t.Fatal("the local key called KMS")
		}
	}
	// A KMS key and a local key: either one opens it.
	mixed, _ := multi.New(krA, local)
	ct = seal(t, mixed, nil)
	mustOpen(t, krA, ct, nil)
	mustOpen(t, local, ct, nil)
	if err := open(krB, ct, nil); !errors.Is(err, envelope.ErrNoDataKey) {
		t.Fatalf("another KMS key: %v", err)
	}
}

func TestDiscovery(t *testing.T) {
	srv, opts := setup(t) // the configured region is us-east-1
	east := srv.CreateKey("us-east-1")
	west := srv.CreateKey("us-west-2")
	other := srv.CreateKeyIn("444455556666", "us-east-1")
	krEast, _ := New(east, opts)
	krWest, _ := New(west, opts)
	ct := seal(t, krEast, map[string]string{"k": "v"})
	ctWest := seal(t, krWest, nil)

	d, err := NewDiscovery(nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.ResetCalls()
	mustOpen(t, d, ct, nil)
	if r := srv.Requests(); len(r) != 1 || r[0].Region != "us-east-1" || r[0].KeyID != east {
		t.Fatalf("discovery called %+v; want Decrypt in the configured region naming the key", r)
	}
	// A key of another region is asked for through the configured client,
	// never in the region that the (unauthenticated) header names; KMS
	// says it does not know the key there, which is not a refusal.
	srv.ResetCalls()
	err = open(d, ctWest, nil)
	if r := srv.Requests(); len(r) != 1 || r[0].Region != "us-east-1" || r[0].KeyID != west {
		t.Fatalf("discovery of a us-west-2 key called %+v; want one Decrypt in us-east-1", r)
	}
	if err == nil || errors.Is(err, envelope.ErrNoDataKey) || !strings.Contains(err.Error(), "the key does not exist") {
		t.Fatalf("discovery of a us-west-2 key in us-east-1: %v", err)
	}
	// The discovery multi-keyring: one client per region given.
	dm, err := NewDiscoveryMulti([]string{"us-east-1", "us-west-2"}, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.ResetCalls()
	mustOpen(t, dm, ctWest, nil)
	if r := srv.Requests(); len(r) != 2 || r[0].Region != "us-east-1" || r[1].Region != "us-west-2" {
		t.Fatalf("discovery multi-keyring called %+v; want us-east-1, then us-west-2", r)
	}
	for _, regions := range [][]string{nil, {"us-east-1", ""}} {
		if _, err := NewDiscoveryMulti(regions, nil, opts); err == nil {
			t.Fatalf("regions %q accepted", regions)
		}
	}

	if err := d.OnEncrypt(context.Background(), &envelope.EncryptionMaterials{Suite: envelope.DefaultSuite}); err == nil {
		t.Fatal("a discovery keyring encrypted")
	}
	ok, _ := NewDiscovery(&DiscoveryFilter{Partition: "aws", Accounts: []string{"999999999999", kmstest.DefaultAccount}}, opts)
	mustOpen(t, ok, ct, nil)
	srv.ResetCalls()
	for _, f := range []*DiscoveryFilter{
		{Partition: "aws", Accounts: []string{"444455556666"}},
		{Partition: "aws-cn", Accounts: []string{kmstest.DefaultAccount}},
	} {
		d, _ := NewDiscovery(f, opts)
		if err := open(d, ct, nil); !errors.Is(err, envelope.ErrNoDataKey) {
			t.Fatalf("filter %+v: %v", f, err)
		}
	}
	if srv.Calls("") != 0 {
		t.Fatal("filtered-out keys were sent to KMS")
	}
	for _, f := range []*DiscoveryFilter{{Partition: "aws"}, {Accounts: []string{"1"}}} {
		if _, err := NewDiscovery(f, opts); err == nil {
			t.Fatalf("filter %+v accepted", f)
		}
	}
	// Keys of another account are tried with their ARN.
	krOther, _ := New(other, opts)
	mustOpen(t, d, seal(t, krOther, nil), nil)
}

// TestClientCacheIsBounded checks that a ClientProvider keeps at most
// MaxClients regions' clients, however many regions it is asked for.
func TestClientCacheIsBounded(t *testing.T) {
	isolateAWSConfig(t)
	t.Setenv("AWS_REGION", "us-east-1")
	p := NewClientProvider(awsconfig.Options{Endpoint: "http://127.0.0.1:1"}).(*configProvider)
	for i := range 3 * MaxClients {
		if _, err := p.Client(context.Background(), fmt.Sprintf("xx-test-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if len(p.clients) != MaxClients || len(p.order) != MaxClients {
		t.Fatalf("%d clients kept (order %d), want %d", len(p.clients), len(p.order), MaxClients)
	}
	if _, ok := p.clients[fmt.Sprintf("xx-test-%d", 3*MaxClients-1)]; !ok {
		t.Fatal("the newest client was dropped")
	}
}

func TestMultiRegionKeys(t *testing.T) {
	srv, opts := setup(t)
	arns := srv.CreateMultiRegionKey("us-east-1", "eu-west-1")
	primary, replica := arns[0], arns[1]
	kr, _ := New(primary, opts)
	ec := map[string]string{"k": "v"}
	ct := seal(t, kr, ec)

	// The strict keyring matches ARNs exactly; the MRK-aware one lets the
	// replica open what the primary wrapped, calling KMS in its region.
	strictReplica, _ := New(replica, opts)
	if err := open(strictReplica, ct, nil); !errors.Is(err, envelope.ErrNoDataKey) {
		t.Fatalf("strict keyring of the replica: %v", err)
	}
	mrk, err := NewMRK(replica, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.ResetCalls()
	mustOpen(t, mrk, ct, nil)
	if r := srv.Requests(); len(r) != 1 || r[0].Region != "eu-west-1" || r[0].KeyID != replica {
		t.Fatalf("requests %+v", r)
	}
	md, _ := NewMRKDiscovery("eu-west-1", &DiscoveryFilter{Partition: "aws", Accounts: []string{kmstest.DefaultAccount}}, opts)
	srv.ResetCalls()
	mustOpen(t, md, ct, nil)
	if r := srv.Requests(); len(r) != 1 || r[0].Region != "eu-west-1" || r[0].KeyID != replica {
		t.Fatalf("requests %+v", r)
	}
	// A single-Region key of another region is not tried by an MRK
	// discovery keyring; the plain discovery keyring tries it in its region.
	single, _ := New(srv.CreateKey("us-east-1"), opts)
	ct = seal(t, single, nil)
	srv.ResetCalls()
	if err := open(md, ct, nil); !errors.Is(err, envelope.ErrNoDataKey) || srv.Calls("") != 0 {
		t.Fatalf("MRK discovery in eu-west-1 of a us-east-1 key: %v, %d calls", err, srv.Calls(""))
	}
	if _, err := NewMRKDiscovery("", nil, opts); err == nil {
		t.Fatal("MRK discovery without a region accepted")
	}
}

func TestRefusalsAreNoDataKey(t *testing.T) {
	srv, opts := setup(t)
	arn := srv.CreateKey("us-east-1")
	kr, _ := New(arn, opts)
	ct := seal(t, kr, map[string]string{"tenant": "a"}, "tenant")

	// A different required context: KMS refuses the blob.
	err := open(kr, ct, map[string]string{"tenant": "b"})
	if !errors.Is(err, envelope.ErrNoDataKey) || !strings.Contains(err.Error(), "InvalidCiphertextException") || !strings.Contains(err.Error(), "kms:Decrypt with key "+arn) {
		t.Fatalf("wrong context: %v", err)
	}
	var ke *Error
	if !errors.As(err, &ke) || ke.Op != "Decrypt" || ke.Key != arn || ke.Code() != "InvalidCiphertextException" {
		t.Fatalf("error %#v", ke)
	}
	var ice *types.InvalidCiphertextException
	if !errors.As(err, &ice) {
		t.Fatal("the SDK's error type is not reachable")
	}
	mustOpen(t, kr, ct, map[string]string{"tenant": "a"})
}

// TestUnusableKeysAreNotNoDataKey checks that a key that KMS will not use
// now is reported as such, and not as a message that cannot be opened
// (which the CLI would call not authentic).
func TestUnusableKeysAreNotNoDataKey(t *testing.T) {
	srv, opts := setup(t)
	arn := srv.CreateKey("us-east-1")
	kr, _ := New(arn, opts)
	ec := map[string]string{"tenant": "a"}
	ct := seal(t, kr, ec)
	for _, c := range []struct {
		set  func()
		want string
	}{
		{func() { srv.SetKeyState(arn, kmstest.StateDisabled) }, "the key is disabled"},
		{func() { srv.SetKeyState(arn, kmstest.StatePendingDeletion) }, "pending deletion"},
		{func() { srv.SetKeyState(arn, kmstest.StateEnabled); srv.Deny(arn, "Decrypt") }, "access denied"},
	} {
		c.set()
		err := open(kr, ct, ec)
		if err == nil || errors.Is(err, envelope.ErrNoDataKey) || envelope.IsIntegrityError(err) || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("want an error saying %q, not ErrNoDataKey: %v", c.want, err)
		}
	}
}

func TestEncryptErrorsNameKeyAndOperation(t *testing.T) {
	srv, opts := setup(t)
	west := srv.CreateKey("us-west-2")
	id := west[strings.LastIndex(west, "/")+1:]
	for name, want := range map[string]string{
		"alias/missing": "kms:GenerateDataKey with key alias/missing: the key does not exist in this account and region (NotFoundException",
		// A key id resolves in the default region (us-east-1), not the key's.
		id: "kms:GenerateDataKey with key " + id + ": the key does not exist in this account and region (NotFoundException",
		"arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000": "NotFoundException",
	} {
		kr, _ := New(name, opts)
		_, err := envelope.EncryptBytes(context.Background(), plaintext, envelope.EncryptOptions{Keyring: kr})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: %v, want %q", name, err, want)
		}
	}
	srv.SetKeyState(west, kmstest.StateDisabled)
	a := srv.CreateKey("us-east-1")
	krA, _ := New(a, opts)
	krW, _ := New(west, opts)
	both, _ := multi.New(krA, krW)
	_, err := envelope.EncryptBytes(context.Background(), plaintext, envelope.EncryptOptions{Keyring: both})
	if err == nil || !strings.Contains(err.Error(), "kms:Encrypt with key "+west+": the key is disabled: enable it in KMS to use it (DisabledException") {
		t.Fatalf("disabled second key: %v", err)
	}
}

func TestOutagesAreNotNoDataKey(t *testing.T) {
	srv, opts := setup(t)
	arn := srv.CreateKey("us-east-1")
	kr, _ := New(arn, opts)
	ct := seal(t, kr, nil)

	// Throttling within the retries is ridden out.
	srv.ResetCalls()
	srv.Throttle("Decrypt", 3)
	mustOpen(t, kr, ct, nil)
	if got := srv.Calls("Decrypt"); got != 4 {
		t.Fatalf("Decrypt calls %d, want 4 (3 throttled)", got)
	}
	// A storm is not: the error says so, and is no integrity error.
	srv.ResetCalls()
	srv.Throttle("", -1)
	err := open(kr, ct, nil)
	if err == nil || errors.Is(err, envelope.ErrNoDataKey) || envelope.IsIntegrityError(err) ||
		!strings.Contains(err.Error(), "ThrottlingException") || !strings.Contains(err.Error(), "after 6 attempts") || !strings.Contains(err.Error(), arn) {
		t.Fatalf("throttling storm: %v", err)
	}
	if got := srv.Calls("Decrypt"); got != awsconfig.MaxAttempts {
		t.Fatalf("Decrypt calls %d, want %d", got, awsconfig.MaxAttempts)
	}
	if _, err := envelope.EncryptBytes(context.Background(), plaintext, envelope.EncryptOptions{Keyring: kr}); err == nil || !strings.Contains(err.Error(), "kms:GenerateDataKey with key "+arn+": ThrottlingException") {
		t.Fatalf("throttled encrypt: %v", err)
	}
	srv.ClearFaults()
	srv.Fail("Decrypt", -1, "KMSInternalException", 500)
	if err := open(kr, ct, nil); err == nil || errors.Is(err, envelope.ErrNoDataKey) || !strings.Contains(err.Error(), "KMSInternalException") {
		t.Fatalf("internal errors: %v", err)
	}
	srv.ClearFaults()

	// A KMS that hangs: the deadline ends the call.
	srv.SetHang(true)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Keyring: kr})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, envelope.ErrNoDataKey) || !strings.Contains(err.Error(), "kms:Decrypt with key "+arn) {
		t.Fatalf("hanging KMS: %v", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	_, err = envelope.EncryptBytes(ctx2, plaintext, envelope.EncryptOptions{Keyring: kr})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer before the deadline") {
		t.Fatalf("hanging KMS on encrypt: %v", err)
	}
}

// fakeClient answers Decrypt as told, for what the test server cannot do.
type fakeClient struct {
	Client
	keyID     string
	plaintext []byte
	calls     []*kms.DecryptInput
}

func (f *fakeClient) Decrypt(_ context.Context, in *kms.DecryptInput, _ ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	f.calls = append(f.calls, in)
	return &kms.DecryptOutput{KeyId: aws.String(f.keyID), Plaintext: f.plaintext}, nil
}

func TestResponseChecks(t *testing.T) {
	const arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	edks := []envelope.EncryptedDataKey{{ProviderID: "aws-kms", ProviderInfo: []byte(arn), Ciphertext: []byte("blob")}}
	for name, fc := range map[string]*fakeClient{
		"another key answered": {keyID: strings.Replace(arn, "1234abcd-12ab", "9999abcd-12ab", 1), plaintext: make([]byte, 32)},
		"short data key":       {keyID: arn, plaintext: make([]byte, 16)},
	} {
		kr, _ := New(arn, Options{Clients: ClientProviderFunc(func(context.Context, string) (Client, error) { return fc, nil })})
		m := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite}
		err := kr.OnDecrypt(context.Background(), m, edks)
		if !errors.Is(err, envelope.ErrNoDataKey) || m.DataKey != nil || len(fc.calls) != 1 {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// An aws-kms wrapped key must name a key ARN.
	kr, _ := New(arn, Options{Clients: ClientProviderFunc(func(context.Context, string) (Client, error) { return nil, errors.New("unused") })})
	d, _ := NewDiscovery(nil, Options{Clients: ClientProviderFunc(func(context.Context, string) (Client, error) { return nil, errors.New("unused") })})
	for _, info := range []string{"alias/x", "arn:aws:kms:us-east-1:111122223333:alias/x", "not an arn"} {
		bad := []envelope.EncryptedDataKey{{ProviderID: "aws-kms", ProviderInfo: []byte(info), Ciphertext: []byte("x")}}
		for _, k := range []envelope.Keyring{kr, d} {
			if err := k.OnDecrypt(context.Background(), &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite}, bad); !errors.Is(err, envelope.ErrMalformed) {
				t.Fatalf("provider info %q: %v", info, err)
			}
		}
	}
	// No client for a region is not a refusal.
	err := d.OnDecrypt(context.Background(), &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite}, edks)
	if err == nil || errors.Is(err, envelope.ErrNoDataKey) || !strings.Contains(err.Error(), "unused") {
		t.Fatalf("no client: %v", err)
	}
}

func TestEndpointFromEnvironment(t *testing.T) {
	srv := kmstest.New()
	defer srv.Close()
	isolateAWSConfig(t)
	t.Setenv("AWS_REGION", "ap-southeast-2")
	t.Setenv("AWS_ENDPOINT_URL_KMS", srv.URL)
	if _, ok := os.LookupEnv("AWS_CA_BUNDLE"); !ok {
		t.Setenv("AWS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
	}
	arn := srv.CreateKey("ap-southeast-2")
	kr, err := New(arn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustOpen(t, kr, seal(t, kr, nil), nil)
	if srv.Calls("") != 2 {
		t.Fatalf("calls %d", srv.Calls(""))
	}
}

func TestARN(t *testing.T) {
	for s, ok := range map[string]bool{
		"arn:aws:kms:us-east-1:2222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab": true,
		"arn:aws:kms:us-east-1:2222222222222:key/mrk-4321abcd12ab34cd56ef1234567890ab": true,
		"arn:aws:kms:us-west-2:111122223333:alias/test-key":                            true,
		"arn:aws:kms:us-west-2:111122223333:alias/a/b":                                 true,
		"arn:aws-cn:kms:cn-north-1:111122223333:key/x":                                 true,
		"arn:aws:kms:us-west-2:111122223333:grant/x":                                   false,
		"arn:aws:kms:us-west-2:111122223333:key/":                                      false,
		"arn::kms:us-west-2:111122223333:key/x":                                        false,
		"arn:aws:kms:us-west-2::key/x":                                                 false,
		"arn:aws:kms:us-west-2:1:2:key/x":                                              false,
		"aws:kms:us-west-2:111122223333:key/x":                                         false,
	} {
		a, err := ParseARN(s)
		if (err == nil) != ok {
			t.Errorf("ParseARN(%q): %v", s, err)
		}
		if ok && a.String() != s {
			t.Errorf("%q round-trips to %q", s, a.String())
		}
	}
	for id, want := range map[string]bool{
		"arn:aws:kms:us-east-1:2222222222222:key/mrk-4321abcd": true,
		"arn:aws:kms:us-east-1:2222222222222:alias/mrk-x":      false,
		"mrk-4321abcd":       true,
		"alias/mrk-x":        false,
		"1234abcd-12ab-34cd": false,
	} {
		if IsMRKIdentifier(id) != want {
			t.Errorf("IsMRKIdentifier(%q) != %v", id, want)
		}
	}
	e1 := "arn:aws:kms:us-east-1:111122223333:key/mrk-1"
	for b, want := range map[string]bool{
		e1: true,
		"arn:aws:kms:eu-west-1:111122223333:key/mrk-1":    true,
		"arn:aws:kms:eu-west-1:444455556666:key/mrk-1":    false,
		"arn:aws-cn:kms:eu-west-1:111122223333:key/mrk-1": false,
		"arn:aws:kms:eu-west-1:111122223333:key/mrk-2":    false,
		"mrk-1": false,
	} {
		if MRKMatch(e1, b) != want {
			t.Errorf("MRKMatch(%s, %s) != %v", e1, b, want)
		}
	}
	if MRKMatch("arn:aws:kms:us-east-1:1:key/k1", "arn:aws:kms:eu-west-1:1:key/k1") {
		t.Error("single-Region keys of two regions matched")
	}
}

func TestTimeoutOption(t *testing.T) {
	srv, opts := setup(t)
	arn := srv.CreateKey("us-east-1")
	kr, _ := New(arn, opts)
	ct := seal(t, kr, nil)
	opts.Timeout = 150 * time.Millisecond
	bounded, _ := New(arn, opts)
	d, _ := NewDiscovery(nil, opts)
	srv.SetHang(true)
	for _, k := range []envelope.Keyring{bounded, d} {
		err := open(k, ct, nil)
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, envelope.ErrNoDataKey) {
			t.Fatalf("%v: %v", k, err)
		}
	}
	if _, err := envelope.EncryptBytes(context.Background(), plaintext, envelope.EncryptOptions{Keyring: bounded}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("encrypt: %v", err)
	}
}
