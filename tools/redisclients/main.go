// Command redisclients compares the two Go Redis clients considered for the
// product, github.com/redis/go-redis/v9 and github.com/redis/rueidis, on the
// two call patterns that matter (docs/redis.md has the results and the
// decision):
//
//   - the stock gate: one EVALSHA of a small stock-taking script per
//     reservation, from 1 and 64 goroutines, both with one client shared by
//     all goroutines (a long-lived process; rueidis pipelines automatically,
//     go-redis pools connections or uses its experimental AutoPipeline) and
//     with one client per goroutine (the Lambda shape: one request per
//     process, nothing to pipeline);
//   - a cached catalog read: GET of one product, as a round trip and with
//     each client's client-side cache (RESP3 tracking).
//
// It is a module of its own so that the product's go.mod requires only the
// client it uses. Run it against a throwaway server:
//
//	redis-server --port 16399 --save "" &
//	cd tools/redisclients && go run . -addr 127.0.0.1:16399 -d 2s -runs 3
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
)

const script = `
local a = redis.call('HGET', KEYS[1], ARGV[1])
if not a then return -1 end
a = tonumber(a)
if a < 1 then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
redis.call('HSET', KEYS[2], ARGV[2], 1)
return 1`

var (
	results = map[string][]float64{}
	seen    = map[string]bool{}
	order   []string
)

type callFn func(ctx context.Context, i int) error

func measure(name string, c int, d time.Duration, mk func(g int) callFn) {
	var n atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	ctx := context.Background()
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for g := 0; g < c; g++ {
		f := mk(g)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			for i := 0; time.Now().Before(stop); i++ {
				t := time.Now()
				if err := f(ctx, g*1_000_000+i); err != nil {
					fmt.Fprintln(os.Stderr, name, err)
					return
				}
				local = append(local, time.Since(t))
				n.Add(1)
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000
	}
	fmt.Printf("%-44s c=%-3d %9.0f ops/s  p50 %6.2f ms  p99 %6.2f ms\n", name, c, float64(n.Load())/d.Seconds(), p(0.5), p(0.99))
	key := fmt.Sprintf("%-44s c=%-3d", name, c)
	results[key] = append(results[key], float64(n.Load())/d.Seconds())
	if !seen[key] {
		seen[key] = true
		order = append(order, key)
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "")
	dur := flag.Duration("d", 3*time.Second, "")
	flag.Int("runs", 3, "")
	flag.Parse()
	ctx := context.Background()
	setup := redis.NewClient(&redis.Options{Addr: *addr})
	sha, err := setup.ScriptLoad(ctx, script).Result()
	if err != nil {
		panic(err)
	}
	reset := func() {
		setup.Del(ctx, "{g}:avail", "{g}:holds")
		setup.HSet(ctx, "{g}:avail", "HOT", 1<<40)
		setup.Set(ctx, "product:HOT", `{"sku":"HOT","price":2500,"currency":"USD","name":"Limited hoodie"}`, 0)
	}
	runs := flag.Lookup("runs").Value.(flag.Getter).Get().(int)
	for r := 0; r < runs; r++ {
		for _, c := range []int{1, 64} {
			// EVALSHA, one shared client.
			reset()
			gr := redis.NewClient(&redis.Options{Addr: *addr, PoolSize: c})
			measure("evalsha go-redis shared pool", c, *dur, func(int) callFn {
				return func(ctx context.Context, i int) error {
					return gr.EvalSha(ctx, sha, []string{"{g}:avail", "{g}:holds"}, "HOT", i).Err()
				}
			})
			gr.Close()
			reset()
			gra := redis.NewClient(&redis.Options{Addr: *addr, PoolSize: c})
			ap, err := gra.AutoPipeline()
			if err != nil {
				panic(err)
			}
			measure("evalsha go-redis AutoPipeline (experimental)", c, *dur, func(int) callFn {
				return func(ctx context.Context, i int) error {
					return ap.EvalSha(ctx, sha, []string{"{g}:avail", "{g}:holds"}, "HOT", i).Err()
				}
			})
			gra.Close()
			reset()
			rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{*addr}, DisableCache: true})
			if err != nil {
				panic(err)
			}
			measure("evalsha rueidis shared (auto-pipelining)", c, *dur, func(int) callFn {
				return func(ctx context.Context, i int) error {
					return rc.Do(ctx, rc.B().Evalsha().Sha1(sha).Numkeys(2).Key("{g}:avail", "{g}:holds").Arg("HOT", fmt.Sprint(i)).Build()).Error()
				}
			})
			rc.Close()
			// EVALSHA, one client per goroutine (one Lambda per buyer).
			reset()
			var grs []*redis.Client
			measure("evalsha go-redis client per goroutine", c, *dur, func(int) callFn {
				cl := redis.NewClient(&redis.Options{Addr: *addr, PoolSize: 1})
				grs = append(grs, cl)
				return func(ctx context.Context, i int) error {
					return cl.EvalSha(ctx, sha, []string{"{g}:avail", "{g}:holds"}, "HOT", i).Err()
				}
			})
			for _, cl := range grs {
				cl.Close()
			}
			reset()
			var rcs []rueidis.Client
			measure("evalsha rueidis client per goroutine", c, *dur, func(int) callFn {
				cl, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{*addr}, DisableCache: true})
				if err != nil {
					panic(err)
				}
				rcs = append(rcs, cl)
				return func(ctx context.Context, i int) error {
					return cl.Do(ctx, cl.B().Evalsha().Sha1(sha).Numkeys(2).Key("{g}:avail", "{g}:holds").Arg("HOT", fmt.Sprint(i)).Build()).Error()
				}
			})
			for _, cl := range rcs {
				cl.Close()
			}
			// Cached GET of one product.
			reset()
			gr = redis.NewClient(&redis.Options{Addr: *addr, PoolSize: c})
			measure("GET go-redis (every read a round trip)", c, *dur, func(int) callFn {
				return func(ctx context.Context, i int) error { return gr.Get(ctx, "product:HOT").Err() }
			})
			gr.Close()
			grc := redis.NewClient(&redis.Options{Addr: *addr, PoolSize: c, Protocol: 3, ClientSideCacheConfig: &redis.ClientSideCacheConfig{MaxEntries: 1024}})
			measure("GET go-redis CSC (experimental)", c, *dur, func(int) callFn {
				return func(ctx context.Context, i int) error { return grc.Get(ctx, "product:HOT").Err() }
			})
			grc.Close()
			rc, err = rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{*addr}})
			if err != nil {
				panic(err)
			}
			measure("GET rueidis DoCache (client-side cache)", c, *dur, func(int) callFn {
				return func(ctx context.Context, i int) error {
					return rc.DoCache(ctx, rc.B().Get().Key("product:HOT").Cache(), time.Minute).Error()
				}
			})
			rc.Close()
			rc, err = rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{*addr}, DisableCache: true})
			if err != nil {
				panic(err)
			}
			measure("GET rueidis Do (no client cache)", c, *dur, func(int) callFn {
				return func(ctx context.Context, i int) error {
					return rc.Do(ctx, rc.B().Get().Key("product:HOT").Build()).Error()
				}
			})
			rc.Close()
		}
	}
	fmt.Println("\nmedians:")
	for _, k := range order {
		v := append([]float64(nil), results[k]...)
		sort.Float64s(v)
		fmt.Printf("%s %9.0f ops/s  %v\n", k, v[len(v)/2], v)
	}
}
