# SAM template: lint, arm64 Lambda builds, and LocalStack helpers.
#
#   make lint-template    cfn-lint template.yaml (SAM transform included). Without
#                         cfn-lint: fails when CI is set, prints a skip notice otherwise.
#   make build-arm64      every functions/<name>/ as dist/<name>/bootstrap (linux/arm64,
#                         static, -tags lambda.norpc), the shape provided.al2023 runs.
#   make samlocal-deploy  deploy to LocalStack with samlocal (LocalStack and its tools
#   make awslocal-queues  are NOT on this machine and these targets were never run
#   make awslocal-outputs here: pip install localstack aws-sam-cli-local
#   make awslocal-start-checkout  "awscli-local[ver1]", then `localstack start`).
#
# `make dev` does not need any of this: it reads template.yaml directly.

CFN_LINT ?= cfn-lint
SAMLOCAL ?= samlocal
AWSLOCAL ?= awslocal
SAM_TEMPLATE ?= template.yaml
SAM_STACK ?= checkout-local
SAM_REGION ?= us-east-1
DIST ?= dist
# LocalStack (community) has no RDS, WAFv2 or ElastiCache Serverless: the
# deploy turns WAF and the cache off and points the functions at a
# PostgreSQL the Lambda containers can reach (LOCALSTACK_DB_HOST, default
# the Docker host where `make dev`'s or your own PostgreSQL listens).
LOCALSTACK_DB_HOST ?= host.docker.internal
LOCALSTACK_DB_PORT ?= 5432
LOCALSTACK_DB_USER ?= postgres
LOCALSTACK_DB_PASSWORD ?= postgres

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
	$(call need_localstack_tool,$(AWSLOCAL),awscli-local[ver1])
	@set -e; \
	aws() { $(AWSLOCAL) --region $(SAM_REGION) "$$@"; }; \
	vpc=$$(aws ec2 describe-vpcs --filters Name=isDefault,Values=true --query 'Vpcs[0].VpcId' --output text); \
	subnets=$$(aws ec2 describe-subnets --filters Name=vpc-id,Values=$$vpc --query 'Subnets[].SubnetId' --output text | tr '\t' ','); \
	sg=$$(aws ec2 describe-security-groups --filters Name=vpc-id,Values=$$vpc Name=group-name,Values=default --query 'SecurityGroups[0].GroupId' --output text); \
	secret() { aws secretsmanager describe-secret --secret-id "$$1" --query ARN --output text 2>/dev/null || \
		aws secretsmanager create-secret --name "$$1" --secret-string "$$2" --query ARN --output text; }; \
	stripe=$$(secret checkout/local/stripe-api-key sk_test_local); \
	hook=$$(secret checkout/local/stripe-webhook-secret whsec_local_dev_webhook_secret); \
	db=$$(secret checkout/local/database '{"username":"$(LOCALSTACK_DB_USER)","password":"$(LOCALSTACK_DB_PASSWORD)"}'); \
	echo "LocalStack: vpc $$vpc, subnets $$subnets, database $(LOCALSTACK_DB_HOST):$(LOCALSTACK_DB_PORT)"; \
	$(SAMLOCAL) build --template-file $(SAM_TEMPLATE); \
	$(SAMLOCAL) deploy --stack-name $(SAM_STACK) --region $(SAM_REGION) --resolve-s3 \
		--capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-confirm-changeset --no-fail-on-empty-changeset \
		--parameter-overrides StageName=local EnableWaf=false EnableCache=false \
		JwksUrl=https://auth.example.com/.well-known/jwks.json JwtIssuer=https://auth.example.com/ JwtAudience=checkout-api \
		StripeApiKeySecretArn=$$stripe StripeWebhookSecretArn=$$hook VpcId=$$vpc PrivateSubnetIds=$$subnets \
		ExistingDatabaseSecretArn=$$db ExistingProxyEndpoint=$(LOCALSTACK_DB_HOST) ExistingDatabaseSecurityGroupId=$$sg; \
	api=$$(aws cloudformation describe-stack-resources --stack-name $(SAM_STACK) --logical-resource-id CheckoutApi \
		--query 'StackResources[0].PhysicalResourceId' --output text); \
	echo "API (LocalStack's form of ApiUrl): http://localhost:4566/restapis/$$api/local/_user_request_/v1/health"

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
