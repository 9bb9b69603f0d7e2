//! The `grantcheck` binary as a user runs it, from a working directory that is never the
//! repository, and temporary directories for what a run reads and writes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Variables the binary reads that a developer's shell or a CI runner may have set. Every run
/// starts without them; a test that wants one sets it with `.env(..)`.
const INHERITED: &[&str] = &[
    "GRANTCHECK_CLIENT_SECRET",
    "GRANTCHECK_INTROSPECT_CLIENT_SECRET",
    "GRANTCHECK_SECOND_CLIENT_SECRET",
    "GRANTCHECK_SHARD",
    "GRANTCHECK_RUN_ID",
    "CI",
];

/// The binary, run in `dir`, without the variables above.
pub fn grantcheck_in(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_grantcheck"));
    cmd.current_dir(dir);
    for var in INHERITED {
        cmd.env_remove(var);
    }
    // Many whole runs go at once on a 2-core runner: a race's release spread there is the
    // machine's load, not grantcheck's. The 1 ms bound itself is `races.rs`'s to prove.
    cmd.env("GRANTCHECK_RACE_SPREAD", "10");
    cmd
}

/// The binary in a new scratch folder, so default `reports/` and `snapshots/` never touch
/// the repository or another run.
pub fn grantcheck() -> Command {
    grantcheck_in(&scratch())
}

/// Runs `grantcheck args` to its end.
pub fn run(args: &[&str]) -> Output {
    grantcheck().args(args).output().unwrap()
}

/// [`run`] from an async test: on a blocking thread, so servers on the test's runtime keep
/// answering.
pub async fn run_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || grantcheck().args(&args).output().unwrap())
        .await
        .unwrap()
}

/// A working directory for one run: new and empty.
pub fn scratch() -> PathBuf {
    temp_dir("cwd")
}

/// A new, empty directory under the system's temporary directory, one per call (`name` only
/// makes it recognisable): tests run in parallel threads of one process and never share one.
pub fn temp_dir(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir()
        .join(format!("grantcheck-tests-{}", std::process::id()))
        .join(format!("{name}-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
