//! The live UI in a real terminal: `corscope demo` runs inside tmux (installed by the test
//! script), the screen is read back with `capture-pane` and keys are typed with
//! `send-keys`, as a person would use it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};

struct Session {
    name: String,
}

impl Session {
    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux").args(args).output().unwrap()
    }

    fn screen(&self) -> String {
        String::from_utf8(self.tmux(&["capture-pane", "-p", "-t", &self.name]).stdout).unwrap()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.name];
        args.extend_from_slice(keys);
        assert!(self.tmux(&args).status.success());
    }

    /// Wait until the screen satisfies `pred` (the UI redraws within a frame of a change).
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn alive(&self) -> bool {
        self.tmux(&["has-session", "-t", &self.name])
            .status
            .success()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-session", "-t", &self.name]);
    }
}

#[test]
fn demo_in_a_real_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("corscope-test-{}", std::process::id());
    let cmd = format!(
        "{} demo --listen 127.0.0.1:0 --data-dir {}",
        env!("CARGO_BIN_EXE_corscope"),
        dir.path().join("data").display()
    );
    let started = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &name,
            "-x",
            "160",
            "-y",
            "45",
            "-c",
        ])
        .arg(dir.path())
        .arg(&cmd)
        .status()
        .expect("tmux must be installed (scripts/test.sh installs it)");
    assert!(started.success());
    let s = Session { name };

    let total = SCENARIO_EXCHANGES;
    // Rows are listed once judged, which comes a moment after the store has them.
    let screen = s.wait_for("the demo's verdicts", |sc| {
        sc.contains(&format!("{total} exchanges")) && sc.contains("/api/missing-acao")
    });
    assert!(screen.contains("✗"), "{screen}");
    assert!(screen.contains("/api/missing-acao"), "{screen}");
    assert!(screen.contains("demo page http://127.0.0.1:"), "{screen}");

    // Filter to blocked exchanges: every listed row carries the blocked badge.
    s.keys(&["/"]);
    s.keys(&["-l", "verdict:blocked"]);
    s.keys(&["Enter"]);
    let screen = s.wait_for("the filter", |sc| sc.contains("filter: verdict:blocked"));
    let rows: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains(" → ") && l.contains("/api/"))
        .collect();
    assert!(!rows.is_empty(), "{screen}");
    assert!(rows.iter().all(|l| l.contains("✗")), "{screen}");

    // The Diff tab of the selected (blocked) exchange shows what was missing.
    s.keys(&["Enter", "l"]);
    s.wait_for("the diff tab", |sc| {
        sc.contains("needed") && sc.contains("granted")
    });

    // Resend the selected blocked request to the demo's server: the flash names the new
    // exchanges, and they join the list (still blocked: the server did not change).
    s.keys(&["r"]);
    let screen = s.wait_for("the resend", |sc| sc.contains("resent #"));
    let line = screen.lines().find(|l| l.contains("resent #")).unwrap();
    let added = line.matches('#').count() - 1;
    assert!((1..=2).contains(&added), "{line}");
    let total = total + added;
    // (Rows are listed once judged: the list's title counts them.)
    s.wait_for("the resent exchanges in the list", |sc| {
        sc.contains(&format!("{total} exchanges")) && sc.contains(&format!("/{total} ·"))
    });

    // Export a HAR into the working directory, then quit without being asked.
    s.keys(&["e"]);
    s.wait_for("the export prompt", |sc| sc.contains("Export HAR to:"));
    s.keys(&["Enter"]);
    s.wait_for("the export", |sc| sc.contains("exported"));
    let har = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "har"))
        .expect("a HAR file in the working directory");
    let har: serde_json::Value = serde_json::from_slice(&std::fs::read(har).unwrap()).unwrap();
    assert_eq!(har["log"]["entries"].as_array().unwrap().len(), total);
    s.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!s.alive(), "corscope did not quit on q after an export");
}

/// Exchanges the demo's emulated traffic produces: one per scenario, plus one preflight
/// per preflighted scenario, plus one per redirect hop.
const SCENARIO_EXCHANGES: usize = 19;
