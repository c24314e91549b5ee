//! The Debian package and `cargo install`, as ops get them: builds the package with cargo-deb
//! (a release build, a few minutes on a cold target directory) and checks what it carries,
//! where, with which modes, and what its scripts do; then installs the binary with
//! `cargo install --path .` from the same build.
//!
//! Needs cargo-deb (`cargo install cargo-deb --locked`; `.ci/run` installs it) and dpkg-deb
//! (on every Debian system).

#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The target directory this test was built in (`target/debug/deps/<test>` three levels up),
/// so the release build is shared with `cargo deb` and `cargo install`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

fn run(cmd: &mut Command) -> String {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Cargo as a developer runs it. The time-shifted pass of the suite (`cargo test-next-year`)
/// runs this test under libfaketime, whose preload makes rustc hang: the toolchain gets the
/// real clock.
fn cargo() -> Command {
    let mut c = Command::new(env!("CARGO"));
    c.current_dir(repo())
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("LD_PRELOAD")
        .env_remove("FAKETIME");
    c
}

#[test]
fn the_debian_package_carries_the_service_and_cargo_install_works() {
    let has_deb = cargo()
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_deb,
        "cargo-deb is not installed: run `cargo install cargo-deb --locked` (.ci/run does)"
    );
    let out = tempfile::tempdir().unwrap();
    let deb = out.path().join("earshot.deb");
    run(cargo().args(["deb", "--locked", "--output"]).arg(&deb));

    // What is where, with which mode.
    let listing = run(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    let entry = |path: &str| {
        listing
            .lines()
            .find(|l| l.ends_with(path))
            .unwrap_or_else(|| panic!("{path} is not in the package:\n{listing}"))
            .to_string()
    };
    for (path, mode) in [
        ("./usr/bin/earshot", "-rwxr-xr-x"),
        ("./usr/lib/systemd/system/earshot.service", "-rw-r--r--"),
        ("./usr/lib/sysusers.d/earshot.conf", "-rw-r--r--"),
        // The config may hold secrets inline: not for every user's eyes.
        ("./etc/earshot/earshot.toml", "-rw-r-----"),
        ("./usr/share/doc/earshot/README.md", "-rw-r--r--"),
    ] {
        let line = entry(path);
        assert!(line.starts_with(mode), "{path}: {line}");
        assert!(line.contains(" 0/0 "), "{path} is not root's: {line}");
    }

    // The control fields: a name, the version of this tree, the libraries it links.
    let fields = run(Command::new("dpkg-deb")
        .arg("--field")
        .arg(&deb)
        .args(["Package", "Version", "Depends", "Section"]));
    assert!(fields.contains("Package: earshot"), "{fields}");
    assert!(
        fields.contains(&format!("Version: {}", env!("CARGO_PKG_VERSION"))),
        "{fields}"
    );
    assert!(
        fields.contains("libc6") && fields.contains("adduser"),
        "{fields}"
    );

    // The maintainer scripts: the config is a conffile (kept on upgrade), the user and the
    // state directory are made, and nothing starts before the config is written.
    let control = out.path().join("control");
    run(Command::new("dpkg-deb")
        .arg("--control")
        .arg(&deb)
        .arg(&control));
    let read = |name: &str| std::fs::read_to_string(control.join(name)).unwrap();
    assert_eq!(read("conffiles").trim(), "/etc/earshot/earshot.toml");
    let postinst = read("postinst");
    for needed in [
        "systemd-sysusers earshot.conf",
        "install -d -o earshot -g earshot -m 0700 /var/lib/earshot",
        "chown root:earshot /etc/earshot",
        "systemctl daemon-reload",
        "systemctl try-restart earshot.service",
    ] {
        assert!(postinst.contains(needed), "postinst lacks {needed:?}");
    }
    for never in ["systemctl enable", "systemctl start"] {
        assert!(!postinst.contains(never), "postinst runs {never:?}");
    }
    for script in ["postinst", "prerm", "postrm"] {
        run(Command::new("sh").arg("-n").arg(control.join(script)));
    }
    assert!(read("postrm").contains("rm -rf /var/lib/earshot"));

    // The files are this tree's, and the unit runs the binary where the package puts it.
    let root = out.path().join("root");
    run(Command::new("dpkg-deb")
        .arg("--extract")
        .arg(&deb)
        .arg(&root));
    for (packaged, ours) in [
        (
            "usr/lib/systemd/system/earshot.service",
            "systemd/earshot.service",
        ),
        (
            "usr/lib/sysusers.d/earshot.conf",
            "systemd/earshot.sysusers",
        ),
        ("etc/earshot/earshot.toml", "config/earshot.example.toml"),
    ] {
        assert_eq!(
            std::fs::read(root.join(packaged)).unwrap(),
            std::fs::read(repo().join(ours)).unwrap(),
            "{packaged} differs from {ours}"
        );
    }
    let unit =
        std::fs::read_to_string(root.join("usr/lib/systemd/system/earshot.service")).unwrap();
    assert!(unit.contains("\nExecStart=/usr/bin/earshot run --config /etc/earshot/earshot.toml\n"));
    assert!(unit.contains("\nUser=earshot\n") && unit.contains("\nStateDirectory=earshot\n"));
    let sysusers = std::fs::read_to_string(root.join("usr/lib/sysusers.d/earshot.conf")).unwrap();
    assert!(sysusers.starts_with("u earshot "), "{sysusers}");
    let version = run(Command::new(root.join("usr/bin/earshot")).arg("--version"));
    assert_eq!(
        version.trim(),
        format!("earshot {}", env!("CARGO_PKG_VERSION"))
    );

    // `cargo install --path .` from the same release build.
    let prefix = out.path().join("prefix");
    run(cargo()
        .args(["install", "--locked", "--offline", "--path", ".", "--root"])
        .arg(&prefix)
        .arg("--target-dir")
        .arg(target_dir()));
    let version = run(Command::new(prefix.join("bin/earshot")).arg("--version"));
    assert_eq!(
        version.trim(),
        format!("earshot {}", env!("CARGO_PKG_VERSION"))
    );
}
