//! Pins the order of range scans and index ranges for every column type: ints (negatives,
//! `i64::MIN`/`MAX`), floats (negatives, -0.0, infinities), text (empty, unicode, embedded NUL),
//! bytes, bool, uuids, timestamps before and after 1970; a composite (int, text) index in
//! lexicographic order with prefix bounds; `Scan::range` with inclusive and exclusive bounds,
//! `reverse()` and `limit()`; text and uuid primary keys (an omitted uuid key gets a v7 uuid
//! that sorts after the ones before it). Each check runs on memory and on fjall.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::ops::Bound::{self, Excluded, Included, Unbounded};

use lazarusdb::{
    ColumnDef, ColumnType, Db, IndexRange, Readable, Row, Scan, TableBuilder, Timestamp, Value,
};
use uuid::Uuid;

fn stores(f: impl Fn(&Db)) {
    let db = Db::memory().unwrap();
    f(&db);
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("store")).unwrap();
    f(&db);
    db.close().unwrap();
}

/// Values compared exactly (`-0.0` differs from `0.0`, infinities are themselves).
fn exact(vals: &[Value]) -> Vec<String> {
    vals.iter().map(|v| format!("{v:?}")).collect()
}

fn col(rows: &[Row], c: &str) -> Vec<Value> {
    rows.iter().map(|r| r.get(c).cloned().unwrap()).collect()
}

/// A deterministic shuffle: every 7th element modulo the length (lengths here are not
/// multiples of 7).
fn shuffled<T: Clone>(v: &[T]) -> Vec<T> {
    assert!(!v.is_empty() && !v.len().is_multiple_of(7));
    (0..v.len())
        .map(|i| v[(i * 7 + 3) % v.len()].clone())
        .collect()
}

/// Creates `t_<name>` with an index over `v`, inserts `sorted` shuffled, and checks the index
/// returns them in exactly that order, forwards and backwards.
fn index_order(db: &Db, name: &str, ty: ColumnType, sorted: &[Value]) {
    let table = format!("t_{name}");
    db.create_table(
        TableBuilder::new(table.as_str())
            .column(("id", ColumnType::Int))
            .column(("v", ty))
            .primary_key("id")
            .index(["v"]),
    )
    .unwrap();
    db.transaction(|tx| {
        for v in shuffled(sorted) {
            tx.insert(&table, Row::new().with("v", v))?;
        }
        Ok::<_, lazarusdb::Error>(())
    })
    .unwrap();
    let all = IndexRange::between(Unbounded, Unbounded);
    let fwd = col(&db.lookup_range(&table, &["v"], all.clone()).unwrap(), "v");
    assert_eq!(exact(&fwd), exact(sorted), "{name} ascending");
    let back = col(
        &db.lookup_range(&table, &["v"], all.clone().reverse())
            .unwrap(),
        "v",
    );
    let mut rev = sorted.to_vec();
    rev.reverse();
    assert_eq!(exact(&back), exact(&rev), "{name} descending");
    let two = col(
        &db.lookup_range(&table, &["v"], all.reverse().limit(2))
            .unwrap(),
        "v",
    );
    assert_eq!(exact(&two), exact(&rev[..2]), "{name} descending, limit 2");
    // every value is found by equality, and only itself
    for v in sorted {
        let hit = col(
            &db.lookup(&table, &["v"], std::slice::from_ref(v)).unwrap(),
            "v",
        );
        assert_eq!(
            exact(&hit),
            exact(std::slice::from_ref(v)),
            "{name} = {v:?}"
        );
    }
    // a range between the 2nd and the 2nd-to-last value, each way of bounding it
    let n = sorted.len();
    let (lo, hi) = (sorted[1].clone(), sorted[n - 2].clone());
    for (s, e, want) in [
        (
            Included(lo.clone()),
            Included(hi.clone()),
            &sorted[1..n - 1],
        ),
        (
            Excluded(lo.clone()),
            Included(hi.clone()),
            &sorted[2..n - 1],
        ),
        (
            Included(lo.clone()),
            Excluded(hi.clone()),
            &sorted[1..n - 2],
        ),
        (
            Excluded(lo.clone()),
            Excluded(hi.clone()),
            &sorted[2..n - 2],
        ),
        (Unbounded, Excluded(lo.clone()), &sorted[..1]),
        (Excluded(hi.clone()), Unbounded, &sorted[n - 1..]),
    ] {
        let r = IndexRange::between(s.clone().map(|v| vec![v]), e.clone().map(|v| vec![v]));
        let got = col(&db.lookup_range(&table, &["v"], r).unwrap(), "v");
        assert_eq!(exact(&got), exact(want), "{name} {s:?}..{e:?}");
    }
}

#[test]
fn ints_in_index_order() {
    let sorted: Vec<Value> = [
        i64::MIN,
        i64::MIN + 1,
        -1_000_000_000_000,
        -65_536,
        -256,
        -255,
        -1,
        0,
        1,
        255,
        256,
        65_536,
        1 << 40,
        i64::MAX - 1,
        i64::MAX,
    ]
    .map(Value::Int)
    .to_vec();
    stores(|db| {
        index_order(db, "int", ColumnType::Int, &sorted);
        // ranges given with other bounds
        let got = col(
            &db.lookup_range("t_int", &["v"], IndexRange::range(-256..=1))
                .unwrap(),
            "v",
        );
        assert_eq!(got, [-256, -255, -1, 0, 1].map(Value::Int).to_vec());
        let got = col(
            &db.lookup_range("t_int", &["v"], IndexRange::range(i64::MAX - 1..))
                .unwrap(),
            "v",
        );
        assert_eq!(got, [i64::MAX - 1, i64::MAX].map(Value::Int).to_vec());
        let got = col(
            &db.lookup_range("t_int", &["v"], IndexRange::range(..=i64::MIN))
                .unwrap(),
            "v",
        );
        assert_eq!(got, vec![Value::Int(i64::MIN)]);
        // duplicates come in primary-key order
        db.insert("t_int", Row::new().with("id", 100).with("v", 0))
            .unwrap();
        db.insert("t_int", Row::new().with("id", 50).with("v", 0))
            .unwrap();
        let rows = db.lookup("t_int", &["v"], &[0.into()]).unwrap();
        let ids: Vec<Value> = col(&rows, "id");
        assert_eq!(ids.len(), 3);
        assert_eq!(&ids[1..], &[Value::Int(50), Value::Int(100)]);
        assert!(ids[0].as_int().unwrap() < 50);
        assert!(db.verify().unwrap().is_ok());
    });
}

#[test]
fn floats_in_index_order() {
    let sorted: Vec<Value> = [
        f64::NEG_INFINITY,
        f64::MIN,
        -1e300,
        -2.5,
        -1.0,
        -f64::MIN_POSITIVE,
        -5e-324,
        -0.0,
        0.0,
        5e-324,
        f64::MIN_POSITIVE,
        0.5,
        1.0,
        2.0,
        1e300,
        f64::MAX,
        f64::INFINITY,
    ]
    .map(Value::Float)
    .to_vec();
    stores(|db| {
        index_order(db, "float", ColumnType::Float, &sorted);
        // int bounds are coerced to float
        let got = col(
            &db.lookup_range("t_float", &["v"], IndexRange::range(-1..1))
                .unwrap(),
            "v",
        );
        assert_eq!(
            exact(&got),
            exact(
                &[
                    -1.0,
                    -f64::MIN_POSITIVE,
                    -5e-324,
                    -0.0,
                    0.0,
                    5e-324,
                    f64::MIN_POSITIVE,
                    0.5
                ]
                .map(Value::Float)
            )
        );
        // an int value inserted into a float column sorts with the floats
        db.insert("t_float", Row::new().with("id", 1000).with("v", 3))
            .unwrap();
        let top = col(
            &db.lookup_range("t_float", &["v"], IndexRange::range(2.0..1e300))
                .unwrap(),
            "v",
        );
        assert_eq!(exact(&top), exact(&[Value::Float(2.0), Value::Float(3.0)]));
    });
}

#[test]
fn text_in_index_order() {
    let mut words: Vec<String> = [
        "",
        "\0",
        "\0\0",
        "\0a",
        "\u{1}",
        " ",
        "0",
        "9",
        "A",
        "Z",
        "a",
        "a\0",
        "a\0\0",
        "a\0b",
        "a\u{1}",
        "ab",
        "abc",
        "b",
        "z",
        "~",
        "\u{7f}",
        "é",
        "ÿ",
        "Ā",
        "Ω",
        "日本",
        "日本語",
        "\u{FFFD}",
        "😀",
        "\u{10FFFF}",
    ]
    .map(String::from)
    .to_vec();
    // the oracle: UTF-8 byte order (Rust's `str` order)
    let before = words.clone();
    words.sort();
    assert_eq!(words, before, "the list above is written in byte order");
    let sorted: Vec<Value> = words.into_iter().map(Value::Text).collect();
    stores(|db| {
        index_order(db, "text", ColumnType::Text, &sorted);
        let got = col(
            &db.lookup_range("t_text", &["v"], IndexRange::range("a".."b"))
                .unwrap(),
            "v",
        );
        assert_eq!(
            got,
            ["a", "a\0", "a\0\0", "a\0b", "a\u{1}", "ab", "abc"]
                .map(Value::from)
                .to_vec()
        );
        let got = col(
            &db.lookup_range("t_text", &["v"], IndexRange::range(.."\0a"))
                .unwrap(),
            "v",
        );
        assert_eq!(got, ["", "\0", "\0\0"].map(Value::from).to_vec());
    });
}

#[test]
fn bytes_in_index_order() {
    let sorted: Vec<Value> = [
        vec![],
        vec![0],
        vec![0, 0],
        vec![0, 0, 0],
        vec![0, 1],
        vec![0, 255],
        vec![1],
        vec![1, 0],
        vec![1, 255, 255],
        vec![127],
        vec![128],
        vec![254, 255],
        vec![255],
        vec![255, 0],
        vec![255, 255],
        vec![255, 255, 255],
    ]
    .map(Value::Bytes)
    .to_vec();
    let mut check: Vec<Value> = sorted.clone();
    check.sort_by(|a, b| match (a, b) {
        (Value::Bytes(x), Value::Bytes(y)) => x.cmp(y),
        _ => unreachable!(),
    });
    assert_eq!(check, sorted);
    stores(|db| index_order(db, "bytes", ColumnType::Bytes, &sorted));
}

#[test]
fn bools_in_index_order() {
    stores(|db| {
        db.create_table(
            TableBuilder::new("flags")
                .column(("id", ColumnType::Int))
                .column(("on", ColumnType::Bool))
                .primary_key("id")
                .index(["on"]),
        )
        .unwrap();
        for b in [true, false, true, false, false] {
            db.insert("flags", Row::new().with("on", b)).unwrap();
        }
        let rows = db
            .lookup_range("flags", &["on"], IndexRange::between(Unbounded, Unbounded))
            .unwrap();
        assert_eq!(
            col(&rows, "on"),
            [false, false, false, true, true].map(Value::Bool).to_vec()
        );
        assert_eq!(col(&rows, "id"), [2, 4, 5, 1, 3].map(Value::Int).to_vec());
        let rows = db
            .lookup_range("flags", &["on"], IndexRange::range(true..).reverse())
            .unwrap();
        assert_eq!(col(&rows, "id"), [3, 1].map(Value::Int).to_vec());
        assert_eq!(
            db.lookup("flags", &["on"], &[false.into()]).unwrap().len(),
            3
        );
    });
}

#[test]
fn uuids_in_index_order() {
    let mut uuids: Vec<Uuid> = [
        0u128,
        1,
        0xff,
        0x100,
        0x0000_0000_0000_0000_0000_0001_0000_0000,
        0x0191_e2f0_0000_7000_8000_0000_0000_0001,
        0x0191_e2f0_0000_7000_8000_0000_0000_0002,
        0x0191_e2f1_0000_7000_8000_0000_0000_0000,
        0x7fff_ffff_ffff_ffff_ffff_ffff_ffff_ffff,
        0x8000_0000_0000_0000_0000_0000_0000_0000,
        0xfeff_0000_0000_0000_0000_0000_0000_0000,
        u128::MAX,
    ]
    .map(Uuid::from_u128)
    .to_vec();
    uuids.sort();
    let sorted: Vec<Value> = uuids.iter().copied().map(Value::Uuid).collect();
    stores(|db| {
        index_order(db, "uuid", ColumnType::Uuid, &sorted);
        // bounds given as text are coerced
        let got = col(
            &db.lookup_range(
                "t_uuid",
                &["v"],
                IndexRange::range(
                    "0191e2f0-0000-7000-8000-000000000001"..="0191e2f1-0000-7000-8000-000000000000",
                ),
            )
            .unwrap(),
            "v",
        );
        assert_eq!(got, sorted[5..8].to_vec());
    });
}

#[test]
fn timestamps_in_index_order() {
    let texts = [
        "0001-01-01T00:00:00Z",
        "1900-01-01T00:00:00Z",
        "1969-07-20T20:17:40Z",
        "1969-12-31T23:59:59Z",
        "1969-12-31T23:59:59.999999Z",
        "1970-01-01T00:00:00Z",
        "1970-01-01T00:00:00.000001Z",
        "1970-01-01T02:00:00.5+02:00", // = 00:00:00.5Z
        "1970-01-01T00:00:01Z",
        "2000-02-29T12:00:00Z",
        "2038-01-19T03:14:08Z",
        "9999-12-31T23:59:59.999999Z",
    ];
    let sorted: Vec<Value> = texts
        .iter()
        .map(|t| Value::Timestamp(Timestamp::parse_rfc3339(t).unwrap()))
        .collect();
    let micros: Vec<i64> = sorted
        .iter()
        .map(|v| match v {
            Value::Timestamp(t) => t.0,
            _ => unreachable!(),
        })
        .collect();
    assert!(micros.windows(2).all(|w| w[0] < w[1]), "{micros:?}");
    assert_eq!(micros[4], -1);
    assert_eq!(micros[5], 0);
    assert_eq!(micros[7], 500_000);
    stores(|db| {
        index_order(db, "ts", ColumnType::Timestamp, &sorted);
        // values given as RFC 3339 text sort the same
        db.create_table(
            TableBuilder::new("event")
                .column(("id", ColumnType::Int))
                .column(("at", ColumnType::Timestamp))
                .primary_key("id")
                .index(["at"]),
        )
        .unwrap();
        for t in shuffled(&texts) {
            db.insert("event", Row::new().with("at", t)).unwrap();
        }
        let got = col(
            &db.lookup_range(
                "event",
                &["at"],
                IndexRange::range("1969-01-01T00:00:00Z".."1970-01-01T00:00:00.5Z"),
            )
            .unwrap(),
            "at",
        );
        assert_eq!(got, sorted[2..7].to_vec());
    });
}

#[test]
fn a_composite_index_is_lexicographic() {
    let sorted: Vec<(i64, &str)> = vec![
        (i64::MIN, "z"),
        (-1, ""),
        (-1, "zz"),
        (0, ""),
        (0, "\0"),
        (0, "a"),
        (0, "a\0"),
        (0, "ab"),
        (0, "b"),
        (1, ""),
        (1, "a"),
        (2, "0"),
        (5, "m"),
        (10, "x"),
        (i64::MAX, ""),
    ];
    stores(|db| {
        db.create_table(
            TableBuilder::new("pair")
                .column(("id", ColumnType::Int))
                .column(("a", ColumnType::Int))
                .column(("b", ColumnType::Text))
                .primary_key("id")
                .index(["a", "b"]),
        )
        .unwrap();
        db.transaction(|tx| {
            for (a, b) in shuffled(&sorted) {
                tx.insert("pair", Row::new().with("a", a).with("b", b))?;
            }
            Ok::<_, lazarusdb::Error>(())
        })
        .unwrap();
        let pairs = |rows: Vec<Row>| -> Vec<(i64, String)> {
            rows.iter()
                .map(|r| {
                    (
                        r.get("a").and_then(Value::as_int).unwrap(),
                        r.get("b").and_then(Value::as_text).unwrap().to_string(),
                    )
                })
                .collect()
        };
        let want = |s: &[(i64, &str)]| -> Vec<(i64, String)> {
            s.iter().map(|(a, b)| (*a, b.to_string())).collect()
        };
        let cols = ["a", "b"];
        let range = |s: Bound<Vec<Value>>, e: Bound<Vec<Value>>| {
            pairs(
                db.lookup_range("pair", &cols, IndexRange::between(s, e))
                    .unwrap(),
            )
        };
        assert_eq!(range(Unbounded, Unbounded), want(&sorted));
        let mut rev = want(&sorted);
        rev.reverse();
        assert_eq!(
            pairs(
                db.lookup_range(
                    "pair",
                    &cols,
                    IndexRange::between(Unbounded, Unbounded).reverse()
                )
                .unwrap()
            ),
            rev
        );
        // a prefix of the columns selects every entry that starts with it
        assert_eq!(
            pairs(db.lookup("pair", &cols, &[0.into()]).unwrap()),
            want(&sorted[3..9])
        );
        assert_eq!(
            pairs(db.lookup("pair", &cols, &[0.into(), "a".into()]).unwrap()),
            want(&sorted[5..6])
        );
        assert_eq!(
            range(Included(vec![0.into()]), Included(vec![0.into()])),
            want(&sorted[3..9])
        );
        assert_eq!(
            range(Excluded(vec![0.into()]), Unbounded),
            want(&sorted[9..])
        );
        assert_eq!(
            range(Unbounded, Excluded(vec![0.into()])),
            want(&sorted[..3])
        );
        // full bounds, inclusive and exclusive
        assert_eq!(
            range(
                Included(vec![0.into(), "a".into()]),
                Excluded(vec![1.into()])
            ),
            want(&sorted[5..9])
        );
        assert_eq!(
            range(
                Excluded(vec![0.into(), "a".into()]),
                Included(vec![1.into(), "".into()])
            ),
            want(&sorted[6..10])
        );
        // mixed: a full start and a prefix end
        assert_eq!(
            range(
                Included(vec![(-1).into(), "a".into()]),
                Included(vec![0.into()])
            ),
            want(&sorted[2..9])
        );
        // limit and reverse together
        assert_eq!(
            pairs(
                db.lookup_range(
                    "pair",
                    &cols,
                    IndexRange::between(Included(vec![0.into()]), Included(vec![0.into()]))
                        .reverse()
                        .limit(2)
                )
                .unwrap()
            ),
            want(&[(0, "b"), (0, "ab")])
        );
        // more values than the index has columns is an input error
        assert!(matches!(
            db.lookup("pair", &cols, &[0.into(), "a".into(), 1.into()]),
            Err(lazarusdb::Error::InvalidInput(_))
        ));
        // and the single-column lookup needs an index over exactly that column
        assert!(matches!(
            db.lookup("pair", &["b"], &["a".into()]),
            Err(lazarusdb::Error::UnknownIndex { .. })
        ));
    });
}

fn int_ids(rows: &[Row]) -> Vec<i64> {
    rows.iter()
        .map(|r| r.get("id").and_then(Value::as_int).unwrap())
        .collect()
}

#[test]
fn int_primary_key_scans() {
    stores(|db| {
        db.create_table(
            TableBuilder::new("n")
                .column(("id", ColumnType::Int))
                .primary_key("id"),
        )
        .unwrap();
        let keys: Vec<i64> = [
            i64::MIN,
            -300,
            -256,
            -5,
            -2,
            -1,
            0,
            1,
            2,
            3,
            255,
            256,
            i64::MAX - 1,
        ]
        .to_vec();
        db.transaction(|tx| {
            for k in shuffled(&keys) {
                tx.insert("n", Row::new().with("id", k))?;
            }
            Ok::<_, lazarusdb::Error>(())
        })
        .unwrap();
        let scan = |s: Scan| int_ids(&db.scan("n", s).unwrap());
        assert_eq!(scan(Scan::all()), keys);
        let mut rev = keys.clone();
        rev.reverse();
        assert_eq!(scan(Scan::all().reverse()), rev);
        assert_eq!(scan(Scan::range(-2..2)), vec![-2, -1, 0, 1]);
        assert_eq!(scan(Scan::range(-2..=2)), vec![-2, -1, 0, 1, 2]);
        assert_eq!(
            scan(Scan::range((Excluded(-2), Included(2)))),
            vec![-1, 0, 1, 2]
        );
        assert_eq!(
            scan(Scan::range((Excluded(-2), Excluded(2)))),
            vec![-1, 0, 1]
        );
        assert_eq!(scan(Scan::range(..-255)), vec![i64::MIN, -300, -256]);
        assert_eq!(scan(Scan::range(..=-256)), vec![i64::MIN, -300, -256]);
        assert_eq!(scan(Scan::range(255..)), vec![255, 256, i64::MAX - 1]);
        assert_eq!(scan(Scan::range(i64::MIN..=i64::MIN)), vec![i64::MIN]);
        assert_eq!(scan(Scan::range(i64::MAX - 1..)), vec![i64::MAX - 1]);
        assert_eq!(scan(Scan::range::<i64, _>(..)), keys);
        // ranges between existing keys
        assert_eq!(scan(Scan::range(4..255)), Vec::<i64>::new());
        assert_eq!(scan(Scan::range(3..3)), Vec::<i64>::new());
        assert_eq!(scan(Scan::range(-4..=-3)), Vec::<i64>::new());
        // reverse and limit
        assert_eq!(scan(Scan::range(-2..=2).reverse()), vec![2, 1, 0, -1, -2]);
        assert_eq!(scan(Scan::range(-2..=2).reverse().limit(2)), vec![2, 1]);
        assert_eq!(scan(Scan::range(-2..=2).limit(2)), vec![-2, -1]);
        assert_eq!(scan(Scan::all().limit(3)), keys[..3].to_vec());
        assert_eq!(scan(Scan::all().limit(0)), Vec::<i64>::new());
        assert_eq!(scan(Scan::all().limit(1000)), keys);
        assert_eq!(
            scan(Scan::range((Excluded(-256), Unbounded)).reverse().limit(3)),
            vec![i64::MAX - 1, 256, 255]
        );
        // an inverted range is empty
        assert_eq!(
            scan(Scan::range((Included(5), Excluded(1)))),
            Vec::<i64>::new()
        );
        assert_eq!(
            scan(Scan::range((Excluded(1), Excluded(1)))),
            Vec::<i64>::new()
        );
        // the same inside a transaction with staged rows mixed in
        let mut tx = db.begin().unwrap();
        tx.insert("n", Row::new().with("id", -3)).unwrap();
        tx.insert("n", Row::new().with("id", 100)).unwrap();
        assert_eq!(
            int_ids(&tx.scan("n", Scan::range(-4..=3).reverse()).unwrap()),
            vec![3, 2, 1, 0, -1, -2, -3]
        );
        assert_eq!(
            int_ids(&tx.scan("n", Scan::range(3..256)).unwrap()),
            vec![3, 100, 255]
        );
        assert_eq!(
            int_ids(
                &tx.scan("n", Scan::range((Included(5), Excluded(1))))
                    .unwrap()
            ),
            Vec::<i64>::new()
        );
        drop(tx);
        // a bound of the wrong type is refused
        assert!(matches!(
            db.scan("n", Scan::range("a".."b")),
            Err(lazarusdb::Error::WrongType { .. })
        ));
    });
}

#[test]
fn text_primary_key_scans() {
    stores(|db| {
        db.create_table(
            TableBuilder::new("word")
                .column(("w", ColumnType::Text))
                .column(ColumnDef::new("n", ColumnType::Int).nullable())
                .primary_key("w"),
        )
        .unwrap();
        let mut words: Vec<&str> = vec![
            "", "\0", "a", "a\0", "a\0z", "aa", "b", "ba", "m", "m\0", "mz", "n", "Z", "é", "日本",
            "😀",
        ];
        words.sort();
        db.transaction(|tx| {
            for w in shuffled(&words) {
                tx.insert("word", Row::new().with("w", w))?;
            }
            Ok::<_, lazarusdb::Error>(())
        })
        .unwrap();
        let scan = |s: Scan| -> Vec<String> {
            db.scan("word", s)
                .unwrap()
                .iter()
                .map(|r| r.get("w").and_then(Value::as_text).unwrap().to_string())
                .collect()
        };
        assert_eq!(scan(Scan::all()), words);
        assert_eq!(
            scan(Scan::range("a"..="m")),
            vec!["a", "a\0", "a\0z", "aa", "b", "ba", "m"]
        );
        assert_eq!(
            scan(Scan::range("a".."m")),
            vec!["a", "a\0", "a\0z", "aa", "b", "ba"]
        );
        assert_eq!(
            scan(Scan::range::<&str, _>((Excluded("a"), Excluded("b")))),
            vec!["a\0", "a\0z", "aa"]
        );
        assert_eq!(scan(Scan::range(.."a")), vec!["", "\0", "Z"]);
        assert_eq!(scan(Scan::range(.."")), Vec::<String>::new());
        assert_eq!(scan(Scan::range(""..="")), vec![""]);
        assert_eq!(
            scan(Scan::range("n"..).reverse()),
            vec!["😀", "日本", "é", "n"]
        );
        assert_eq!(scan(Scan::range("m"..).limit(2)), vec!["m", "m\0"]);
        for w in &words {
            assert!(db.get("word", *w).unwrap().is_some(), "{w:?}");
        }
        assert!(db.get("word", "a\0\0").unwrap().is_none());
        // keys that share a prefix keep separate histories
        db.update("word", "a", Row::new().with("n", 1)).unwrap();
        assert_eq!(db.history("word", "a").unwrap().len(), 2);
        assert_eq!(db.history("word", "a\0").unwrap().len(), 1);
        assert_eq!(db.history("word", "").unwrap().len(), 1);
        assert!(db.history("word", "a\0\0").unwrap().is_empty());
    });
}

#[test]
fn uuid_primary_keys() {
    stores(|db| {
        db.create_table(
            TableBuilder::new("doc")
                .column(("id", ColumnType::Uuid))
                .column(("seq", ColumnType::Int))
                .primary_key("id"),
        )
        .unwrap();
        // omitted keys: v7 uuids, each sorting after the ones before it
        let mut given = Vec::new();
        for i in 0..40 {
            let r = if i % 10 == 0 {
                db.insert("doc", Row::new().with("seq", i)).unwrap()
            } else {
                db.transaction(|tx| {
                    let r = tx.insert("doc", Row::new().with("seq", i))?;
                    tx.insert("doc", Row::new().with("seq", i + 1000))?;
                    Ok::<_, lazarusdb::Error>(r)
                })
                .unwrap()
            };
            match r.get("id") {
                Some(Value::Uuid(u)) => {
                    assert_eq!(u.get_version_num(), 7, "{u}");
                    given.push(*u);
                }
                other => panic!("no uuid key: {other:?}"),
            }
        }
        let rows = db.scan("doc", Scan::all()).unwrap();
        let mut in_order: Vec<i64> = rows
            .iter()
            .map(|r| r.get("seq").and_then(Value::as_int).unwrap())
            .collect();
        in_order.retain(|s| *s < 1000);
        assert_eq!(in_order, (0..40).collect::<Vec<_>>());
        let mut sorted = given.clone();
        sorted.sort();
        assert_eq!(given, sorted);
        // explicit keys (as text too) sort by their bytes among them
        db.insert("doc", Row::new().with("id", Uuid::nil()).with("seq", -1))
            .unwrap();
        db.insert(
            "doc",
            Row::new()
                .with("id", "ffffffff-ffff-ffff-ffff-ffffffffffff")
                .with("seq", -2),
        )
        .unwrap();
        let all = db.scan("doc", Scan::all()).unwrap();
        assert_eq!(all.first().unwrap().get("seq"), Some(&Value::Int(-1)));
        assert_eq!(all.last().unwrap().get("seq"), Some(&Value::Int(-2)));
        let first = given[0];
        let last = *given.last().unwrap();
        let mid = db.scan("doc", Scan::range(first..=last)).unwrap();
        // the 40 numbered rows and the partners inserted between them (not the last one's)
        assert_eq!(mid.len(), 40 + 35);
        let after = db
            .scan("doc", Scan::range((Excluded(last), Unbounded)))
            .unwrap();
        assert_eq!(all.len(), 40 + 36 + 2);
        assert_eq!(col(&after, "seq"), vec![Value::Int(1039), Value::Int(-2)]);
        assert_eq!(
            db.get("doc", "00000000-0000-0000-0000-000000000000")
                .unwrap()
                .unwrap()
                .get("seq"),
            Some(&Value::Int(-1))
        );
    });
}
