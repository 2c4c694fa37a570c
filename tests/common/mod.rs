//! Scaffolding shared by the scenario tests of reversible deletes: run a scenario on the memory
//! engine and on fjall, verifying the views after it; name rows; copy a store's files.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use lazarusdb::{Db, Options, RowRef, Value};

pub fn check_verify(db: &Db) {
    let report = db.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.differences);
}

pub fn on_memory(scenario: fn(&Db)) {
    let db = Db::memory().unwrap();
    scenario(&db);
    check_verify(&db);
}

pub fn on_fjall(scenario: fn(&Db)) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_with(dir.path().join("store"), Options::default()).unwrap();
    scenario(&db);
    check_verify(&db);
    db.close().unwrap();
}

/// The PostgreSQL server the tests use (`LAZARUS_PG_URL`, e.g.
/// `postgres://postgres@127.0.0.1:15432/postgres`). Without one a PostgreSQL test says so and
/// passes, except under CI (`CI` set), where a missing server fails it.
pub fn pg_url() -> Option<String> {
    match std::env::var("LAZARUS_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set and LAZARUS_PG_URL is not: the PostgreSQL tests need a server"
            );
            eprintln!("LAZARUS_PG_URL is not set: not run on PostgreSQL here");
            None
        }
    }
}

/// A fresh store name (a schema of its own) for a test on PostgreSQL.
pub fn pg_store() -> String {
    format!("t_{}", uuid::Uuid::now_v7().simple())
}

/// Runs a scenario on a fresh store on PostgreSQL (when a server is there), verifying after.
#[cfg(feature = "postgres")]
pub fn on_postgres(scenario: fn(&Db)) {
    let Some(url) = pg_url() else { return };
    let db = Db::open_postgres(&url, &pg_store()).unwrap();
    scenario(&db);
    check_verify(&db);
    db.close().unwrap();
}

#[allow(unused_macros)]
/// Runs a scenario on the memory engine, on fjall and (feature `postgres`) on PostgreSQL (a
/// test module per scenario).
macro_rules! on_both {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[test]
            fn memory() {
                super::on_memory(super::$scenario);
            }
            #[test]
            fn fjall() {
                super::on_fjall(super::$scenario);
            }
            #[cfg(feature = "postgres")]
            #[test]
            fn postgres() {
                super::on_postgres(super::$scenario);
            }
        }
    )*};
}

#[allow(unused_macros)]
/// Runs a scenario on the memory engine only.
macro_rules! on_memory {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[test]
            fn memory() {
                super::on_memory(super::$scenario);
            }
        }
    )*};
}

pub fn rr(table: &str, pk: impl Into<Value>) -> RowRef {
    RowRef {
        table: table.to_string(),
        pk: pk.into(),
    }
}

/// Copies a folder and everything under it.
pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}
