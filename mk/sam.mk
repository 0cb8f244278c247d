# SAM template: lint, arm64 Lambda builds, and LocalStack helpers.
#
#   make lint-template    cfn-lint template.yaml (SAM transform included). Without
#                         cfn-lint: fails when CI is set, prints a skip notice otherwise.
#   make build-arm64      every functions/<name>/ as dist/<name>/bootstrap (linux/arm64,
#                         static, -tags lambda.norpc), the shape provided.al2023 runs.
#   make samlocal-deploy  deploy to LocalStack with samlocal (LocalStack and samlocal
#   make awslocal-queues  are NOT on this machine; these targets are for developers
#   make awslocal-outputs who run LocalStack themselves: pip install aws-sam-cli-local
#   make awslocal-start-checkout  awscli-local, then `localstack start`).
#
# `make dev` does not need any of this: it reads template.yaml directly.

CFN_LINT ?= cfn-lint
SAMLOCAL ?= samlocal
AWSLOCAL ?= awslocal
SAM_TEMPLATE ?= template.yaml
SAM_STACK ?= checkout-local
SAM_REGION ?= us-east-1
DIST ?= dist
# Parameters LocalStack needs (it does not check them); override as you like.
SAMLOCAL_PARAMS ?= StageName=local JwksUrl=https://auth.example.com/.well-known/jwks.json \
	StripeApiKeySecretArn=arn:aws:secretsmanager:$(SAM_REGION):000000000000:secret:checkout/local/stripe-api-key \
	StripeWebhookSecretArn=arn:aws:secretsmanager:$(SAM_REGION):000000000000:secret:checkout/local/stripe-webhook-secret \
	VpcId=vpc-00000000000000000 PrivateSubnetIds=subnet-00000000000000000,subnet-00000000000000001

# Every functions/<name>/ that has a main.go.
LAMBDA_FUNCTIONS := $(patsubst functions/%/main.go,%,$(wildcard functions/*/main.go))

.PHONY: lint-template build-arm64 lambda-bootstrap clean-dist samlocal-deploy awslocal-queues awslocal-outputs awslocal-start-checkout

## lint-template: cfn-lint template.yaml (exit 0 = clean, no errors and no warnings)
lint-template:
	@if command -v $(CFN_LINT) >/dev/null 2>&1; then \
		echo "$(CFN_LINT) $(SAM_TEMPLATE)"; \
		$(CFN_LINT) $(SAM_TEMPLATE); \
	elif [ -n "$$CI" ]; then \
		echo "lint-template: $(CFN_LINT) not found and CI is set: install it (pip install cfn-lint)" >&2; \
		exit 1; \
	else \
		echo "lint-template: $(CFN_LINT) not found; skipping (pip install cfn-lint to enable)"; \
	fi

# LAMBDA_BUILD is how every Lambda binary is built (static, -tags
# lambda.norpc, stripped): by build-arm64, by `sam build` through
# lambda-bootstrap, and by the tests that run the binaries.
LAMBDA_BUILD = CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags "-s -w"

# build-lambdas builds every function as $(1)/<name>/bootstrap the way Lambda
# runs it; $(2) is the environment choosing the target (e.g. GOOS=linux
# GOARCH=arm64; empty: the host).
define build-lambdas
	@if [ -z "$(LAMBDA_FUNCTIONS)" ]; then echo "no functions/*/main.go yet"; fi
	@set -e; for fn in $(LAMBDA_FUNCTIONS); do \
		echo "build $(1)/$$fn/bootstrap"; \
		mkdir -p $(1)/$$fn; \
		$(2) $(LAMBDA_BUILD) -o $(1)/$$fn/bootstrap ./functions/$$fn; \
	done
endef

## lambda-bootstrap: FUNCTION=<name> ARTIFACTS_DIR=<dir>: one function as <dir>/bootstrap
## (linux/arm64), the target each functions/<name>/Makefile calls for `sam build`.
lambda-bootstrap:
	@test -n "$(FUNCTION)" -a -n "$(ARTIFACTS_DIR)" || { echo "lambda-bootstrap: set FUNCTION and ARTIFACTS_DIR" >&2; exit 2; }
	mkdir -p "$(ARTIFACTS_DIR)"
	GOOS=linux GOARCH=arm64 $(LAMBDA_BUILD) -o "$(ARTIFACTS_DIR)/bootstrap" ./functions/$(FUNCTION)

## build-arm64: build dist/<name>/bootstrap for every function (linux/arm64)
build-arm64:
	$(call build-lambdas,$(DIST),GOOS=linux GOARCH=arm64)

clean-dist:
	rm -rf $(DIST)

define need_localstack_tool
	@command -v $(1) >/dev/null 2>&1 || { echo "$(1) not found: it needs LocalStack (not on this machine). pip install $(2), then run 'localstack start'." >&2; exit 1; }
endef

## samlocal-deploy: sam build + deploy against LocalStack (needs samlocal and a running LocalStack)
samlocal-deploy:
	$(call need_localstack_tool,$(SAMLOCAL),aws-sam-cli-local)
	$(SAMLOCAL) build --template-file $(SAM_TEMPLATE)
	$(SAMLOCAL) deploy --stack-name $(SAM_STACK) --region $(SAM_REGION) --resolve-s3 \
		--capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-confirm-changeset \
		--no-fail-on-empty-changeset --parameter-overrides $(SAMLOCAL_PARAMS)

## awslocal-queues: list the stack's SQS queues in LocalStack
awslocal-queues:
	$(call need_localstack_tool,$(AWSLOCAL),awscli-local)
	$(AWSLOCAL) --region $(SAM_REGION) sqs list-queues --queue-name-prefix $(SAM_STACK)

## awslocal-outputs: print the stack outputs (ApiUrl, queue URLs, StateMachineArn, ApiKeyId)
awslocal-outputs:
	$(call need_localstack_tool,$(AWSLOCAL),awscli-local)
	$(AWSLOCAL) --region $(SAM_REGION) cloudformation describe-stacks --stack-name $(SAM_STACK) \
		--query 'Stacks[0].Outputs' --output table

## awslocal-start-checkout: start one saga execution with INPUT (JSON) on the stack's state machine
awslocal-start-checkout:
	$(call need_localstack_tool,$(AWSLOCAL),awscli-local)
	@test -n "$(INPUT)" || { echo 'usage: make awslocal-start-checkout INPUT='"'"'{"checkout_id":"..."}'"'" >&2; exit 1; }
	arn=$$($(AWSLOCAL) --region $(SAM_REGION) cloudformation describe-stacks --stack-name $(SAM_STACK) \
		--query "Stacks[0].Outputs[?OutputKey=='StateMachineArn'].OutputValue" --output text) && \
	$(AWSLOCAL) --region $(SAM_REGION) stepfunctions start-execution --state-machine-arn "$$arn" --input '$(INPUT)'
