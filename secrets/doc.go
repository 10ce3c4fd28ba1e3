// Package secrets will fetch the secrets that data jobs need, by reference
// (secretsmanager://..., ssm://..., env:..., file:...), from AWS Secrets
// Manager, SSM Parameter Store, the environment and files, with a cache, and
// run child processes with secrets in their environment. Secret values are
// never printed or logged.
//
// Nothing is implemented yet; see the project's issues.
package secrets
