//! The systemd unit and the sd_notify protocol: the unit is hardened (rated by systemd's own
//! `systemd-analyze security`, installed by `.ci/run`), every setting says why, and the real
//! binary tells a `NOTIFY_SOCKET` it is ready, pings the watchdog, reloads on SIGHUP and says it
//! is stopping on SIGTERM.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/earshot.service");

#[test]
fn the_unit_rates_2_or_lower() {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", UNIT])
        .output()
        .expect("systemd-analyze runs (apt-get install systemd; .ci/run does)");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| {
            panic!(
                "no rating in: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| panic!("unreadable: {line}"));
    assert!(score <= 2.0, "{line}");
}

#[test]
fn the_unit_has_what_the_service_needs_and_says_why() {
    let unit = std::fs::read_to_string(UNIT).unwrap();
    for needed in [
        "Type=notify",
        "NotifyAccess=main",
        "WatchdogSec=",
        "ExecStartPre=/usr/bin/earshot check --config /etc/earshot/earshot.toml",
        "ExecReload=/usr/bin/earshot check --config /etc/earshot/earshot.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "User=earshot",
        "StateDirectory=earshot",
        "ConfigurationDirectory=earshot",
        "LoadCredential=",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "NoNewPrivileges=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "MemoryDenyWriteExecute=yes",
        "CapabilityBoundingSet=\n",
    ] {
        assert!(unit.contains(needed), "missing {needed:?}");
    }
    // One comment per setting: each setting follows a comment or another setting of the
    // same group (two ExecReload lines, two SystemCallFilter lines).
    let lines: Vec<&str> = unit.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.is_empty() || l.starts_with('#') || l.starts_with('[') {
            continue;
        }
        let before = lines[i - 1];
        assert!(
            before.starts_with('#')
                || before.split('=').next() == l.split('=').next()
                || (before.ends_with("Set=") && l.starts_with("Ambient")),
            "{l:?} has no comment above it"
        );
    }
    // The daemon's drain fits within the stop timeout: 20 s (daemon.shutdown_timeout) < 30 s.
    assert!(unit.contains("TimeoutStopSec=30s"));
    let sysusers = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/earshot.sysusers"
    ))
    .unwrap();
    assert!(
        sysusers.lines().any(|l| l.starts_with("u earshot ")),
        "{sysusers}"
    );
}

/// Notifications the daemon sent, one datagram each, until one starts with `what`.
fn until(sock: &UnixDatagram, what: &str, seen: &mut Vec<String>) -> String {
    let mut buf = [0u8; 4096];
    loop {
        let n = sock
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no {what:?} ({e}); got {seen:?}"));
        let msg = String::from_utf8_lossy(&buf[..n]).to_string();
        seen.push(msg.clone());
        if msg.starts_with(what) {
            return msg;
        }
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

#[test]
fn the_daemon_speaks_sd_notify() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.xml");
    std::fs::write(
        &feed,
        r#"<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
        <item><guid>1</guid><title>Acme</title><description>acme</description></item>
        </channel></rss>"#,
    )
    .unwrap();
    let slash = |p: &std::path::Path| p.display().to_string().replace('\\', "/");
    let config = dir.path().join("earshot.toml");
    let text = format!(
        r#"
        [daemon]
        allow_private_networks = true
        state_dir = "{}"
        [http]
        listen = "off"
        [[source]]
        id = "blog"
        kind = "feed"
        url = "{}"
        every = "1h"
        [[watch]]
        name = "acme"
        query = "acme"
        [[sink]]
        id = "out"
        kind = "stdout"
        [[route]]
        sinks = ["out"]
        "#,
        slash(&dir.path().join("state")),
        slash(&feed)
    );
    std::fs::write(&config, &text).unwrap();
    let socket = dir.path().join("notify");
    let sock = UnixDatagram::bind(&socket).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_earshot"))
        .args(["run", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &socket)
        .env("WATCHDOG_USEC", "2000000")
        .env_remove("WATCHDOG_PID")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut seen = Vec::new();
    let ready = until(&sock, "READY=1", &mut seen);
    assert_eq!(
        ready,
        "READY=1\nSTATUS=1 sources, 1 watches, 1 sinks; 0 deliveries queued"
    );
    // Pinged at half of WATCHDOG_USEC by the main loop.
    until(&sock, "WATCHDOG=1", &mut seen);
    until(&sock, "WATCHDOG=1", &mut seen);

    // SIGHUP: reloading, then ready again with the new config (a second watch).
    std::fs::write(
        &config,
        text.replace(
            "[[sink]]",
            "[[watch]]\n        name = \"rival\"\n        query = \"rival\"\n        [[sink]]",
        ),
    )
    .unwrap();
    signal(pid, "-HUP");
    until(&sock, "RELOADING=1", &mut seen);
    let ready = until(&sock, "READY=1", &mut seen);
    assert!(ready.contains("STATUS=1 sources, 2 watches"), "{ready}");

    // SIGTERM: stopping, and a clean exit.
    signal(pid, "-TERM");
    until(&sock, "STOPPING=1", &mut seen);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Config reloaded"), "{stderr}");
}
