package lambdatest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// invokePath is the emulator's Invoke API path.
const invokePath = "/2015-03-31/functions/function/invocations"

// emulator is one aws-lambda-rie process serving one bootstrap. Invoke it
// serially: in its default mode RIE serves one invoke at a time and crashes
// on concurrent ones.
type emulator struct {
	cmd     *exec.Cmd
	addr    string // 127.0.0.1:PORT of the Invoke API
	log     *lockedBuffer
	started time.Time
	client  *http.Client

	stopOnce sync.Once
}

// startRIE starts rie on bootstrap with exactly env (the function sees it
// all), both of its listeners on free loopback ports, and waits until it
// accepts connections. It is stopped (by PID) at test cleanup.
func startRIE(t *testing.T, rie, bootstrap string, env []string) *emulator {
	t.Helper()
	addr, apiAddr := freeAddr(t), freeAddr(t)
	e := &emulator{addr: addr, log: &lockedBuffer{}, client: &http.Client{Timeout: 60 * time.Second}}
	e.cmd = exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", apiAddr, bootstrap)
	e.cmd.Dir = filepath.Dir(bootstrap)
	e.cmd.Env = env
	e.cmd.Stdout, e.cmd.Stderr = e.log, e.log
	// Own process group, so the runtime RIE spawned is stopped with it.
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	e.cmd.WaitDelay = 2 * time.Second
	e.started = time.Now()
	if err := e.cmd.Start(); err != nil {
		t.Fatalf("start aws-lambda-rie: %v", err)
	}
	t.Cleanup(e.stop)
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("aws-lambda-rie did not listen on %s within 15s: %v\nRIE log:\n%s", addr, err, e.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// invoke POSTs payload to the Invoke API and returns the status, the body
// and the round-trip time.
func (e *emulator) invoke(payload []byte) (int, []byte, time.Duration, error) {
	start := time.Now()
	resp, err := e.client.Post("http://"+e.addr+invokePath, "application/json", bytes.NewReader(payload))
	if err != nil {
		return 0, nil, time.Since(start), err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, time.Since(start), err
}

// stop sends SIGTERM to RIE (which SIGKILLs its runtime), then SIGKILL to
// its process group if it has not exited within 5s. Idempotent.
func (e *emulator) stop() {
	e.stopOnce.Do(func() {
		pid := e.cmd.Process.Pid
		_ = syscall.Kill(pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = e.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			// RIE's process group: RIE and the runtime it started.
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-done
		}
	})
}

// Lines of RIE's log: rapid's init report (the runtime's real init time,
// from exec to its first /next call) and the per-invoke REPORT line.
var (
	initReportRe = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	reportRe     = regexp.MustCompile(`REPORT RequestId: \S+\t(?:Init Duration: [0-9.]+ ms\t)?Duration: ([0-9.]+) ms`)
)

// initDuration returns rapid's INIT REPORT duration, or -1 when RIE did not log one.
func (e *emulator) initDuration() float64 { return firstFloat(initReportRe, e.log.String()) }

// firstInvokeDuration returns the Duration of the first REPORT line, or -1.
func (e *emulator) firstInvokeDuration() float64 { return firstFloat(reportRe, e.log.String()) }

func firstFloat(re *regexp.Regexp, s string) float64 {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return -1
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return -1
	}
	return f
}

// tail returns the last n lines of RIE's log, for failure messages.
func (e *emulator) tail(n int) string {
	lines := strings.Split(strings.TrimRight(e.log.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freeAddr returns 127.0.0.1:PORT with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// lockedBuffer is an io.Writer safe for RIE's stdout and stderr copiers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }
