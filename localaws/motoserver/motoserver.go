// Package motoserver starts moto_server, an independent implementation of
// the AWS wire protocols (SQS, S3, Step Functions), so tests can check our
// code against something we did not write.
package motoserver

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Start runs moto_server on a free loopback port until the test ends and
// returns its base URL. The server runs in its own process group and is
// killed by PID at cleanup. Without moto_server on PATH the test is
// skipped, or fails when CI is set.
func Start(tb testing.TB) string {
	tb.Helper()
	url, ok := Find(tb)
	if !ok {
		tb.Skip("moto_server not found on PATH (set CI=1 to make this a failure)")
	}
	return url
}

// Find is Start for suites that run against several servers: without
// moto_server (and CI unset) it returns ok=false instead of skipping.
func Find(tb testing.TB) (url string, ok bool) {
	tb.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal("moto_server not found on PATH and CI is set")
		}
		tb.Log("moto_server not found on PATH: its target is skipped")
		return "", false
	}
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken before moto binds it
		port, err := freePort()
		if err != nil {
			tb.Fatal(err)
		}
		cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			tb.Fatalf("start moto_server: %v", err)
		}
		go func() { // drain its request log
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
			}
		}()
		pid := cmd.Process.Pid
		stop := func() {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = cmd.Wait()
		}
		url = fmt.Sprintf("http://127.0.0.1:%d", port)
		if waitHTTP(url+"/moto-api/", 30*time.Second) {
			tb.Cleanup(stop)
			return url, true
		}
		stop()
	}
	tb.Fatal("moto_server did not start")
	return "", false
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitHTTP(url string, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
