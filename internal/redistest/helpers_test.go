package redistest_test

import (
	"context"
	"os/exec"
	"time"

	"github.com/redis/go-redis/v9"
)

var redisNil = redis.Nil

func onPath() bool {
	_, err := exec.LookPath("redis-server")
	return err == nil
}

// waitGet reads key, retrying while the restarted server is still loading.
func waitGet(ctx context.Context, c redis.UniversalClient, key string) (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := c.Get(ctx, key).Result()
		if err == nil || err == redis.Nil || time.Now().After(deadline) {
			return v, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
