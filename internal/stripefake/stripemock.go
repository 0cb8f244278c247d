package stripefake

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// StripeMockVersion is the stripe-mock release StripeMock installs.
const StripeMockVersion = "v0.203.0"

var stripeMockInstall struct {
	once sync.Once
	path string
	err  error
}

// StripeMock starts Stripe's official stripe-mock (stateless, validates
// requests against Stripe's OpenAPI spec) on free 127.0.0.1 ports for the
// duration of the test and returns its HTTP base URL. The binary is taken
// from PATH or <repo>/bin, else installed with
// `GOBIN=<repo>/bin go install github.com/stripe/stripe-mock@v0.203.0`
// (<repo> = the nearest directory above the working directory holding
// go.mod). The process is killed by PID at cleanup. If it cannot be
// installed or started the test is skipped, or fails when env CI is set.
func StripeMock(t testing.TB) (baseURL string) {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := "stripe-mock unavailable: " + fmt.Sprintf(format, args...)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	bin, err := stripeMockBinary()
	if err != nil {
		unavailable("%v", err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // free ports can be raced for
		url, stop, err := startStripeMock(bin)
		if err == nil {
			t.Cleanup(stop)
			return url
		}
		lastErr = err
	}
	unavailable("%v", lastErr)
	return ""
}

func stripeMockBinary() (string, error) {
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	binDir := filepath.Join(root, "bin")
	local := filepath.Join(binDir, "stripe-mock")
	if st, err := os.Stat(local); err == nil && !st.IsDir() {
		return local, nil
	}
	stripeMockInstall.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "install", "github.com/stripe/stripe-mock@"+StripeMockVersion)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOBIN="+binDir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			stripeMockInstall.err = fmt.Errorf("go install stripe-mock@%s: %w: %s", StripeMockVersion, err, out)
			return
		}
		stripeMockInstall.path = local
	})
	return stripeMockInstall.path, stripeMockInstall.err
}

// repoRoot walks up from the working directory to the one holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startStripeMock runs bin on two free loopback ports and waits until its
// HTTP port answers.
func startStripeMock(bin string) (string, func(), error) {
	httpPort, err := freePort()
	if err != nil {
		return "", nil, err
	}
	httpsPort, err := freePort()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin,
		"-http-addr", "127.0.0.1:"+strconv.Itoa(httpPort),
		"-https-addr", "127.0.0.1:"+strconv.Itoa(httpsPort))
	logf, err := os.CreateTemp("", "stripe-mock-*.log")
	if err != nil {
		return "", nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return "", nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		if cmd.Process != nil {
			_ = cmd.Process.Kill() // by PID
		}
		<-exited
		logf.Close()
		_ = os.Remove(logf.Name())
	}
	url := "http://127.0.0.1:" + strconv.Itoa(httpPort)
	deadline := time.Now().Add(30 * time.Second)
	hc := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			out, _ := os.ReadFile(logf.Name())
			stop()
			return "", nil, fmt.Errorf("stripe-mock exited early: %v: %s", err, out)
		default:
		}
		req, _ := http.NewRequest(http.MethodGet, url+"/v1/payment_intents", nil)
		req.Header.Set("Authorization", "Bearer sk_test_123")
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			return url, stop, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return "", nil, errors.New("stripe-mock did not answer within 30s")
}
