// Package secrets fetches the secrets that data jobs need (database
// passwords, API tokens, tokenization keys) by reference, from AWS Secrets
// Manager, SSM Parameter Store, the environment and files; caches them;
// and keeps their values out of logs and messages.
//
// A reference is one string; see [Ref] for the complete syntax:
//
//	secretsmanager://prod/db#password
//	secretsmanager://prod/db?stage=AWSPREVIOUS#password
//	ssm:///prod/api/token?version=3
//	env://DB_JSON#password
//	file:///run/secrets/db.json#password
//
// [NewProviders] returns the standard providers; the AWS ones use the
// standard configuration chain (AWS_REGION, AWS_PROFILE, SSO, IMDS...),
// AWS_CA_BUNDLE, and the endpoint settings AWS_ENDPOINT_URL_SECRETS_MANAGER,
// AWS_ENDPOINT_URL_SSM and AWS_ENDPOINT_URL, or the endpoints given in
// [AWSOptions] (VPC interface endpoints). Throttled calls are retried with
// exponential backoff; context deadlines are honoured.
//
// A [Cache] serves secrets from memory: a cached Get takes tens of
// nanoseconds and allocates nothing. It fetches each secret once however
// many goroutines ask, refreshes ahead of expiry, honours version stages,
// keeps serving the last good value for a bounded time while refreshes
// fail, prefetches in batches, and reports rotations and counters. It
// needs no more than the single-item permissions
// (secretsmanager:GetSecretValue, ssm:GetParameter): a lone reference is
// read with the single-item call, and when AWS denies a batch call its
// references are read one by one.
//
// Values travel as [Secret], which prints, marshals and logs as
// [Redacted]; [Secret.Reveal] is the one way to read a value. Errors name
// references, never values.
//
// The mlseal command's "secrets exec" runs a job with secrets in its
// environment:
//
//	mlseal secrets exec --env DB_PASSWORD=secretsmanager://prod/db#password -- python prep.py
package secrets
