# Lambda bootstraps for the host architecture, and the test that runs each one
# under the AWS Lambda Runtime Interface Emulator (aws-lambda-rie).
#
#   make build-host    every functions/<name>/ with a main.go as
#                      dist-host/<name>/bootstrap: the deployment build
#                      (static, -tags lambda.norpc) for this machine's GOOS/GOARCH.
#   make lambda-test   go test -run TestLambdaBinaries ./internal/lambdatest: builds
#                      every function, runs it under aws-lambda-rie (installed into
#                      bin/ when missing) on a fresh PostgreSQL database and the Stripe
#                      fake, sends its events/*.json sample and checks the answer.
#                      Prints a size / init-time table and writes it to
#                      $TMPDIR/checkout-lambda-report.md.

HOST_DIST ?= dist-host
## build-host: build dist-host/<name>/bootstrap for every function (host GOOS/GOARCH)
build-host:
	$(call build-lambdas,$(HOST_DIST),)

## lambda-test: run every built bootstrap under aws-lambda-rie against its sample event
lambda-test:
	$(GO) test -count=1 -timeout 15m -run TestLambdaBinaries -v ./internal/lambdatest

clean-dist-host:
	rm -rf $(HOST_DIST)
