//! `grantcheck snapshots review` on a real terminal (tmux): single keys without Enter, the
//! same change accepted for every case it touches with `A`, and, outside a snapshots folder,
//! where it looked and what to pass. Skips, saying why, when tmux is not installed (`.ci/run`
//! installs it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::cli::{grantcheck_in, temp_dir};

/// A tmux server of its own (`-L`), so nothing else's sessions are touched.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Runs `command` in a new 120×50 session.
    fn start(name: &str, command: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("grantcheck-test-{}-{name}", std::process::id()),
        };
        let status = tmux
            .cmd()
            .args(["new-session", "-d", "-x", "120", "-y", "50", command])
            .status()
            .unwrap();
        assert!(status.success(), "tmux new-session failed");
        tmux
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", &self.socket]);
        cmd
    }

    fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-J", "-S", "-200"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `text` `times` times.
    fn wait_for(&self, text: &str, times: usize) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.matches(text).count() >= times {
                return screen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "waited 30 s for {text:?} ×{times}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One key, no Enter.
    fn key(&self, key: &str) {
        let status = self.cmd().args(["send-keys", "-l", key]).status().unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

fn snap(dir: &Path, file: &str, text: &str) {
    let id = file.split('.').next().unwrap();
    std::fs::write(
        dir.join(file),
        format!("---\nsource: grantcheck conform\nexpression: {id}\n---\n{text}"),
    )
    .unwrap();
}

/// `snapshots/embedded/` with four drifted cases: three share one change (`expires_in`),
/// one changed its scope.
fn drifted() -> PathBuf {
    let cwd = temp_dir("review-tty");
    let dir = cwd.join("snapshots/embedded");
    std::fs::create_dir_all(&dir).unwrap();
    for id in ["A-001", "B-002", "C-003"] {
        snap(
            &dir,
            &format!("{id}.snap"),
            &format!("case: {id}\noutcome: pass\nexpires_in: 3600\n"),
        );
        snap(
            &dir,
            &format!("{id}.snap.new"),
            &format!("case: {id}\noutcome: pass\nexpires_in: 60\n"),
        );
    }
    snap(
        &dir,
        "D-004.snap",
        "case: D-004\noutcome: pass\nscope: write\n",
    );
    snap(
        &dir,
        "D-004.snap.new",
        "case: D-004\noutcome: pass\nscope: read\n",
    );
    cwd
}

fn shell_command(cwd: &Path, args: &str) -> String {
    format!(
        "cd '{}' && '{}' {args}; echo \"exit $?\"; sleep 60",
        cwd.display(),
        env!("CARGO_BIN_EXE_grantcheck")
    )
}

#[test]
fn review_takes_single_keys_and_accepts_a_change_for_every_case() {
    if !Tmux::available() {
        eprintln!("skipped: tmux is not installed (apt-get install tmux; .ci/run does)");
        return;
    }
    let cwd = drifted();
    let dir = cwd.join("snapshots/embedded");
    let tmux = Tmux::start("keys", &shell_command(&cwd, "snapshots review"));
    let screen = tmux.wait_for("quit (q)? ", 1);
    assert!(screen.contains("[1/4] A-001"), "{screen}");
    assert!(
        screen.contains("the same change is pending for 2 other cases: B-002, C-003"),
        "{screen}"
    );
    assert!(
        screen.contains("-expires_in: 3600") && screen.contains("+expires_in: 60"),
        "{screen}"
    );
    // `s` alone (no Enter) skips A-001 and shows B-002.
    tmux.key("s");
    let screen = tmux.wait_for("quit (q)? ", 2);
    assert!(screen.contains("[2/4] B-002"), "{screen}");
    // `A` accepts the change for B-002 and C-003 (A-001 was skipped), then D-004 asks.
    tmux.key("A");
    let screen = tmux.wait_for("quit (q)? ", 3);
    assert!(screen.contains("accepted for B-002, C-003"), "{screen}");
    assert!(screen.contains("[4/4] D-004"), "{screen}");
    assert!(!screen.contains("[3/4]"), "{screen}");
    // `r` rejects D-004: the run ends.
    tmux.key("r");
    let screen = tmux.wait_for("exit 0", 1);
    assert!(
        screen.contains("2 accepted, 1 rejected, 1 skipped"),
        "{screen}"
    );

    assert!(
        dir.join("A-001.snap.new").exists(),
        "skipped: still pending"
    );
    for id in ["B-002", "C-003"] {
        assert!(!dir.join(format!("{id}.snap.new")).exists());
        let stored = std::fs::read_to_string(dir.join(format!("{id}.snap"))).unwrap();
        assert!(stored.contains("expires_in: 60"), "{id}: {stored}");
    }
    assert!(!dir.join("D-004.snap.new").exists());
    let stored = std::fs::read_to_string(dir.join("D-004.snap")).unwrap();
    assert!(stored.contains("scope: write"), "rejected: {stored}");
}

#[test]
fn review_outside_a_snapshots_folder_says_where_it_looked() {
    let cwd = temp_dir("review-nowhere");
    let output = grantcheck_in(&cwd)
        .args(["snapshots", "review"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let looked = cwd.join("snapshots");
    assert!(
        stderr.contains(&format!("no snapshots folder at {}", looked.display())),
        "{stderr}"
    );
    assert!(stderr.contains("--snapshot-dir DIR"), "{stderr}");
}
