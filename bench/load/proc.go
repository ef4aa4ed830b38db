package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// procStatusKB reads a "Name:   N kB" field of /proc/PID/status.
func procStatusKB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if ok && name == field {
			fs := strings.Fields(rest)
			if len(fs) == 0 {
				break
			}
			return strconv.ParseInt(fs[0], 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s field", pid, field)
}

// procCPUSeconds is the user+system CPU time of pid (from /proc/PID/stat, in clock ticks of
// 1/100 s, the Linux USER_HZ).
func procCPUSeconds(pid int) (float64, error) {
	if pid <= 0 {
		return 0, errors.New("no pid")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may contain spaces: fields count after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	fs := strings.Fields(string(b[i+1:]))
	if len(fs) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fs))
	}
	utime, err1 := strconv.ParseFloat(fs[11], 64) // field 14
	stime, err2 := strconv.ParseFloat(fs[12], 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return (utime + stime) / 100, nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	fs := strings.Fields(string(b))
	if len(fs) < 3 {
		return "unknown"
	}
	return strings.Join(fs[:3], " ")
}

func numCPU() int { return runtime.NumCPU() }

// machine is a reading of the machine-wide CPU counters.
type machine struct {
	busy, total float64 // /proc/stat jiffies, all CPUs
	stallUS     float64 // /proc/pressure/cpu "some" total, microseconds; -1: unknown
	ok          bool
}

// readMachine reads /proc/stat's cpu line and /proc/pressure/cpu.
func readMachine() machine {
	m := machine{stallUS: -1}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return m
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	fs := strings.Fields(string(line))
	if len(fs) < 9 || fs[0] != "cpu" {
		return m
	}
	// user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
	for i, f := range fs[1:9] {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return m
		}
		m.total += v
		if i != 3 && i != 4 { // idle, iowait
			m.busy += v
		}
	}
	m.ok = true
	if p, err := os.ReadFile("/proc/pressure/cpu"); err == nil {
		for _, f := range strings.Fields(strings.SplitN(string(p), "\n", 2)[0]) {
			if v, ok := strings.CutPrefix(f, "total="); ok {
				if us, err := strconv.ParseFloat(v, 64); err == nil {
					m.stallUS = us
				}
			}
		}
	}
	return m
}

// since returns the machine's busy share and CPU pressure (percent) between m0 and m over
// elapsed; -1 for what could not be read.
func (m machine) since(m0 machine, elapsed time.Duration) (busy, pressure float64) {
	busy, pressure = -1, -1
	if m.ok && m0.ok && m.total > m0.total {
		busy = 100 * (m.busy - m0.busy) / (m.total - m0.total)
	}
	if m.stallUS >= 0 && m0.stallUS >= 0 && elapsed > 0 {
		pressure = 100 * (m.stallUS - m0.stallUS) / float64(elapsed.Microseconds())
	}
	return busy, pressure
}
