package s3sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/checkout-dev/checkout/internal/events/analytics"
)

// Environment variables read by FromEnv.
const (
	EnvBucket    = "ANALYTICS_BUCKET"        // S3 bucket name: selects the S3 sink
	EnvPrefix    = "ANALYTICS_PREFIX"        // key prefix in the bucket (optional, may be "")
	EnvPathStyle = "ANALYTICS_S3_PATH_STYLE" // "true": path-style requests, for S3-compatible servers
	EnvDir       = "ANALYTICS_DIR"           // local folder: selects the Folder sink
)

// ErrNoSink is returned by FromEnv when no sink is configured.
var ErrNoSink = errors.New("analytics: no sink configured: set " + EnvBucket +
	" (and optionally " + EnvPrefix + ") to write to S3, or " + EnvDir + " to write to a local folder")

// FromEnv chooses the sink from the environment read through getenv:
//
//   - ANALYTICS_BUCKET set: an S3 sink on that bucket with prefix
//     ANALYTICS_PREFIX (surrounding "/" trimmed). The client comes from the
//     AWS SDK's default configuration (region, credentials, and endpoint
//     overrides such as AWS_ENDPOINT_URL_S3 read from the process
//     environment); ANALYTICS_S3_PATH_STYLE=true selects path-style URLs.
//     ANALYTICS_DIR is then ignored.
//   - else ANALYTICS_DIR set: a Folder sink on that folder.
//   - else ErrNoSink. ANALYTICS_PREFIX without ANALYTICS_BUCKET is an
//     error too (a half-configured S3 sink must not silently go local).
//
// It makes no network call: a wrong bucket or missing permission shows at
// the first put.
func FromEnv(ctx context.Context, getenv func(string) string) (analytics.Sink, error) {
	bucket := getenv(EnvBucket)
	if bucket == "" {
		if getenv(EnvPrefix) != "" {
			return nil, fmt.Errorf("analytics: %s is set but %s is not", EnvPrefix, EnvBucket)
		}
		if dir := getenv(EnvDir); dir != "" {
			return &analytics.Folder{Dir: dir}, nil
		}
		return nil, ErrNoSink
	}
	pathStyle := false
	if v := getenv(EnvPathStyle); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("analytics: %s=%q: want true or false", EnvPathStyle, v)
		}
		pathStyle = b
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("analytics: aws config: %w", err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })
	return &S3{Client: client, Bucket: bucket, Prefix: NormalizePrefix(getenv(EnvPrefix))}, nil
}
