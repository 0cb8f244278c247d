package torture

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// binaries are the programs a run builds from the repository.
type binaries struct{ stack, ctl string }

func build(ctx context.Context, root, dir string) (binaries, error) {
	b := binaries{stack: filepath.Join(dir, "checkout-local"), ctl: filepath.Join(dir, "checkoutctl")}
	for out, pkg := range map[string]string{b.stack: "./cmd/checkout-local", b.ctl: "./cmd/checkoutctl"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
		}
	}
	return b, nil
}

// repoRoot finds the module root (go.mod) at or above dir (default: the
// working directory).
func repoRoot(dir string) (string, error) {
	if dir == "" {
		var err error
		if dir, err = os.Getwd(); err != nil {
			return "", err
		}
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/checkout-dev/checkout\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("torture: no checkout go.mod at or above %s", dir)
		}
	}
}

// stack is the checkout-local process, restarted on the same ports and
// data after each kill.
type process struct {
	root, dataDir, logPath string
	bins                   binaries
	env                    []string
	api                    string
	cmd                    *exec.Cmd
	exited                 chan struct{}
	kills                  int
}

func newStack(root string, bins binaries, cfg Config, fakeURL string) (*process, error) {
	ports := make([]string, 3)
	for i := range ports {
		p, err := freeAddr()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	s := &process{root: root, bins: bins, dataDir: filepath.Join(cfg.WorkDir, "data"), logPath: filepath.Join(cfg.WorkDir, "stack.log"),
		api: "http://" + ports[0]}
	s.env = append(os.Environ(),
		"CHECKOUT_ADDR="+ports[0], "CHECKOUT_SQS_ADDR="+ports[1], "CHECKOUT_SFN_ADDR="+ports[2],
		"CHECKOUT_DATA_DIR="+s.dataDir, "STRIPE_API_URL="+fakeURL, "STRIPE_SECRET_KEY=", "STRIPE_WEBHOOK_SECRET="+webhookSecret,
		"CHECKOUT_LAMBDA_FAULT_RATE="+strconv.FormatFloat(cfg.LambdaFaultRate, 'f', -1, 64),
		// Every buyer comes from 127.0.0.1 on one API key: lift the
		// template's per-IP, per-token and usage-plan limits, as a load test
		// against a real stage would.
		// A notice received by a stack that was then killed comes back
		// after the visibility timeout: 30 s instead of 6 minutes. Holds
		// last 10 s, so checkouts whose payment processes longer
		// (lateProcessing) find their reservation expired after they
		// paid: the refund path runs too.
		"CHECKOUT_PARAMETER_OVERRIDES=WafIpRateLimit=100000000 WafUserRateLimit=100000000 ThrottleRateLimit=1000000 "+
			"ThrottleBurstLimit=1000000 QuotaLimit=1000000000 PaymentEventsVisibilityTimeout=30 ReservationTtl=10s "+
			// 3-D Secure that a buyer walks away from times out in 8 s.
			"AuthenticationTimeoutSeconds=8",
		"LOG_LEVEL=warn")
	if cfg.DatabaseURL != "" {
		s.env = append(s.env, "DATABASE_URL="+cfg.DatabaseURL)
	} else {
		s.env = append(s.env, "DATABASE_URL=")
	}
	return s, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// start runs the stack and waits until it serves.
func (s *process) start(ctx context.Context) error {
	if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bins.stack)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = s.root, s.env, logf, logf
	// The stack dies with the harness (a killed test leaves nothing running).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start checkout-local: %w", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("checkout-local exited during start-up; the end of %s:\n%s", s.logPath, tail(s.logPath, 20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(s.api + "/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("checkout-local did not serve within 2 minutes; see %s", s.logPath)
}

// kill sends SIGKILL and waits for the process to go.
func (s *process) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

// stop ends the stack gracefully (its PostgreSQL is stopped with it).
func (s *process) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.kill()
	}
	s.cmd = nil
}

// killer kills and restarts the stack cfg.Kills times, spread over the
// submissions.
func (s *process) killer(ctx context.Context, cfg Config, submitted *atomic.Int64, logf func(string, ...any)) error {
	for k := 1; k <= cfg.Kills; k++ {
		at := int64(cfg.Checkouts * k / (cfg.Kills + 1))
		for submitted.Load() < at {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(20 * time.Millisecond):
			}
		}
		logf("SIGKILL the stack (pid %d) after %d submissions", s.cmd.Process.Pid, submitted.Load())
		s.kill()
		s.kills++
		time.Sleep(500 * time.Millisecond)
		t := time.Now()
		if err := s.start(ctx); err != nil {
			return fmt.Errorf("restart after kill %d: %w", k, err)
		}
		logf("the stack serves again after %s", time.Since(t).Round(time.Millisecond))
	}
	return nil
}

// endpoints reads the running stack's endpoints.json.
func (s *process) endpoints() (map[string]json.RawMessage, map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(s.dataDir, "endpoints.json"))
	if err != nil {
		return nil, nil, err
	}
	var ep map[string]json.RawMessage
	if err := json.Unmarshal(b, &ep); err != nil {
		return nil, nil, err
	}
	var queues map[string]string
	_ = json.Unmarshal(ep["queues"], &queues)
	return ep, queues, nil
}

// queueDepth is the messages in the stack's queue named *-suffix, visible
// or in flight.
func (s *process) queueDepth(ctx context.Context, suffix string) (int, error) {
	ep, queues, err := s.endpoints()
	if err != nil {
		return 0, err
	}
	var sqsURL string
	_ = json.Unmarshal(ep["sqs"], &sqsURL)
	var url string
	for name, u := range queues {
		if len(name) >= len(suffix) && name[len(name)-len(suffix):] == suffix {
			url = u
		}
	}
	if url == "" {
		return 0, fmt.Errorf("torture: the stack has no queue *%s", suffix)
	}
	c := awssqs.New(awssqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(sqsURL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	out, err := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible, types.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, v := range out.Attributes {
		i, _ := strconv.Atoi(v)
		n += i
	}
	return n, nil
}

// invariants runs `checkoutctl invariants` against the running stack and
// the fake's books.
func (s *process) invariants(ctx context.Context) (report string, ok bool, err error) {
	cmd := exec.CommandContext(ctx, s.bins.ctl, "invariants", "--endpoints-file", filepath.Join(s.dataDir, "endpoints.json"), "--max", "0")
	cmd.Dir = s.root
	cmd.Env = append(os.Environ(), "DATABASE_URL=", "STRIPE_API_URL=", "STRIPE_SECRET_KEY=")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), true, nil
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return string(out), false, nil
	}
	return string(out), false, fmt.Errorf("checkoutctl invariants: %w\n%s", err, out)
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
