// Command driver is the load driver of bench/probe.sh: it makes a running blackbox_exporter
// probe the SCEP URLs of a list of AIK hosts on the aikwatch simulator, a fixed number of
// hosts at once (one worker per host in flight, each host's requests in sequence, as
// `aikwatch probe` does), and reports the exporter's CPU time and peak RSS over the run.
//
//	driver -exporter http://127.0.0.1:9115 -sim 127.0.0.1:8443 -hosts hosts.txt -pid PID
//
// It prints one line of key=value pairs (hosts, probes, ok, failed, wall_s, cpu_user_s,
// cpu_sys_s, hwm_kb, hwm_reset) and exits 1 when any probe failed. CPU time is the exporter's
// utime+stime from /proc/PID/stat before and after the run (clock ticks of 1/100 s); peak RSS
// is VmHWM from /proc/PID/status after the run, reset first through /proc/PID/clear_refs when
// that is allowed (hwm_reset=true), so it is the peak of this run, not of the process's life.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// userHZ is the unit of utime/stime in /proc/PID/stat (USER_HZ, 100 on Linux).
const userHZ = 100

func main() {
	exporter := flag.String("exporter", "http://127.0.0.1:9115", "blackbox_exporter base URL")
	module := flag.String("module", "aik", "blackbox_exporter module")
	sim := flag.String("sim", "", "simulator HTTPS address host:port (required)")
	hostsFile := flag.String("hosts", "", "file of AIK host names, one a line (required)")
	ops := flag.String("ops", "GetCACaps,GetCACertChain:default", "SCEP operations probed per host, in order, comma-separated; OP:MESSAGE adds &message=MESSAGE")
	conc := flag.Int("concurrency", 32, "hosts in flight at once")
	pid := flag.Int("pid", 0, "blackbox_exporter process id to measure (0: no measurement)")
	timeout := flag.Duration("timeout", 30*time.Second, "time allowed for one /probe request")
	flag.Parse()
	if err := run(*exporter, *module, *sim, *hostsFile, *ops, *conc, *pid, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		os.Exit(1)
	}
}

func run(exporter, module, sim, hostsFile, ops string, conc, pid int, timeout time.Duration) error {
	if sim == "" || hostsFile == "" {
		return errors.New("-sim and -hosts are required")
	}
	if conc < 1 {
		return fmt.Errorf("-concurrency %d: want at least 1", conc)
	}
	hosts, err := readHosts(hostsFile)
	if err != nil {
		return err
	}
	var targets []string
	for _, op := range strings.Split(ops, ",") {
		name, msg, _ := strings.Cut(strings.TrimSpace(op), ":")
		q := "operation=" + url.QueryEscape(name)
		if msg != "" {
			q += "&message=" + url.QueryEscape(msg)
		}
		targets = append(targets, "https://"+sim+"/templates/Aik/scep?"+q)
	}

	client := &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{MaxIdleConns: conc, MaxIdleConnsPerHost: conc, DisableCompression: true},
	}
	defer client.CloseIdleConnections()

	hwmReset := false
	var before cpuTimes
	if pid > 0 {
		hwmReset = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
		if before, err = readCPU(pid); err != nil {
			return err
		}
	}

	var (
		mu       sync.Mutex
		ok, fail int
		failures []string
	)
	next := make(chan string)
	var wg sync.WaitGroup
	start := time.Now()
	for range min(conc, len(hosts)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range next {
				for _, t := range targets {
					err := probe(client, exporter, module, t, h)
					mu.Lock()
					if err != nil {
						fail++
						if len(failures) < 5 {
							failures = append(failures, fmt.Sprintf("%s %s: %v", h, t, err))
						}
					} else {
						ok++
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, h := range hosts {
		next <- h
	}
	close(next)
	wg.Wait()
	wall := time.Since(start)

	var after cpuTimes
	hwm := int64(0)
	if pid > 0 {
		if after, err = readCPU(pid); err != nil {
			return err
		}
		if hwm, err = readHWM(pid); err != nil {
			return err
		}
	}
	fmt.Printf("hosts=%d probes=%d ok=%d failed=%d wall_s=%.3f cpu_user_s=%.2f cpu_sys_s=%.2f hwm_kb=%d hwm_reset=%t\n",
		len(hosts), ok+fail, ok, fail, wall.Seconds(),
		float64(after.user-before.user)/userHZ, float64(after.sys-before.sys)/userHZ, hwm, hwmReset)
	for _, f := range failures {
		fmt.Fprintln(os.Stderr, "failed:", f)
	}
	if fail > 0 {
		return fmt.Errorf("%d of %d probes failed", fail, ok+fail)
	}
	return nil
}

// probe asks the exporter to probe target with the Host header and TLS server name host and
// reports an error unless the answer says probe_success 1.
func probe(client *http.Client, exporter, module, target, host string) error {
	u := exporter + "/probe?" + url.Values{"module": {module}, "target": {target}, "hostname": {host}}.Encode()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading /probe answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/probe: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, found := strings.CutPrefix(line, "probe_success "); found {
			if strings.TrimSpace(v) == "1" {
				return nil
			}
			return errors.New("probe_success " + strings.TrimSpace(v))
		}
	}
	return errors.New("/probe answer has no probe_success")
}

func readHosts(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("-hosts: %w", err)
	}
	defer f.Close()
	var hosts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if h := strings.TrimSpace(sc.Text()); h != "" && !strings.HasPrefix(h, "#") {
			hosts = append(hosts, h)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("-hosts %s: %w", path, err)
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("-hosts %s: no host", path)
	}
	return hosts, nil
}

// cpuTimes are a process's user and system CPU time in clock ticks.
type cpuTimes struct{ user, sys int64 }

// readCPU reads utime and stime of pid from /proc/PID/stat.
func readCPU(pid int) (cpuTimes, error) {
	path := fmt.Sprintf("/proc/%d/stat", pid)
	b, err := os.ReadFile(path)
	if err != nil {
		return cpuTimes{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: split after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return cpuTimes{}, fmt.Errorf("%s: no ')' in %q", path, b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return cpuTimes{}, fmt.Errorf("%s: %d fields after the command name, want at least 13", path, len(f))
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return cpuTimes{}, fmt.Errorf("%s: %w", path, err)
	}
	return cpuTimes{u, s}, nil
}

// readHWM reads VmHWM (peak resident set size, kB) of pid from /proc/PID/status.
func readHWM(pid int) (int64, error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, found := strings.CutPrefix(line, "VmHWM:"); found {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: VmHWM %q: %w", path, v, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s: no VmHWM line", path)
}
