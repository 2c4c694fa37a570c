//! Pins what the `lazarus` tool does when its output cannot be written, by running the built
//! binary (Linux: `/dev/full` stands for a full disk). The exit code is the command's verdict
//! whatever happens to its output:
//!
//! * standard output that fails (ENOSPC on `/dev/full`) → exit 3 and a line on standard error
//!   saying so, the command's work done (an insert is committed);
//! * standard output whose reader went away (a closed pipe, as in `| head`) → not an error: the
//!   command exits with its own code (0; 1 for `verify` with differences), nothing on standard
//!   error, no panic;
//! * standard error that cannot be written (a closed pipe, `/dev/full`) → no panic, the exit code
//!   still says what happened (2 for a failure, 1 for a missing row);
//! * `verify` that finds differences exits 1, with its report;
//! * every command that opens a store closes it: the store's `HWM` file is written again (by
//!   `Db::close`, at the last LSN) by insert, delete, scan, verify and a failing get.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use lazarusdb::{ColumnType, Db, EngineKind, Options, Row, TableBuilder};

const BIN: &str = env!("CARGO_BIN_EXE_lazarus");

/// Rows in the test store: enough that `log` prints far more than a pipe holds (64 KiB).
const ROWS: usize = 2000;

/// Junk keys put into a view of the store for `verify` to find: its report is far more than a
/// pipe holds too.
const JUNK: usize = 2000;

/// What one invocation did.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs a prepared command to its end (standard input closed; standard output and error captured
/// unless the caller set them); it may not panic (exit 101) nor die of a signal.
fn exec(cmd: &mut Command) -> Out {
    let o = cmd.stdin(Stdio::null()).output().unwrap();
    let out = Out {
        code: o
            .status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal: {:?}", o.status)),
        stdout: String::from_utf8(o.stdout).unwrap(),
        stderr: String::from_utf8(o.stderr).unwrap(),
    };
    assert_ne!(out.code, 101, "the tool panicked: {cmd:?}\n{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{cmd:?}: {}", out.stderr);
    out
}

/// `/dev/full`, opened for writing: every write fails with ENOSPC.
fn full() -> Stdio {
    Stdio::from(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    )
}

/// The write end of a pipe whose read end is already closed: every write fails with EPIPE.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}

/// A store at `<tempdir>/s`.
struct Store {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Store {
    /// A store with a table `a(id, note)` holding [`ROWS`] rows, made through the library.
    fn new(engine: EngineKind) -> Store {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let options = Options {
            engine: Some(engine),
            ..Options::default()
        };
        let db = Db::open_with(&path, options).unwrap();
        db.create_table(
            TableBuilder::new("a")
                .column(("id", ColumnType::Int))
                .column(("note", ColumnType::Text))
                .primary_key("id"),
        )
        .unwrap();
        db.transaction(|tx| {
            for i in 0..ROWS {
                tx.insert("a", Row::new().with("note", format!("row number {i}")))?;
            }
            Ok::<_, lazarusdb::Error>(())
        })
        .unwrap();
        db.close().unwrap();
        Store { _dir: dir, path }
    }

    /// A sled store whose index view holds [`JUNK`] keys the log does not explain: `verify`
    /// reports each as a difference.
    fn with_differences() -> Store {
        let s = Store::new(EngineKind::Sled);
        {
            wait_for_sled_to_let_go(&s.path.join("data"));
            let sled = sled::open(s.path.join("data")).unwrap();
            // The sled engine keeps every space in the default tree under a one-byte prefix; 4 is
            // the index view.
            for i in 0..JUNK as u32 {
                let mut key = vec![4u8, 0xEE, 0xEE];
                key.extend_from_slice(&i.to_be_bytes());
                sled.insert(key, b"junk".to_vec()).unwrap();
            }
            sled.flush().unwrap();
        }
        wait_for_sled_to_let_go(&s.path.join("data"));
        s
    }

    /// `lazarus --db <store> ARGS`, not yet run.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--db").arg(&self.path).args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Out {
        exec(&mut self.cmd(args))
    }

    /// The last LSN, from `--json stats`.
    fn last_lsn(&self) -> u64 {
        let out = self.run(&["--json", "stats"]);
        assert_eq!(out.code, 0, "{out:?}");
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        v["last_lsn"].as_u64().unwrap()
    }
}

/// Waits until nothing holds the lock of a sled database (an exclusive `flock` on its `db`
/// file): sled's background threads can keep it for a moment after the last handle is dropped
/// (and `Db::close` returns), and the next opener would find the store locked.
fn wait_for_sled_to_let_go(data: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let file = std::fs::File::open(data.join("db")).unwrap();
    loop {
        match file.try_lock() {
            Ok(()) => {
                file.unlock().unwrap();
                return;
            }
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("{}: still locked ({e})", data.display()),
        }
    }
}

/// Spawns the command with standard output piped, reads one line of it, closes it and waits: the
/// command goes on writing into a pipe without a reader (when it has more than the pipe holds),
/// or finished writing before; either way its exit code must be its own.
fn read_one_line_then_close(mut cmd: Command) -> Out {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut first = String::new();
        let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
        reader.read_line(&mut first).unwrap();
        assert!(!first.is_empty(), "{cmd:?}: no output at all");
    }
    let o = child.wait_with_output().unwrap();
    let out = Out {
        code: o
            .status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal: {:?}", o.status)),
        stdout: String::new(),
        stderr: String::from_utf8(o.stderr).unwrap(),
    };
    assert_ne!(out.code, 101, "the tool panicked: {cmd:?}\n{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{cmd:?}: {}", out.stderr);
    out
}

/// The LSN in a store's `HWM` file, or `None` when there is no such file.
fn hwm(store: &Path) -> Option<u64> {
    let bytes = std::fs::read(store.join("HWM")).ok()?;
    assert_eq!(bytes.len(), 12, "HWM: 8 bytes of LSN and a 4-byte checksum");
    Some(u64::from_be_bytes(bytes[..8].try_into().unwrap()))
}

#[test]
fn output_to_a_full_device_exits_3_and_says_so() {
    let s = Store::new(EngineKind::Fjall);
    for args in [
        vec!["scan", "a"],
        vec!["log"],
        vec!["stats"],
        vec!["--json", "scan", "a"],
        vec!["--json", "log"],
        vec!["--json", "stats"],
        vec!["get", "a", "1"],
        vec!["export", "-"],
    ] {
        let out = exec(s.cmd(&args).stdout(full()));
        assert_eq!(out.code, 3, "{args:?}: {out:?}");
        assert!(
            out.stderr.contains("could not be written"),
            "{args:?}: {}",
            out.stderr
        );
    }
    // The work is done: an insert whose output is lost is committed.
    let before = s.last_lsn();
    let out = exec(
        s.cmd(&["insert", "a", r#"{"note": "lost output"}"#])
            .stdout(full()),
    );
    assert_eq!(out.code, 3, "{out:?}");
    assert_eq!(s.last_lsn(), before + 1, "the insert is committed");
    let out = s.run(&["--json", "get", "a", &(ROWS + 1).to_string()]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("lost output"), "{}", out.stdout);
    // A failure keeps its own code when there is nothing to print anyway.
    let out = exec(s.cmd(&["get", "a", "999999"]).stdout(full()));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let out = exec(s.cmd(&["get", "nope", "1"]).stdout(full()));
    assert_eq!(out.code, 2, "{out:?}");
}

#[test]
fn help_to_a_full_device_exits_3() {
    let out = exec(Command::new(BIN).arg("--help").stdout(full()));
    assert_eq!(out.code, 3, "{out:?}");
    let out = exec(Command::new(BIN).arg("--help").stdout(closed_pipe()));
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn verify_with_differences_exits_1_with_its_report() {
    let s = Store::with_differences();
    let out = s.run(&["verify"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.contains("in the views but not in the log"))
            .count(),
        JUNK,
        "one line per difference"
    );
    assert!(
        out.stderr.contains(&format!("{JUNK} difference(s)")),
        "{}",
        out.stderr
    );
    let out = s.run(&["--json", "verify"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["differences"].as_array().unwrap().len(), JUNK);
    // The output lost too: the verdict stands.
    let out = exec(s.cmd(&["verify"]).stdout(full()));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("could not be written"),
        "{}",
        out.stderr
    );
}

#[test]
fn verify_with_differences_exits_1_when_its_reader_goes_away() {
    let s = Store::with_differences();
    for json in [false, true] {
        let args: &[&str] = if json {
            &["--json", "verify"]
        } else {
            &["verify"]
        };
        // closed before the tool starts: its first write fails
        let out = exec(s.cmd(args).stdout(closed_pipe()));
        assert_eq!(out.code, 1, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("difference(s)"), "{}", out.stderr);
        assert!(
            !out.stderr.contains("could not be written"),
            "{}",
            out.stderr
        );
        // closed after one line, as `| head -1` does
        let out = read_one_line_then_close(s.cmd(args));
        assert_eq!(out.code, 1, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("difference(s)"), "{}", out.stderr);
        assert!(
            !out.stderr.contains("could not be written"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn a_reader_that_goes_away_is_not_an_error() {
    let s = Store::new(EngineKind::Fjall);
    for args in [
        vec!["log"],
        vec!["--json", "log"],
        vec!["scan", "a"],
        vec!["export", "-"],
    ] {
        let out = exec(s.cmd(&args).stdout(closed_pipe()));
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        assert_eq!(out.stderr, "", "{args:?}");
        let out = read_one_line_then_close(s.cmd(&args));
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        assert_eq!(out.stderr, "", "{args:?}");
    }
    // A write whose output nobody reads is still committed.
    let before = s.last_lsn();
    let out = exec(
        s.cmd(&["insert", "a", r#"{"note": "unread"}"#])
            .stdout(closed_pipe()),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(s.last_lsn(), before + 1);
}

#[test]
fn an_unwritable_standard_error_is_not_a_panic() {
    let s = Store::new(EngineKind::Fjall);
    let cases: [(&[&str], i32); 5] = [
        (&["get", "nope", "1"], 2),
        (&["--json", "get", "nope", "1"], 2),
        (&["get", "a", "999999"], 1),
        (&["insert", "a", "not json"], 2),
        (&["no-such-command"], 2),
    ];
    for (args, code) in cases {
        for (what, stderr) in [("closed pipe", closed_pipe()), ("/dev/full", full())] {
            let out = exec(s.cmd(args).stderr(stderr));
            assert_eq!(out.code, code, "{args:?}, stderr on {what}: {out:?}");
            assert_eq!(out.stdout, "", "{args:?}");
        }
    }
    // Standard output and standard error both unwritable: still the verdict, no panic.
    let out = exec(s.cmd(&["scan", "a"]).stdout(full()).stderr(closed_pipe()));
    assert_eq!(out.code, 3, "{out:?}");
    let d = Store::with_differences();
    let out = exec(d.cmd(&["verify"]).stdout(closed_pipe()).stderr(full()));
    assert_eq!(out.code, 1, "{}", out.stderr);
}

#[test]
fn every_command_that_opens_a_store_closes_it() {
    let s = Store::new(EngineKind::Fjall);
    let cases: [(&[&str], i32); 6] = [
        (&["insert", "a", r#"{"note": "x"}"#], 0),
        (&["delete", "a", "1"], 0),
        (&["scan", "a", "--limit", "3"], 0),
        (&["verify"], 0),
        (&["get", "nope", "1"], 2),
        (&["get", "a", "1"], 1),
    ];
    for (args, code) in cases {
        let before = set_hwm_time_in_the_past(&s.path);
        let out = s.run(args);
        assert_eq!(out.code, code, "{args:?}: {out:?}");
        assert!(
            hwm_time(&s.path) > before,
            "{args:?}: the HWM was not written (the store was not closed)"
        );
        assert_eq!(
            hwm(&s.path),
            Some(s.last_lsn()),
            "{args:?}: HWM at the last LSN"
        );
    }
    let d = Store::with_differences();
    let before = set_hwm_time_in_the_past(&d.path);
    assert_eq!(d.run(&["verify"]).code, 1);
    assert!(
        hwm_time(&d.path) > before,
        "verify with differences closes the store too"
    );
}

/// Sets the modification time of a store's `HWM` file far in the past and returns it: a time
/// after it shows the file was written again (by `Db::close`).
fn set_hwm_time_in_the_past(store: &Path) -> std::time::SystemTime {
    let past = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(store.join("HWM"))
        .unwrap()
        .set_modified(past)
        .unwrap();
    assert_eq!(hwm_time(store), past);
    past
}

fn hwm_time(store: &Path) -> std::time::SystemTime {
    std::fs::metadata(store.join("HWM"))
        .unwrap()
        .modified()
        .unwrap()
}
