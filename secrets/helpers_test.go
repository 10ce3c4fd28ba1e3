package secrets

import (
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/mlseal/mlseal/internal/awsconfig"
	"github.com/mlseal/mlseal/internal/testserver/awssecrets"
)

func TestMain(m *testing.M) {
	awssecrets.Setenv()
	os.Exit(m.Run())
}

// fastRetryer is the standard retryer with mlseal's attempts but no
// backoff delay and no retry quota, so that throttling tests run fast.
func fastRetryer() *retry.Standard {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = awsconfig.MaxAttempts
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		o.RateLimiter = ratelimit.None
	})
}

type fixture struct {
	sm  *awssecrets.SecretsManager
	ssm *awssecrets.SSM
	p   Providers
}

// newFixture starts both test servers and returns the standard providers
// pointed at them through AWSOptions.
func newFixture(t testing.TB) *fixture {
	f := &fixture{sm: awssecrets.NewSecretsManager(t), ssm: awssecrets.NewSSM(t)}
	f.p = NewProviders(AWSOptions{
		SecretsManagerEndpoint: f.sm.URL,
		SSMEndpoint:            f.ssm.URL,
		SecretsManagerOptions:  []func(*secretsmanager.Options){func(o *secretsmanager.Options) { o.Retryer = fastRetryer() }},
		SSMOptions:             []func(*ssm.Options){func(o *ssm.Options) { o.Retryer = fastRetryer() }},
	})
	return f
}
