package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat: USER_HZ,
// which the Linux ABI fixes at 100 on every architecture Go supports.
const clockTick = 10 * time.Millisecond

// parseStatCPU returns utime+stime, in clock ticks, from the text of
// /proc/<pid>/stat. The second field (comm) is in parentheses and may itself
// contain spaces and parentheses, so fields are counted after the last ')':
// there, field 3 (state) is the first, so utime (14) and stime (15) are the
// 12th and 13th.
func parseStatCPU(stat []byte) (uint64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("proc stat: no ')' after comm")
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after comm, want at least 13", len(f))
	}
	utime, err := strconv.ParseUint(string(f[11]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("proc stat: utime: %w", err)
	}
	stime, err := strconv.ParseUint(string(f[12]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("proc stat: stime: %w", err)
	}
	return utime + stime, nil
}

// parseStatusKB returns the value of a "Key:   1234 kB" line of
// /proc/<pid>/status, in KiB. key is given without the colon, e.g. "VmHWM".
func parseStatusKB(status []byte, key string) (int64, error) {
	for line := range bytes.Lines(status) {
		name, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok || string(name) != key {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) == 0 {
			return 0, fmt.Errorf("proc status: %s has no value", key)
		}
		if len(f) > 1 && string(f[1]) != "kB" {
			return 0, fmt.Errorf("proc status: %s unit %q, want kB", key, f[1])
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc status: %s: %w", key, err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("proc status: no %s line", key)
}

// procCPU is the CPU time (user+system, all threads) process pid has used.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	ticks, err := parseStatCPU(b)
	return time.Duration(ticks) * clockTick, err
}

// procMem is process pid's resident set now (VmRSS) and at its peak (VmHWM), in KiB.
func procMem(pid int) (rssKB, hwmKB int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	if rssKB, err = parseStatusKB(b, "VmRSS"); err != nil {
		return 0, 0, err
	}
	hwmKB, err = parseStatusKB(b, "VmHWM")
	return rssKB, hwmKB, err
}

// loadAvg returns the first field of /proc/loadavg (1-minute load), or -1.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := bytes.Fields(b)
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(string(f[0]), 64)
	if err != nil {
		return -1
	}
	return v
}

// parseMachineCPU returns the busy and total jiffies of the aggregate "cpu"
// line of /proc/stat (busy = total - idle - iowait) and the number of
// per-CPU lines ("cpu0", "cpu1", ...).
func parseMachineCPU(stat []byte) (busy, total uint64, ncpu int, err error) {
	found := false
	for line := range bytes.Lines(stat) {
		f := bytes.Fields(line)
		if len(f) < 5 || !bytes.HasPrefix(f[0], []byte("cpu")) {
			continue
		}
		if string(f[0]) != "cpu" {
			ncpu++
			continue
		}
		found = true
		var idle uint64
		for i, v := range f[1:] {
			// guest and guest_nice (the 9th and 10th values) are already
			// counted in user and nice.
			if i >= 8 {
				break
			}
			n, perr := strconv.ParseUint(string(v), 10, 64)
			if perr != nil {
				return 0, 0, 0, fmt.Errorf("proc stat cpu: %w", perr)
			}
			total += n
			if i == 3 || i == 4 { // idle, iowait
				idle += n
			}
		}
		busy = total - idle
	}
	if !found {
		return 0, 0, 0, errors.New("proc stat: no aggregate cpu line")
	}
	return busy, total, ncpu, nil
}

// machineCPU reads /proc/stat; on error it returns zeros.
func machineCPU() (busy, total uint64, ncpu int) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0
	}
	busy, total, ncpu, _ = parseMachineCPU(b)
	return busy, total, ncpu
}
