//! systemd's notification protocol (`sd_notify`), for `Type=notify` units: `READY=1` once the
//! store is open and the sources are scheduled, `STATUS=` lines a person reads in `systemctl
//! status`, `RELOADING=1` / `STOPPING=1`, and `WATCHDOG=1` pings so that a hung daemon is
//! restarted. Each is one datagram to the socket named by `$NOTIFY_SOCKET`; without it (not
//! under systemd) every call does nothing. Written here rather than with a crate: the protocol is
//! a few lines of `UnixDatagram`.

use std::time::Duration;

/// Where notifications go; inert when earshot does not run under systemd.
#[derive(Debug, Default)]
pub struct Notifier {
    #[cfg(unix)]
    target: Option<std::os::unix::net::SocketAddr>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET` (a path, or `@name` for Linux's abstract namespace) and
    /// `$WATCHDOG_USEC` (honoured when `$WATCHDOG_PID` is unset or this process).
    pub fn from_env() -> Notifier {
        let socket = std::env::var_os("NOTIFY_SOCKET");
        let usec = std::env::var("WATCHDOG_USEC").ok();
        let pid = std::env::var("WATCHDOG_PID").ok();
        Notifier::new(socket.as_deref(), usec.as_deref(), pid.as_deref())
    }

    /// As [`Notifier::from_env`], from the variables' values.
    pub fn new(
        socket: Option<&std::ffi::OsStr>,
        watchdog_usec: Option<&str>,
        watchdog_pid: Option<&str>,
    ) -> Notifier {
        let mine = watchdog_pid.is_none_or(|p| p.trim() == std::process::id().to_string());
        let watchdog = watchdog_usec
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|u| *u > 0 && mine)
            .map(Duration::from_micros);
        Notifier {
            #[cfg(unix)]
            target: socket.and_then(address),
            watchdog,
        }
    }

    /// True when a notification socket was given.
    pub fn enabled(&self) -> bool {
        #[cfg(unix)]
        {
            self.target.is_some()
        }
        #[cfg(not(unix))]
        {
            false
        }
    }

    /// How often to ping the watchdog: half of `WatchdogSec`, as systemd advises. `None`
    /// without a watchdog.
    pub fn watchdog_every(&self) -> Option<Duration> {
        self.watchdog.map(|d| d / 2)
    }

    /// Started: the store is open and the sources are scheduled.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// A line for `systemctl status`.
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    /// Re-reading the config; [`Notifier::ready`] follows when done. (`Type=notify` units
    /// reload through `ExecReload`, so no `MONOTONIC_USEC` is needed, as `notify-reload` wants.)
    pub fn reloading(&self) {
        self.send("RELOADING=1");
    }

    /// Shutting down.
    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    /// Alive: the main loop went round.
    pub fn watchdog(&self) {
        if self.watchdog.is_some() {
            self.send("WATCHDOG=1");
        }
    }

    /// Best effort: systemd not listening must not stop the daemon.
    fn send(&self, message: &str) {
        #[cfg(unix)]
        if let Some(addr) = &self.target {
            let sent = std::os::unix::net::UnixDatagram::unbound()
                .and_then(|s| s.send_to_addr(message.as_bytes(), addr));
            if let Err(e) = sent {
                tracing::debug!(error = %e, "Could not notify systemd");
            }
        }
        #[cfg(not(unix))]
        let _ = message;
    }
}

/// A status is one line: a newline would start another assignment.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(unix)]
fn address(socket: &std::ffi::OsStr) -> Option<std::os::unix::net::SocketAddr> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = socket.as_bytes();
    match bytes.first()? {
        b'/' => std::os::unix::net::SocketAddr::from_pathname(std::path::Path::new(socket)).ok(),
        #[cfg(target_os = "linux")]
        b'@' => {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(&bytes[1..]).ok()
        }
        _ => None,
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn inert_without_a_socket() {
        let n = Notifier::new(None, None, None);
        assert!(!n.enabled());
        assert_eq!(n.watchdog_every(), None);
        n.ready("x");
        n.watchdog();
    }

    #[test]
    fn the_watchdog_is_pinged_at_half_its_timeout_when_it_is_ours() {
        let me = std::process::id().to_string();
        let n = Notifier::new(None, Some("30000000"), Some(&me));
        assert_eq!(n.watchdog_every(), Some(Duration::from_secs(15)));
        let other = Notifier::new(None, Some("30000000"), Some("1"));
        assert_eq!(other.watchdog_every(), None, "another process's watchdog");
        assert_eq!(Notifier::new(None, Some("0"), None).watchdog_every(), None);
        assert_eq!(Notifier::new(None, Some("x"), None).watchdog_every(), None);
    }

    #[test]
    fn messages_reach_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let n = Notifier::new(Some(path.as_os_str()), Some("2000000"), None);
        assert!(n.enabled());
        n.ready("3 sources,\n2 sinks");
        n.watchdog();
        n.stopping();
        let mut buf = [0u8; 256];
        let mut got = Vec::new();
        for _ in 0..3 {
            let k = sock.recv(&mut buf).unwrap();
            got.push(String::from_utf8_lossy(&buf[..k]).to_string());
        }
        assert_eq!(
            got,
            [
                "READY=1\nSTATUS=3 sources, 2 sinks",
                "WATCHDOG=1",
                "STOPPING=1"
            ]
        );
    }

    #[test]
    fn abstract_and_bad_addresses() {
        assert!(address(std::ffi::OsStr::new("relative/path")).is_none());
        assert!(address(std::ffi::OsStr::new("")).is_none());
        #[cfg(target_os = "linux")]
        assert!(address(std::ffi::OsStr::new("@earshot-test")).is_some());
    }
}
