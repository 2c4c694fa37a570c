//! Bytes into `Db::import_log` on an empty memory store.
//!
//! Properties: nothing panics; whatever the import did (it commits transaction by transaction
//! and stops at the first bad line), the store's views equal a replay of its log (`verify`);
//! and the store's own export (`export_log`) imports into a fresh store without error, giving
//! the same events, the same transaction records and the same live rows.
#![no_main]

mod common;

use lazarusdb::Db;
use libfuzzer_sys::fuzz_target;

fn verify(db: &Db) {
    let report = db.verify().expect("verify runs");
    assert!(
        report.is_ok(),
        "views differ from the log: {:?}",
        report.differences
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(db) = Db::memory() else { return };
    let mut input = data;
    let _ = db.import_log(&mut input);
    verify(&db);
    if db.last_lsn() == 0 {
        return;
    }

    // Whatever was committed must survive its own export and a re-import.
    let mut exported = Vec::new();
    db.export_log(&mut exported)
        .expect("export of an imported store");
    let again = Db::memory().expect("memory store");
    let mut input = exported.as_slice();
    if let Err(e) = again.import_log(&mut input) {
        panic!(
            "re-import of the store's own export failed: {e}\n{}",
            String::from_utf8_lossy(&exported)
        );
    }
    verify(&again);
    assert_eq!(db.last_lsn(), again.last_lsn());
    let a = db.events(1, None).expect("events");
    let b = again.events(1, None).expect("events");
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            x.encode().expect("encode"),
            y.encode().expect("encode"),
            "event differs after export and re-import:\n{x:?}\n{y:?}"
        );
        assert_eq!(
            db.transaction_record(x.tx).expect("tx"),
            again.transaction_record(y.tx).expect("tx")
        );
    }
    let da = db.dump().expect("dump");
    let dbb = again.dump().expect("dump");
    assert_eq!(da.len(), dbb.len());
    for ((ta, ra), (tb, rb)) in da.iter().zip(&dbb) {
        assert_eq!(ta, tb);
        assert!(
            common::rows_eq(ra, rb),
            "live rows of {ta} differ after re-import"
        );
    }
});
