// Package lambdatest proves that every function under functions/ builds as a
// real AWS Lambda `bootstrap` (static, -tags lambda.norpc, exactly the
// deployment build but for the host architecture) and answers its sample
// event from events/ when run under the AWS Lambda Runtime Interface
// Emulator (aws-lambda-rie), against a real PostgreSQL database and the
// Stripe fake.
//
// The package has no non-test code. Run it with `make lambda-test`
// (go test -count=1 -run TestLambdaBinaries -v ./internal/lambdatest).
// It installs aws-lambda-rie into <repo>/bin when missing; when that is
// impossible the test is skipped, or fails when the CI environment
// variable is set.
//
// Every folder functions/<name> with a main.go must have a case in
// cases_test.go: a folder without one fails the test, a case whose folder
// has no main.go yet is reported as skipped. Binary sizes and init times
// are logged and written as a Markdown table to
// $TMPDIR/checkout-lambda-report.md.
//
// TestLambdasLinkNoEmulatorOrFakes checks, with the deployment build
// settings, that no function links the local AWS emulator (module localaws),
// the local stack, the Stripe fake or the testing package.
package lambdatest
