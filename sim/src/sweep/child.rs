//! Running a child process with a time limit, its output captured to files.
//!
//! Output goes to files rather than pipes so a child that writes a lot cannot
//! block on a full pipe while we wait for it, and no reader threads are
//! needed. The limit is enforced by polling `try_wait`: a child still running
//! at its deadline is killed and reaped.

use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::sweep::clock;

/// How a child ended.
pub struct ChildExit {
    /// `None` when it was killed at the time limit.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    /// The part of stderr a person needs (see [`excerpt`]).
    pub stderr_excerpt: String,
    pub elapsed: Duration,
}

/// Lines and bytes of stderr kept for a crash report.
const TAIL_LINES: usize = 30;
const TAIL_BYTES: usize = 4_000;

/// How often a running child is polled: small next to a seed's ~1.5 s.
const POLL: Duration = Duration::from_millis(5);

/// Runs `command` with stdout and stderr captured in `<capture>.out` and
/// `<capture>.err` (removed afterwards), killing it after `limit`.
pub fn run(mut command: Command, limit: Duration, capture: &Path) -> std::io::Result<ChildExit> {
    let out_path = capture.with_extension("out");
    let err_path = capture.with_extension("err");
    let stdout = std::fs::File::create(&out_path)?;
    let stderr = std::fs::File::create(&err_path)?;
    let started = clock::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()?;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() >= limit {
            // Already exited between the poll and the kill is fine: kill then
            // fails harmlessly and wait reaps it.
            let _ = child.kill();
            child.wait()?;
            break None;
        }
        std::thread::sleep(POLL);
    };
    let elapsed = started.elapsed();
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    Ok(ChildExit {
        status,
        stdout,
        stderr_excerpt: excerpt(&String::from_utf8_lossy(&stderr)),
        elapsed,
    })
}

/// What of a crashed child's stderr a person needs: from the panic message
/// on when there is one (a backtrace after it can be long), else the end.
pub fn excerpt(stderr: &str) -> String {
    match stderr.find("panicked at") {
        Some(at) => {
            let start = stderr[..at].rfind('\n').map_or(0, |i| i + 1);
            let from_panic: Vec<&str> = stderr[start..].lines().take(TAIL_LINES).collect();
            tail(&from_panic.join("\n"))
        }
        None => tail(stderr),
    }
}

/// The end of a long text: at most [`TAIL_LINES`] lines and [`TAIL_BYTES`].
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let kept = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    if kept.len() <= TAIL_BYTES {
        return kept;
    }
    let mut cut = kept.len() - TAIL_BYTES;
    while !kept.is_char_boundary(cut) {
        cut += 1;
    }
    format!("…{}", &kept[cut..])
}

/// `exit code 101` or `killed by signal 6 (SIGABRT)`.
pub fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit code {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                4 => " (SIGILL)",
                6 => " (SIGABRT)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                15 => " (SIGTERM)",
                _ => "",
            };
            return format!("killed by signal {signal}{name}");
        }
    }
    format!("{status}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_lines() {
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let tail = tail(&text);
        assert!(tail.starts_with("line 70"), "{tail}");
        assert!(tail.ends_with("line 99"));
    }

    #[test]
    fn a_panic_is_quoted_from_its_message_on() {
        let mut text = String::from(
            "noise\nthread 'main' panicked at src/x.rs:1:1:\nboom\nstack backtrace:\n",
        );
        text.push_str(&"  frame\n".repeat(200));
        let excerpt = excerpt(&text);
        assert!(
            excerpt.starts_with("thread 'main' panicked at"),
            "{excerpt}"
        );
        assert!(excerpt.contains("boom"));
        assert_eq!(excerpt.lines().count(), TAIL_LINES);
    }

    #[test]
    fn the_tail_is_bounded_in_bytes_on_a_char_boundary() {
        let text = "é".repeat(10_000);
        let tail = tail(&text);
        assert!(tail.len() <= TAIL_BYTES + 4);
        assert!(tail.starts_with('…'));
    }
}
