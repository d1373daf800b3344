//! The server's CPU time and memory, read from Linux's /proc (`--server-pid`).
//!
//! CPU time is `utime + stime` of `/proc/PID/stat` (fields 14 and 15, in clock ticks of
//! `sysconf(_SC_CLK_TCK)`): what the process spent on a CPU, its threads included. Memory is
//! `VmRSS` of `/proc/PID/status`, the resident set, in KiB.

use std::io;

/// The clock ticks of `/proc/PID/stat` per second.
pub(crate) fn ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second().max(1)
}

/// CPU time `pid` spent so far, user and system, in clock ticks.
pub(crate) fn cpu_ticks(pid: u32) -> io::Result<u64> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat"))?)
}

/// `utime + stime` of a `/proc/PID/stat` line. The command name (field 2) is in parentheses
/// and may hold spaces and parentheses itself, so fields are counted from its last `)`.
fn parse_stat(stat: &str) -> io::Result<u64> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "unexpected /proc/PID/stat layout",
        )
    };
    let after = &stat[stat.rfind(')').ok_or_else(bad)? + 1..];
    // After the name: field 3 (state) is the first, so utime (14) is the 12th, stime the 13th.
    let mut fields = after.split_whitespace().skip(11);
    let mut next =
        || -> io::Result<u64> { fields.next().ok_or_else(bad)?.parse().map_err(|_| bad()) };
    Ok(next()? + next()?)
}

/// The resident memory of `pid`, in KiB.
pub(crate) fn rss_kib(pid: u32) -> io::Result<u64> {
    parse_status(&std::fs::read_to_string(format!("/proc/{pid}/status"))?)
}

fn parse_status(status: &str) -> io::Result<u64> {
    status
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix("VmRSS:")?;
            rest.trim().trim_end_matches("kB").trim().parse().ok()
        })
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no VmRSS line"))
}

/// The summed CPU ticks of `pids` now; a process that is gone counts as an error.
pub(crate) fn cpu_now(pids: &[u32]) -> Vec<io::Result<u64>> {
    pids.iter().map(|p| cpu_ticks(*p)).collect()
}

/// Raises this process's soft limit of open files to at least `needed` (up to the hard
/// limit), so many idle sessions do not run out of descriptors; the limit in force after.
pub(crate) fn raise_open_files(needed: u64) -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current?;
    if current >= needed {
        return Some(current);
    }
    let want = limit.maximum.map_or(needed, |max| needed.min(max));
    let raised = rustix::process::Rlimit {
        current: Some(want),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => Some(want),
        Err(_) => Some(current),
    }
}

/// The resident memory of each of `pids` now (`None` for one that cannot be read).
pub(crate) fn rss_now(pids: &[u32]) -> Vec<Option<u64>> {
    pids.iter().map(|p| rss_kib(*p).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fields are counted after the name, whatever it holds.
    #[test]
    fn stat_and_status_are_read() {
        let stat = "1234 (mcp-tasks (x) y) S 1 1234 1234 0 -1 4194560 500 0 0 0 \
                    150 25 0 0 20 0 5 0 100 1000000 300";
        assert_eq!(parse_stat(stat).unwrap(), 175);
        assert!(parse_stat("1 (x) S 1").is_err());
        let status = "Name:\tmcp-tasks\nVmPeak:\t  9000 kB\nVmRSS:\t   4242 kB\nThreads:\t3\n";
        assert_eq!(parse_status(status).unwrap(), 4242);
        assert!(parse_status("Name:\tx\n").is_err());
    }

    /// This process can read itself.
    #[test]
    fn this_process_is_measurable() {
        let me = std::process::id();
        assert!(cpu_ticks(me).is_ok());
        assert!(rss_kib(me).unwrap() > 0);
        assert!(ticks_per_second() >= 1);
    }
}
