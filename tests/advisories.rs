//! Offline dependency audit: every package version locked in `Cargo.lock` is checked against the
//! RustSec advisory snapshot in `audit/advisories.json`. A locked version is affected by an
//! advisory when it matches none of the advisory's `patched` and none of its `unaffected`
//! version requirements (withdrawn advisories never match), the rule `cargo audit` applies. The
//! test fails on an affected version unless `audit/waivers.json` waives that advisory with a
//! reason, on a waiver that no longer matches anything in the lock file (stale), and on a
//! malformed snapshot, waiver list or lock file. See `audit/README.md` for refreshing the
//! snapshot where the network allows.
#![allow(clippy::expect_used, clippy::panic)]

use semver::{Version, VersionReq};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::Path;

// ---------------------------------------------------------------------------------------------
// Cargo.lock: the `name` and `version` of each `[[package]]` table.

#[derive(Debug, Clone, PartialEq, Eq)]
struct LockedPackage {
    name: String,
    version: Version,
}

#[derive(Default)]
struct PartialPackage {
    line: usize,
    name: Option<String>,
    version: Option<String>,
}

/// Reads the `[[package]]` tables of a Cargo.lock (format 3 or 4). Only top-level `name = "..."`
/// and `version = "..."` lines inside a package table are read; every other key (including the
/// multi-line `dependencies` arrays, whose lines are indented) is skipped.
fn parse_lock(text: &str) -> Result<Vec<LockedPackage>, String> {
    let mut packages = Vec::new();
    let mut current: Option<PartialPackage> = None;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim_end();
        if line.starts_with('[') {
            if let Some(done) = current.take() {
                packages.push(finish_package(done)?);
            }
            if line == "[[package]]" {
                current = Some(PartialPackage {
                    line: line_no,
                    ..PartialPackage::default()
                });
            }
            continue;
        }
        let Some(package) = current.as_mut() else {
            continue;
        };
        if line.starts_with(char::is_whitespace) {
            continue; // continuation of a multi-line array
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let slot = match key {
            "name" => &mut package.name,
            "version" => &mut package.version,
            _ => continue,
        };
        if slot.is_some() {
            return Err(format!(
                "Cargo.lock line {line_no}: second `{key}` in one package"
            ));
        }
        *slot = Some(parse_basic_string(value.trim()).ok_or_else(|| {
            format!("Cargo.lock line {line_no}: `{key}` is not a plain quoted string")
        })?);
    }
    if let Some(done) = current.take() {
        packages.push(finish_package(done)?);
    }
    if packages.is_empty() {
        return Err("Cargo.lock: no [[package]] found".to_string());
    }
    Ok(packages)
}

/// A TOML basic string without escapes, which is all Cargo writes for names and versions.
fn parse_basic_string(value: &str) -> Option<String> {
    let inner = value.strip_prefix('"')?.strip_suffix('"')?;
    if inner.is_empty() || inner.contains(['"', '\\']) {
        return None;
    }
    Some(inner.to_string())
}

fn finish_package(package: PartialPackage) -> Result<LockedPackage, String> {
    let at = package.line;
    let name = package
        .name
        .ok_or_else(|| format!("Cargo.lock line {at}: package without `name`"))?;
    let version = package
        .version
        .ok_or_else(|| format!("Cargo.lock line {at}: package {name} without `version`"))?;
    let version = Version::parse(&version)
        .map_err(|e| format!("Cargo.lock line {at}: {name} version {version:?}: {e}"))?;
    Ok(LockedPackage { name, version })
}

// ---------------------------------------------------------------------------------------------
// audit/advisories.json and audit/waivers.json.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotFile {
    snapshot_date: String,
    how_made: Vec<String>,
    not_included: Vec<NotIncluded>,
    advisories: Vec<AdvisoryEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotIncluded {
    path: String,
    reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Vulnerability,
    Unmaintained,
    Unsound,
    Notice,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvisoryEntry {
    id: String,
    package: String,
    kind: Kind,
    date: String,
    #[serde(default)]
    withdrawn: Option<String>,
    patched: Vec<String>,
    unaffected: Vec<String>,
    summary: String,
    source: Vec<String>,
}

#[derive(Debug)]
struct Advisory {
    id: String,
    package: String,
    kind: Kind,
    withdrawn: bool,
    patched: Vec<VersionReq>,
    unaffected: Vec<VersionReq>,
}

impl Advisory {
    /// The rule of `cargo audit`: affected unless some `patched` or `unaffected` requirement
    /// matches. A pre-release version matches only requirements naming a pre-release of the same
    /// version (semver's rule), so a locked pre-release counts as affected: the safe side.
    fn affects(&self, version: &Version) -> bool {
        !self.withdrawn
            && !self
                .patched
                .iter()
                .chain(&self.unaffected)
                .any(|req| req.matches(version))
    }
}

fn is_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
}

fn is_advisory_id(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("RUSTSEC-") else {
        return false;
    };
    let bytes = rest.as_bytes();
    bytes.len() == 9
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
        && !rest.starts_with("0000-")
}

fn is_crate_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn is_one_line(text: &str) -> bool {
    !text.trim().is_empty() && !text.contains(['\n', '\r'])
}

/// Parses and checks the snapshot; every problem found is reported, one per line.
fn parse_snapshot(text: &str) -> Result<Vec<Advisory>, String> {
    let file: SnapshotFile =
        serde_json::from_str(text).map_err(|e| format!("audit/advisories.json: {e}"))?;
    let mut problems = Vec::new();
    if !is_date(&file.snapshot_date) {
        problems.push(format!(
            "snapshot_date {:?} is not YYYY-MM-DD",
            file.snapshot_date
        ));
    }
    if file.how_made.is_empty() || !file.how_made.iter().all(|l| is_one_line(l)) {
        problems.push("how_made must be a non-empty list of one-line notes".to_string());
    }
    for skipped in &file.not_included {
        if !is_one_line(&skipped.path) || !is_one_line(&skipped.reason) {
            problems.push("a not_included entry needs a one-line path and reason".to_string());
        }
    }
    let mut seen = BTreeSet::new();
    let mut advisories = Vec::new();
    for entry in file.advisories {
        let id = entry.id;
        let at = format!("advisory {id:?}");
        if !is_advisory_id(&id) {
            problems.push(format!("{at}: id is not RUSTSEC-YYYY-NNNN"));
        }
        if !seen.insert(id.clone()) {
            problems.push(format!("{at}: listed twice"));
        }
        if !is_crate_name(&entry.package) {
            problems.push(format!(
                "{at}: package {:?} is not a crate name",
                entry.package
            ));
        }
        if !is_date(&entry.date) {
            problems.push(format!("{at}: date {:?} is not YYYY-MM-DD", entry.date));
        }
        if let Some(withdrawn) = &entry.withdrawn {
            if !is_date(withdrawn) {
                problems.push(format!("{at}: withdrawn {withdrawn:?} is not YYYY-MM-DD"));
            }
        }
        if !is_one_line(&entry.summary) {
            problems.push(format!("{at}: summary must be one non-empty line"));
        }
        if entry.source.is_empty() || !entry.source.iter().all(|s| is_one_line(s)) {
            problems.push(format!("{at}: source must list where the facts came from"));
        }
        let mut parse_all = |list: &[String], field: &str| -> Vec<VersionReq> {
            list.iter()
                .filter_map(|req| match VersionReq::parse(req) {
                    Ok(parsed) => Some(parsed),
                    Err(e) => {
                        problems.push(format!("{at}: {field} requirement {req:?}: {e}"));
                        None
                    }
                })
                .collect()
        };
        let patched = parse_all(&entry.patched, "patched");
        let unaffected = parse_all(&entry.unaffected, "unaffected");
        advisories.push(Advisory {
            id,
            package: entry.package,
            kind: entry.kind,
            withdrawn: entry.withdrawn.is_some(),
            patched,
            unaffected,
        });
    }
    if problems.is_empty() {
        Ok(advisories)
    } else {
        Err(format!(
            "audit/advisories.json:\n  {}",
            problems.join("\n  ")
        ))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WaiverFile {
    #[allow(dead_code)]
    about: String,
    waivers: Vec<Waiver>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Waiver {
    id: String,
    package: String,
    reason: String,
}

/// Parses the waivers; each must name an advisory of the snapshot (with its package), once,
/// and give a reason.
fn parse_waivers(text: &str, advisories: &[Advisory]) -> Result<Vec<Waiver>, String> {
    let file: WaiverFile =
        serde_json::from_str(text).map_err(|e| format!("audit/waivers.json: {e}"))?;
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for waiver in &file.waivers {
        let at = format!("waiver {:?}", waiver.id);
        if !seen.insert(waiver.id.clone()) {
            problems.push(format!("{at}: listed twice"));
        }
        match advisories.iter().find(|a| a.id == waiver.id) {
            None => problems.push(format!("{at}: no such advisory in the snapshot")),
            Some(advisory) if advisory.package != waiver.package => problems.push(format!(
                "{at}: the advisory is for {}, not {}",
                advisory.package, waiver.package
            )),
            Some(_) => {}
        }
        if !is_one_line(&waiver.reason) {
            problems.push(format!("{at}: needs a one-line reason"));
        }
    }
    if problems.is_empty() {
        Ok(file.waivers)
    } else {
        Err(format!("audit/waivers.json:\n  {}", problems.join("\n  ")))
    }
}

// ---------------------------------------------------------------------------------------------
// The audit.

#[derive(Debug, Clone, PartialEq, Eq)]
struct Finding {
    id: String,
    package: String,
    version: Version,
    kind: Kind,
    waived: bool,
}

#[derive(Debug, Default)]
struct Report {
    findings: Vec<Finding>,
    /// Ids of waivers that match no locked package.
    stale_waivers: Vec<String>,
}

impl Report {
    /// What makes the check fail: affected versions without a waiver, and stale waivers.
    fn problems(&self) -> Vec<String> {
        let unwaived = self.findings.iter().filter(|f| !f.waived).map(|f| {
            format!(
                "{} {} is affected by {} ({:?}): upgrade it to a patched version, or waive the \
                 advisory in audit/waivers.json with a reason",
                f.package, f.version, f.id, f.kind
            )
        });
        let stale = self
            .stale_waivers
            .iter()
            .map(|id| format!("waiver for {id} matches nothing in Cargo.lock any more: remove it"));
        unwaived.chain(stale).collect()
    }
}

fn audit(lock: &[LockedPackage], advisories: &[Advisory], waivers: &[Waiver]) -> Report {
    let mut report = Report::default();
    for package in lock {
        for advisory in advisories.iter().filter(|a| a.package == package.name) {
            if advisory.affects(&package.version) {
                report.findings.push(Finding {
                    id: advisory.id.clone(),
                    package: package.name.clone(),
                    version: package.version.clone(),
                    kind: advisory.kind,
                    waived: waivers.iter().any(|w| w.id == advisory.id),
                });
            }
        }
    }
    for waiver in waivers {
        if !report.findings.iter().any(|f| f.id == waiver.id) {
            report.stale_waivers.push(waiver.id.clone());
        }
    }
    report
}

fn read_repo_file(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn or_fail<T>(result: Result<T, String>) -> T {
    result.unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------------------------------------
// The check on this repository.

#[test]
fn cargo_lock_has_no_unwaived_advisory_and_no_stale_waiver() {
    let lock_text = read_repo_file("Cargo.lock");
    let lock = or_fail(parse_lock(&lock_text));
    let tables = lock_text
        .lines()
        .filter(|l| l.trim_end() == "[[package]]")
        .count();
    assert_eq!(lock.len(), tables, "every [[package]] table is read");
    let advisories = or_fail(parse_snapshot(&read_repo_file("audit/advisories.json")));
    let waivers = or_fail(parse_waivers(
        &read_repo_file("audit/waivers.json"),
        &advisories,
    ));
    let report = audit(&lock, &advisories, &waivers);
    for finding in report.findings.iter().filter(|f| f.waived) {
        eprintln!(
            "waived: {} {} ({}, {:?})",
            finding.package, finding.version, finding.id, finding.kind
        );
    }
    let problems = report.problems();
    assert!(
        problems.is_empty(),
        "dependency audit against audit/advisories.json failed:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn snapshot_holds_the_advisories_named_in_dependencies_md() {
    let advisories = or_fail(parse_snapshot(&read_repo_file("audit/advisories.json")));
    for (id, package) in [
        ("RUSTSEC-2025-0057", "fxhash"),
        ("RUSTSEC-2024-0384", "instant"),
        ("RUSTSEC-2025-0141", "bincode"),
        ("RUSTSEC-2026-0204", "crossbeam-epoch"),
        ("RUSTSEC-2022-0041", "crossbeam-utils"),
    ] {
        assert!(
            advisories
                .iter()
                .any(|a| a.id == id && a.package == package),
            "{id} ({package}) is missing from audit/advisories.json"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The check can fail: made-up lock files, snapshots and waivers.

const LOCK_HEAD: &str = "# This file is automatically @generated by Cargo.\n\
                         # It is not intended for manual editing.\nversion = 4\n";

fn lock_with(packages: &[(&str, &str)]) -> String {
    let mut text = LOCK_HEAD.to_string();
    for (name, version) in packages {
        text.push_str(&format!(
            "\n[[package]]\nname = \"{name}\"\nversion = \"{version}\"\n\
             source = \"registry+https://github.com/rust-lang/crates.io-index\"\n\
             dependencies = [\n \"libc\",\n \"name-like-dep 1.0.0\",\n]\n"
        ));
    }
    text
}

/// One advisory on crossbeam-epoch as the snapshot has it (fixed in 0.9.20, 0.8 unaffected),
/// one withdrawn advisory, and one unmaintained crate with no fix.
const SNAPSHOT: &str = r#"{
  "snapshot_date": "2026-12-06",
  "how_made": ["made up for the test"],
  "not_included": [],
  "advisories": [
    {"id": "RUSTSEC-2026-0204", "package": "crossbeam-epoch", "kind": "vulnerability",
     "date": "2026-07-06", "patched": [">= 0.9.20"], "unaffected": ["< 0.9.0"],
     "summary": "made up", "source": ["test"]},
    {"id": "RUSTSEC-2019-0031", "package": "spin", "kind": "unmaintained",
     "date": "2019-11-21", "withdrawn": "2020-10-08", "patched": [], "unaffected": [],
     "summary": "made up", "source": ["test"]},
    {"id": "RUSTSEC-2025-0057", "package": "fxhash", "kind": "unmaintained",
     "date": "2025-09-05", "patched": [], "unaffected": [],
     "summary": "made up", "source": ["test"]}
  ]
}"#;

fn run(lock: &[(&str, &str)], waivers: &str) -> Report {
    let lock = or_fail(parse_lock(&lock_with(lock)));
    let advisories = or_fail(parse_snapshot(SNAPSHOT));
    let waivers = or_fail(parse_waivers(waivers, &advisories));
    audit(&lock, &advisories, &waivers)
}

const NO_WAIVERS: &str = r#"{"about": "none", "waivers": []}"#;
const FXHASH_WAIVED: &str = r#"{"about": "one", "waivers": [
  {"id": "RUSTSEC-2025-0057", "package": "fxhash", "reason": "sled needs it"}]}"#;

#[test]
fn an_affected_version_is_reported() {
    let report = run(&[("crossbeam-epoch", "0.9.19")], NO_WAIVERS);
    assert_eq!(
        report.findings,
        vec![Finding {
            id: "RUSTSEC-2026-0204".into(),
            package: "crossbeam-epoch".into(),
            version: Version::new(0, 9, 19),
            kind: Kind::Vulnerability,
            waived: false,
        }]
    );
    let problems = report.problems();
    assert_eq!(problems.len(), 1);
    assert!(problems.iter().all(|p| p.contains("RUSTSEC-2026-0204")));
}

#[test]
fn patched_and_unaffected_versions_pass() {
    for version in ["0.9.20", "0.9.21", "1.0.0", "0.8.5"] {
        let report = run(&[("crossbeam-epoch", version)], NO_WAIVERS);
        assert!(report.findings.is_empty(), "{version}: {report:?}");
    }
    // Another package of the same name elsewhere in the lock still counts.
    let report = run(
        &[("crossbeam-epoch", "0.9.21"), ("crossbeam-epoch", "0.9.5")],
        NO_WAIVERS,
    );
    assert_eq!(report.findings.len(), 1);
    assert_eq!(
        report.findings.first().map(|f| f.version.clone()),
        Some(Version::new(0, 9, 5))
    );
}

#[test]
fn an_unmaintained_crate_fails_until_waived() {
    let report = run(&[("fxhash", "0.2.1")], NO_WAIVERS);
    assert_eq!(report.problems().len(), 1);
    let report = run(&[("fxhash", "0.2.1")], FXHASH_WAIVED);
    assert!(report.problems().is_empty(), "{:?}", report.problems());
    assert!(report.findings.iter().all(|f| f.waived));
    // A waiver covers its own advisory only.
    let report = run(
        &[("fxhash", "0.2.1"), ("crossbeam-epoch", "0.9.0")],
        FXHASH_WAIVED,
    );
    let problems = report.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems.iter().all(|p| p.contains("crossbeam-epoch")));
}

#[test]
fn a_withdrawn_advisory_matches_nothing() {
    assert!(run(&[("spin", "0.5.0")], NO_WAIVERS).findings.is_empty());
}

#[test]
fn a_stale_waiver_fails() {
    let report = run(&[("crossbeam-epoch", "0.9.21")], FXHASH_WAIVED);
    assert_eq!(report.stale_waivers, vec!["RUSTSEC-2025-0057".to_string()]);
    assert_eq!(report.problems().len(), 1);
}

#[test]
fn bad_waivers_are_rejected() {
    let advisories = or_fail(parse_snapshot(SNAPSHOT));
    for bad in [
        r#"{"about": "", "waivers": [{"id": "RUSTSEC-2099-0001", "package": "x", "reason": "r"}]}"#,
        r#"{"about": "", "waivers": [{"id": "RUSTSEC-2025-0057", "package": "sled", "reason": "r"}]}"#,
        r#"{"about": "", "waivers": [{"id": "RUSTSEC-2025-0057", "package": "fxhash", "reason": " "}]}"#,
        r#"{"about": "", "waivers": [{"id": "RUSTSEC-2025-0057", "package": "fxhash"}]}"#,
        r#"{"about": "", "waivers": [
             {"id": "RUSTSEC-2025-0057", "package": "fxhash", "reason": "r"},
             {"id": "RUSTSEC-2025-0057", "package": "fxhash", "reason": "r"}]}"#,
    ] {
        assert!(parse_waivers(bad, &advisories).is_err(), "accepted: {bad}");
    }
}

#[test]
fn a_malformed_snapshot_is_rejected() {
    assert!(parse_snapshot(SNAPSHOT).is_ok());
    let replacements = [
        (r#""kind": "vulnerability""#, r#""kind": "bad""#),
        (r#"">= 0.9.20""#, r#""at least 0.9.20""#),
        (r#""< 0.9.0""#, r#""< 0.9.0.1""#),
        (
            r#""id": "RUSTSEC-2026-0204""#,
            r#""id": "RUSTSEC-0000-0000""#,
        ),
        (
            r#""id": "RUSTSEC-2026-0204""#,
            r#""id": "RUSTSEC-2025-0057""#,
        ),
        (r#""date": "2026-07-06""#, r#""date": "July 2026""#),
        (r#""withdrawn": "2020-10-08""#, r#""withdrawn": "yes""#),
        (
            r#""summary": "made up", "source": ["test"]},"#,
            r#""source": ["test"]},"#,
        ),
        (
            r#""summary": "made up", "source": ["test"]},"#,
            r#""summary": "two\nlines", "source": ["test"]},"#,
        ),
        (r#""source": ["test"]},"#, r#""source": []},"#),
        (r#""package": "fxhash""#, r#""package": "fx hash""#),
        (
            r#""patched": [], "unaffected": [],"#,
            r#""patched": [], "unaffected": [], "extra": 1,"#,
        ),
        (
            r#""snapshot_date": "2026-12-06""#,
            r#""snapshot_date": "today""#,
        ),
        (
            r#""how_made": ["made up for the test"]"#,
            r#""how_made": []"#,
        ),
        ("]\n}", "]"),
    ];
    for (from, to) in replacements {
        assert!(SNAPSHOT.contains(from), "test text lacks {from}");
        let bad = SNAPSHOT.replacen(from, to, 1);
        assert!(parse_snapshot(&bad).is_err(), "accepted with {to}");
    }
}

#[test]
fn the_lock_parser_reads_what_cargo_writes() {
    let text = format!(
        "{LOCK_HEAD}\n[[package]]\nname = \"toml_edit\"\nversion = \"0.25.20+spec-1.1.0\"\n\
         source = \"registry+https://github.com/rust-lang/crates.io-index\"\n\
         checksum = \"00\"\ndependencies = [\n \"indexmap\",\n \"name\",\n]\n\n\
         [[package]]\nname = \"lazarusdb\"\nversion = \"0.1.0\"\n\n\
         [metadata]\nname = \"not a package\"\n"
    );
    let lock = or_fail(parse_lock(&text));
    let versions: Vec<(String, String)> = lock
        .iter()
        .map(|p| (p.name.clone(), p.version.to_string()))
        .collect();
    assert_eq!(
        versions,
        vec![
            ("toml_edit".to_string(), "0.25.20+spec-1.1.0".to_string()),
            ("lazarusdb".to_string(), "0.1.0".to_string()),
        ]
    );
}

#[test]
fn a_malformed_lock_is_rejected() {
    for bad in [
        LOCK_HEAD.to_string(),
        format!("{LOCK_HEAD}\n[[package]]\nname = \"a\"\n"),
        format!("{LOCK_HEAD}\n[[package]]\nversion = \"1.0.0\"\n"),
        format!("{LOCK_HEAD}\n[[package]]\nname = \"a\"\nversion = \"one\"\n"),
        format!("{LOCK_HEAD}\n[[package]]\nname = a\nversion = \"1.0.0\"\n"),
        format!("{LOCK_HEAD}\n[[package]]\nname = \"a\"\nname = \"b\"\nversion = \"1.0.0\"\n"),
    ] {
        assert!(parse_lock(&bad).is_err(), "accepted: {bad}");
    }
}
